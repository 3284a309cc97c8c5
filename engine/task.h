// Task: one sub-topology's processor graph for one partition number, with the position
// (next offset) it has reached in each source partition it reads. A task is created,
// used and destroyed by the one worker thread that owns it (or by the test driver);
// only the atomics in TaskMetrics are read from other threads.
#pragma once

#include <atomic>
#include <filesystem>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/global_stores.h"
#include "engine/task_state.h"
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
  std::atomic<uint64_t> records_late{0};
};

class Task final : public TaskServices {
 public:
  struct Options {
    std::string application_id;
    DeserializationErrorPolicy deserialization_policy = DeserializationErrorPolicy::kFail;
    ProcessingErrorPolicy processing_policy = ProcessingErrorPolicy::kFail;
    std::string dead_letter_topic;  // StreamsConfig::kDeadLetterQueueTopic; empty: none
    // The wall clock when the task starts (punctuation schedules count from it).
    int64_t wall_clock_ms = 0;
    // State: tasks of sub-topologies with stores keep them under `state_dir`/<task id>.
    std::filesystem::path state_dir;
    std::shared_ptr<RocksDbBudget> rocksdb_budget;
    CacheBudget* cache = nullptr;  // the worker's record cache; null: caching off
    GlobalStores* globals = nullptr;  // the App's GlobalKTable stores, if any
    int64_t idle_window_close_ms = -1;  // StreamsConfig::kIdleWindowCloseMs
    TimestampDefaults timestamps;       // StreamsConfig::kDefaultTimestampExtractor
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

  // Commit, in the order the worker calls them: FlushState lets the store caches write
  // down (and the outputs they cause be sent); after the producer is flushed,
  // CommitState writes the store changes with the positions. Errors name the task.
  [[nodiscard]] absl::Status FlushState();
  [[nodiscard]] absl::Status CommitState();
  // Forgets uncommitted state (the task failed and is closed without a commit).
  void DiscardState();
  bool WantsCommit() const {
    return commit_requested_ || (state_ != nullptr && state_->WantsCommit());
  }
  // Runs the wall-clock punctuations due at `now_ms` (and remembers the time).
  [[nodiscard]] absl::Status PunctuateWallClock(int64_t now_ms);
  bool punctuates() const { return graph_->punctuates(); }
  // Null for a stateless task.
  TaskState* state() { return state_.get(); }

  TaskId id() const { return id_; }
  // Next offset to read per source topic (Kafka name) of this task's partition, for the
  // topics it has processed records of.
  const std::map<std::string, int64_t, std::less<>>& positions() const { return positions_; }

  // TaskServices
  RecordCollector& collector() override { return *collector_; }
  DeserializationErrorPolicy deserialization_policy() const override {
    return options_.deserialization_policy;
  }
  ProcessingErrorPolicy processing_policy() const override { return options_.processing_policy; }
  void RecordLate(const BatchContext& context, int64_t offset, int64_t timestamp,
                  std::string_view what) override;
  void RecordSkipped(const BatchContext& context, int64_t offset,
                     const absl::Status& why) override;
  std::string ResolveTopic(std::string_view name, bool internal) const override;
  int32_t partition() const override { return id_.partition; }
  const std::string& application_id() const override { return options_.application_id; }
  int64_t stream_time() const override { return stream_time_; }
  int64_t wall_clock_time() const override { return wall_clock_ms_; }
  int64_t idle_window_close_ms() const override { return options_.idle_window_close_ms; }
  TimestampDefaults timestamp_defaults() const override { return options_.timestamps; }
  int64_t partition_time(uint32_t source_index) const override {
    return source_index < partition_times_.size() ? partition_times_[source_index] : -1;
  }
  void AdvancePartitionTime(uint32_t source_index, int64_t timestamp) override;
  // The partition time of source topic `topic` (Kafka name), -1 if none; the worker
  // commits it in the offset's metadata.
  int64_t TopicPartitionTime(std::string_view topic) const;
  // Before the first record: the partition time committed with `topic`'s offset (Kafka
  // Streams restores it so, and stream time with it).
  void RestorePartitionTime(std::string_view topic, int64_t timestamp);
  // The wall clock as the worker last read it (WallclockTimestampExtractor reads it).
  void SetWallClock(int64_t now_ms) { wall_clock_ms_ = now_ms; }
  void RequestCommit() override { commit_requested_ = true; }
  KeyValueBytesStore* GetStore(std::string_view name) override {
    return state_ != nullptr ? state_->Get(name) : nullptr;
  }
  KeyValueBytesStore* GetGlobalStore(std::string_view name) override {
    return options_.globals != nullptr ? options_.globals->View(name) : nullptr;
  }

 private:
  Task(TaskId id, RecordCollector& collector, Options options, TaskMetrics* metrics);
  void SendToDeadLetterQueue(const BatchContext& context, int64_t offset, const absl::Status& why);

  TaskId id_;
  RecordCollector& target_;
  Options options_;
  TaskMetrics* metrics_;
  std::optional<OrderedCollector> ordered_;
  RecordCollector* collector_;
  std::unique_ptr<TaskState> state_;  // before graph_: nodes hold its stores
  std::unique_ptr<ProcessorGraph> graph_;
  std::map<std::string, uint32_t, std::less<>> source_index_;
  std::vector<int64_t> partition_times_;  // by source index
  int64_t stream_time_ = -1;
  int64_t wall_clock_ms_ = 0;
  bool commit_requested_ = false;
  // Runs `fn` and turns what it throws into a status that names the task and `what`.
  template <class F>
  absl::Status Guard(std::string_view what, F&& fn);
  std::map<std::string, int64_t, std::less<>> positions_;
};

// A partition time in a committed offset's metadata, in Kafka Streams' format (base64 of
// a version byte 1 and the big-endian int64), so that either can resume from the
// other's commits. Decode: nullopt for empty or foreign metadata.
std::string EncodeOffsetMetadata(int64_t partition_time);
std::optional<int64_t> DecodeOffsetMetadata(std::string_view metadata);

}  // namespace sluice::internal
