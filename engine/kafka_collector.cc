#include "engine/kafka_collector.h"

#include <librdkafka/rdkafka.h>

namespace sluice::internal {

absl::Status KafkaCollector::Send(const OutRecord& r) {
  rd_kafka_headers_t* headers = nullptr;
  if (r.headers != nullptr) {
    auto* source = const_cast<rd_kafka_message_t*>(static_cast<const rd_kafka_message_t*>(r.headers));
    if (rd_kafka_message_headers(source, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) headers = nullptr;
  }
  absl::Status status = producer_.Produce(
      r.topic, r.partition < 0 ? RD_KAFKA_PARTITION_UA : r.partition, r.key.data(), r.key.size(),
      r.value.data(), r.value.size(), r.timestamp < 0 ? 0 : r.timestamp, headers);
  if (status.ok()) ++sent_;
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
