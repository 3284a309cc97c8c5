// KafkaCollector: sends the records of one worker's tasks through that worker's own
// producer. The opaque headers of a record are the source rd_kafka_message_t, whose
// headers are parsed only here, for records that reach a sink. One per worker thread, used only on it. Under exactly-once (later) the
// producer becomes transactional; the commit barrier is the same Flush().
#pragma once

#include <chrono>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "sluice/internal/node.h"
#include "sluice/internal/str.h"
#include "src/kafka/producer.h"

namespace sluice::internal {

class KafkaCollector final : public RecordCollector {
 public:
  KafkaCollector(Producer& producer, std::chrono::milliseconds metadata_timeout)
      : producer_(producer), metadata_timeout_(metadata_timeout) {}

  absl::Status Send(const OutRecord& record) override;
  absl::StatusOr<int32_t> PartitionCount(std::string_view topic) override;
  int64_t ChangelogEnd(std::string_view topic, int32_t partition) override;

  // Records sent since the last call; the thread adds them to shared counters per batch.
  uint64_t TakeSentCount() { return std::exchange(sent_, 0); }

 private:
  Producer& producer_;
  std::chrono::milliseconds metadata_timeout_;
  uint64_t sent_ = 0;
  HeadersPtr position_headers_;
  absl::flat_hash_map<std::string, int32_t, StringHash, StringEq> partition_counts_;
};

}  // namespace sluice::internal
