#include "engine/kafka_collector.h"

#include <librdkafka/rdkafka.h>

namespace sluice::internal {

absl::Status KafkaCollector::Send(const OutRecord& r) {
  rd_kafka_headers_t* headers = nullptr;
  if (!r.positions.empty()) {
    // Reused: Produce copies the headers it is given.
    if (position_headers_ == nullptr) position_headers_.reset(rd_kafka_headers_new(1));
    rd_kafka_header_remove(position_headers_.get(), kPositionHeader.data());
    rd_kafka_header_add(position_headers_.get(), kPositionHeader.data(),
                        static_cast<ssize_t>(kPositionHeader.size()), r.positions.data(),
                        static_cast<ssize_t>(r.positions.size()));
    headers = position_headers_.get();
  } else if (r.headers != nullptr) {
    auto* source = const_cast<rd_kafka_message_t*>(static_cast<const rd_kafka_message_t*>(r.headers));
    if (rd_kafka_message_headers(source, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) headers = nullptr;
  }
  HeadersPtr extended;
  if (!r.extra_headers.empty()) {
    extended.reset(headers != nullptr ? rd_kafka_headers_copy(headers)
                                      : rd_kafka_headers_new(r.extra_headers.size()));
    for (const auto& [name, value] : r.extra_headers) {
      rd_kafka_header_add(extended.get(), name.data(), static_cast<ssize_t>(name.size()),
                          value.data(), static_cast<ssize_t>(value.size()));
    }
    headers = extended.get();
  }
  absl::Status status = producer_.Produce(
      r.topic, r.partition < 0 ? RD_KAFKA_PARTITION_UA : r.partition, r.key.data(), r.key.size(),
      r.value.data(), r.value.size(), r.timestamp < 0 ? 0 : r.timestamp, headers, r.changelog);
  if (status.ok()) ++sent_;
  return status;
}

int64_t KafkaCollector::ChangelogEnd(std::string_view topic, int32_t partition) {
  return producer_.TrackedEnd(topic, partition);
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
