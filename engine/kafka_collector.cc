#include "engine/kafka_collector.h"

#include <librdkafka/rdkafka.h>

namespace sluice::internal {

absl::Status KafkaCollector::Send(const OutRecord& r) {
  absl::Status status = producer_.Produce(
      r.topic, r.partition < 0 ? RD_KAFKA_PARTITION_UA : r.partition, r.key.data(), r.key.size(),
      r.value.data(), r.value.size(), r.timestamp < 0 ? 0 : r.timestamp,
      static_cast<const rd_kafka_headers_t*>(r.headers));
  if (status.ok() && records_out_ != nullptr) {
    records_out_->fetch_add(1, std::memory_order_relaxed);
  }
  return status;
}

absl::StatusOr<int32_t> KafkaCollector::PartitionCount(std::string_view topic) {
  auto it = partition_counts_.find(topic);
  if (it != partition_counts_.end()) return it->second;
  absl::StatusOr<int> count = producer_.PartitionCount(topic, metadata_timeout_);
  if (!count.ok()) return count.status();
  partition_counts_.emplace(std::string(topic), *count);
  return *count;
}

}  // namespace sluice::internal
