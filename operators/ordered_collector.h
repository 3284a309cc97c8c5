// OrderedCollector: restores input order across the sinks of a sub-topology. Sinks of
// different branches see a batch one after the other (see internal/node.h); this
// collector holds what they send during a batch and, at the end of it, forwards it to
// the real collector sorted by the input record each output came from. Used only by
// tasks whose sub-topology has more than one sink. Lives on the task's worker thread.
#pragma once

#include <string>
#include <vector>

#include "sluice/internal/node.h"

namespace sluice::internal {

class OrderedCollector final : public RecordCollector {
 public:
  explicit OrderedCollector(RecordCollector& target) : target_(target) {}

  absl::Status Send(const OutRecord& record) override;
  absl::StatusOr<int32_t> PartitionCount(std::string_view topic) override {
    return target_.PartitionCount(topic);
  }
  int64_t ChangelogEnd(std::string_view topic, int32_t partition) override {
    return target_.ChangelogEnd(topic, partition);
  }

  // Forwards the held records in input order; on error, the rest are dropped with the
  // batch (the task fails and its input is processed again from the last commit).
  absl::Status Flush();
  // Forgets held records (the batch failed).
  void Discard();

 private:
  struct Held {
    size_t topic, key, value;  // offsets into arena_
    uint32_t topic_len, key_len, value_len;
    bool key_null, value_null;
    int32_t partition;
    int64_t timestamp;
    const void* headers;
    uint32_t seq;
  };
  RecordCollector& target_;
  std::string arena_;
  std::vector<Held> held_;
  std::vector<uint32_t> order_;
};

}  // namespace sluice::internal
