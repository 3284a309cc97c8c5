// The processor-node runtime that typed operators are written over.
//
// Inside a task, records move between operators as typed batches: a batch is a span of
// pointers to `Record<K, V>`, handed from a node to its children with one virtual call
// per batch. Operators that change the record type write into a buffer they own and
// reuse from batch to batch, so a chain of stateless operators neither serializes nor
// allocates per record where the types allow it.
//
// Ordering. Every record carries `seq`, the index of the input record it came from in
// the source batch. Kafka Streams processes records depth first, one at a time; a batch
// pipeline visits branches one after the other instead. The two orders differ only
// where branches meet again, so the meeting points restore input order: a merge node
// buffers what its parents send and emits it sorted by `seq` when the task flushes, and
// a task whose sub-topology has several sinks sorts its outputs by `seq` before they
// are produced.
//
// Everything here lives on the worker thread that owns the task.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sluice/internal/state_store.h"
#include "sluice/timestamp.h"

namespace sluice::internal {

// A record as it arrives from Kafka (or the test driver): bytes, with data() == nullptr
// for a Kafka null.
struct RawRecord {
  std::string_view key;
  std::string_view value;
  int64_t timestamp = 0;
  int64_t offset = -1;
  const void* headers = nullptr;
};

// Where a batch came from: one partition of one source topic. Lives for the batch.
struct BatchContext {
  std::string_view topic;
  int32_t partition = -1;
  int32_t task_partition = -1;  // the partition number of the task processing it
  uint32_t source_index = 0;    // the topic's index among the task's source topics
  // The source records, for a skipped record's dead-letter copy; empty for what a cache
  // flush or a punctuation emits.
  std::span<const RawRecord> raw;
};

template <class K, class V>
struct Record {
  K key{};
  V value{};
  int64_t timestamp = 0;
  int64_t offset = -1;      // offset of the source record it came from
  uint32_t seq = 0;         // index of that source record within its batch
  const void* headers = nullptr;  // opaque, owned by the source batch; see RecordCollector
};

// A typed batch: pointers into buffers owned by upstream nodes, valid until the task
// finishes the source batch. `movable`: the receiver is the only reader of these records
// and may move from them or rewrite them in place.
template <class K, class V>
struct Batch {
  std::span<Record<K, V>* const> records;
  bool movable = false;
  const BatchContext* context = nullptr;

  size_t size() const { return records.size(); }
  bool empty() const { return records.empty(); }
};

// A node instance of one task. Created by the node's factory on the owning worker.
class NodeInstance {
 public:
  virtual ~NodeInstance() = default;
  // Wires `child` as a downstream node. Returns an error if its input type does not
  // match this node's output type (a bug in the topology compiler, never user error).
  virtual absl::Status AddChild(NodeInstance* child) = 0;
  // Emits whatever the node buffered during the current source batch (merge nodes).
  virtual void Flush() {}
  // Forgets what the node buffered: the batch failed.
  virtual void Reset() {}
  // At commit: lets the node's store caches write down and forwards what they emit.
  virtual void FlushCache() {}
  // Once the whole graph is wired, before the first record.
  virtual void Init() {}
  // Stream time (or the wall clock) reached `time`: run what is due (Processor API).
  virtual void Punctuate(bool stream_time, int64_t time) {}
  // For a node of a table's changes: false if neither it nor any node after it reads a
  // change's old value. Nodes that do not say read them.
  virtual bool ReadsOldValues() const { return true; }
};

// A node that consumes typed batches of (K, V).
template <class K, class V>
class Input : public NodeInstance {
 public:
  virtual void Process(const Batch<K, V>& batch) = 0;
};

// The downstream side of a node that emits (K, V): its children and the rule of who may
// move from the records.
template <class K, class V>
class Output {
 public:
  absl::Status Wire(NodeInstance* child) {
    auto* typed = dynamic_cast<Input<K, V>*>(child);
    if (typed == nullptr) {
      return absl::InternalError(std::string("topology wiring: child does not accept ") +
                                 typeid(Record<K, V>).name());
    }
    children_.push_back(typed);
    return absl::OkStatus();
  }

  // Hands `records` to every child. Only a sole child may move from them: with several
  // children, each reads the same records.
  void Emit(std::span<Record<K, V>* const> records, bool movable,
            const BatchContext* context) const {
    if (records.empty()) return;
    const bool sole = children_.size() == 1;
    Batch<K, V> batch{records, movable && sole, context};
    for (Input<K, V>* child : children_) child->Process(batch);
  }

  bool has_children() const { return !children_.empty(); }
  bool ReadsOldValues() const {
    return std::any_of(children_.begin(), children_.end(),
                       [](const Input<K, V>* child) { return child->ReadsOldValues(); });
  }

 private:
  std::vector<Input<K, V>*> children_;
};

// A record buffer a node owns and refills every batch; keeps its capacity (and the
// capacity of strings inside the records) between batches.
template <class K, class V>
class RecordBuffer {
 public:
  // Returns a slot for the next record; previous contents are overwritten by the caller.
  Record<K, V>& Next() {
    if (size_ == records_.size()) {
      records_.emplace_back();
      pointers_valid_ = false;
    }
    return records_[size_++];
  }
  // Gives back the slot Next() returned last (a record that was skipped).
  void Unwind() { --size_; }
  // Gives back the slots filled after size() was `size`.
  void Truncate(size_t size) { size_ = std::min(size_, size); }
  void Clear() { size_ = 0; }
  size_t size() const { return size_; }

  // Pointers to the records filled since the last Clear.
  std::span<Record<K, V>* const> View() {
    if (!pointers_valid_) {
      pointers_.resize(records_.size());
      for (size_t i = 0; i < records_.size(); ++i) pointers_[i] = &records_[i];
      pointers_valid_ = true;
    }
    return {pointers_.data(), size_};
  }

 private:
  std::vector<Record<K, V>> records_;
  std::vector<Record<K, V>*> pointers_;
  size_t size_ = 0;
  bool pointers_valid_ = true;
};

}  // namespace sluice::internal

namespace sluice::internal {

// A failure that ends the processing of a task: a record that does not deserialize under
// the `fail` policy, a record that cannot be produced. The task catches it, names the
// task and source position, and hands it to the thread's exception handler.
class TaskFailure : public std::exception {
 public:
  explicit TaskFailure(absl::Status status) : status_(std::move(status)) {}
  const absl::Status& status() const { return status_; }
  const char* what() const noexcept override { return status_.message().data(); }

 private:
  absl::Status status_;
};


// A serialized record on its way out. `partition` < 0: let the producer choose (records
// with a null key); `headers` are the opaque headers of the source record, understood by
// the collector of the same environment that produced them.
struct OutRecord {
  std::string_view topic;
  int32_t partition = -1;
  std::string_view key;
  std::string_view value;
  int64_t timestamp = 0;
  const void* headers = nullptr;
  uint32_t seq = 0;
  // A changelog record: `positions` goes into the `sluice.pos` header, and the
  // collector remembers the offset it was acknowledged at (see ChangelogEnd).
  bool changelog = false;
  std::string_view positions;
  // Headers added after the source record's (a dead-letter record's error headers).
  std::span<const std::pair<std::string_view, std::string_view>> extra_headers;
};

// Where sinks send records: a Kafka producer in the engine, in-memory topics in the test
// driver. Lives on the task's worker thread.
class RecordCollector {
 public:
  virtual ~RecordCollector() = default;
  // Queues the record for sending; the bytes are copied before it returns.
  virtual absl::Status Send(const OutRecord& record) = 0;
  // Number of partitions of `topic`, needed to partition by key.
  virtual absl::StatusOr<int32_t> PartitionCount(std::string_view topic) = 0;
  // One past the offset of the last changelog record of `topic` [`partition`] that was
  // acknowledged, or -1 if none was since this collector was created.
  virtual int64_t ChangelogEnd(std::string_view topic, int32_t partition) = 0;
};

// The header that carries a changelog record's positions.
inline constexpr std::string_view kPositionHeader = "sluice.pos";

enum class DeserializationErrorPolicy { kFail, kContinue };
enum class ProcessingErrorPolicy { kFail, kContinue };

// What a node instance may ask of the task that hosts it.
class TaskServices {
 public:
  virtual ~TaskServices() = default;
  virtual RecordCollector& collector() = 0;
  virtual DeserializationErrorPolicy deserialization_policy() const = 0;
  // processing.exception.handler: what an exception from a user Processor does.
  virtual ProcessingErrorPolicy processing_policy() const { return ProcessingErrorPolicy::kFail; }
  // Counts and logs a skipped record (a deserialization failure under `continue`, an
  // invalid timestamp under kSkip, a processor's exception under `continue`), and sends
  // the source record at `offset` to the dead-letter queue if one is set; `why` says
  // which.
  virtual void RecordSkipped(const BatchContext& context, int64_t offset,
                             const absl::Status& why) = 0;
  // Counts a record dropped for arriving after its window closed (grace passed); `what`
  // names the operator, for the log.
  virtual void RecordLate(const BatchContext& context, int64_t offset, int64_t timestamp,
                          std::string_view what) = 0;
  // The Kafka topic name for a topology topic name: internal topics get the
  // application id as a prefix.
  virtual std::string ResolveTopic(std::string_view name, bool internal) const = 0;
  // The partition number of the task, and the application's id.
  virtual int32_t partition() const = 0;
  virtual const std::string& application_id() const = 0;
  // Stream time: the largest (extracted, valid) timestamp the task's sources have
  // stamped (-1 before the first); and the wall clock as the task last saw it (ms), set
  // before each run of records.
  virtual int64_t stream_time() const = 0;
  virtual int64_t wall_clock_time() const = 0;
  // Asks the worker to commit once the current batch is done.
  virtual void RequestCommit() = 0;
  // The outermost layer of this task's store `name`, or nullptr if it has none.
  virtual KeyValueBytesStore* GetStore(std::string_view name) = 0;
  // The GlobalKTable store `name` (read-only, committed state), or nullptr.
  virtual KeyValueBytesStore* GetGlobalStore(std::string_view name) { return nullptr; }
  // `idle.window.close.ms`: after this long without input (wall clock), windowed
  // aggregations and suppressions let their stream time follow the wall clock; -1: never.
  virtual int64_t idle_window_close_ms() const { return -1; }
  // default.timestamp.extractor: the sources' default timestamps and policy.
  virtual TimestampDefaults timestamp_defaults() const { return {}; }
  // Partition time: the largest valid timestamp stamped on the task's source partition
  // `source_index` (BatchContext::source_index); -1 before the first, unless the task
  // took it from its committed offset. A source reads it once per batch and reports the
  // batch's largest timestamp once, after stamping; stream time follows.
  virtual int64_t partition_time(uint32_t source_index) const { return -1; }
  virtual void AdvancePartitionTime(uint32_t source_index, int64_t timestamp) {}
};

// A node that reads raw records of one or more source topics.
class SourceInput : public NodeInstance {
 public:
  virtual void ProcessRaw(std::span<const RawRecord> records, const BatchContext& context) = 0;
};

}  // namespace sluice::internal
