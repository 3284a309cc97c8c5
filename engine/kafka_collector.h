// KafkaCollector: sends the records of one worker's tasks through that worker's own
// producer. One per worker thread, used only on it. Under exactly-once (later) the
// producer becomes transactional; the commit barrier is the same Flush().
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "sluice/internal/node.h"
#include "sluice/internal/str.h"
#include "src/kafka/producer.h"

namespace sluice::internal {

class KafkaCollector final : public RecordCollector {
 public:
  KafkaCollector(Producer& producer, std::chrono::milliseconds metadata_timeout,
                 std::atomic<uint64_t>* records_out)
      : producer_(producer), metadata_timeout_(metadata_timeout), records_out_(records_out) {}

  absl::Status Send(const OutRecord& record) override;
  absl::StatusOr<int32_t> PartitionCount(std::string_view topic) override;

 private:
  Producer& producer_;
  std::chrono::milliseconds metadata_timeout_;
  std::atomic<uint64_t>* records_out_;
  absl::flat_hash_map<std::string, int32_t, StringHash, StringEq> partition_counts_;
};

}  // namespace sluice::internal
