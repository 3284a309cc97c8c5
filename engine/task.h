// Task: one sub-topology's processor graph for one partition number, with the position
// (next offset) it has reached in each source partition it reads. A task is created,
// used and destroyed by the one worker thread that owns it (or by the test driver);
// only the atomics in TaskMetrics are read from other threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "operators/ordered_collector.h"
#include "operators/processor_graph.h"
#include "sluice/internal/str.h"
#include "sluice/topology.h"

namespace sluice::internal {

struct TaskId {
  int subtopology = 0;
  int32_t partition = 0;
  auto operator<=>(const TaskId&) const = default;
  std::string ToString() const { return Cat(subtopology, "_", partition); }
};

// Counters a task updates once per batch; readable from any thread.
struct TaskMetrics {
  std::atomic<uint64_t> records_in{0};
  std::atomic<uint64_t> records_skipped{0};
};

class Task final : public TaskServices {
 public:
  struct Options {
    std::string application_id;
    DeserializationErrorPolicy deserialization_policy = DeserializationErrorPolicy::kFail;
  };

  static absl::StatusOr<std::unique_ptr<Task>> Create(TaskId id,
                                                      const CompiledTopology& topology,
                                                      RecordCollector& collector,
                                                      const Options& options,
                                                      TaskMetrics* metrics);

  // Processes a batch of records of one source partition, in offset order. On failure
  // (a record that does not deserialize under `fail`, an exception from user code, a
  // record that cannot be sent) returns an error naming the task, topic, partition and
  // offsets; what the batch sent before the failure may have been sent.
  [[nodiscard]] absl::Status Process(std::string_view topic, int32_t partition,
                                     std::span<const RawRecord> records);

  TaskId id() const { return id_; }
  // Next offset to read per source topic (Kafka name) of this task's partition, for the
  // topics it has processed records of.
  const std::map<std::string, int64_t, std::less<>>& positions() const { return positions_; }

  // TaskServices
  RecordCollector& collector() override { return *collector_; }
  DeserializationErrorPolicy deserialization_policy() const override {
    return options_.deserialization_policy;
  }
  void RecordSkipped(const BatchContext& context, int64_t offset,
                     const absl::Status& why) override;
  std::string ResolveTopic(std::string_view name, bool internal) const override;

 private:
  Task(TaskId id, RecordCollector& collector, Options options, TaskMetrics* metrics);

  TaskId id_;
  RecordCollector& target_;
  Options options_;
  TaskMetrics* metrics_;
  std::optional<OrderedCollector> ordered_;
  RecordCollector* collector_;
  std::unique_ptr<ProcessorGraph> graph_;
  std::map<std::string, int64_t, std::less<>> positions_;
};

}  // namespace sluice::internal
