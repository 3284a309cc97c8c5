#include "engine/task.h"

#include <algorithm>
#include <exception>

#include "absl/strings/escaping.h"
#include "src/log.h"

namespace sluice::internal {

Task::Task(TaskId id, RecordCollector& collector, Options options, TaskMetrics* metrics)
    : id_(id), target_(collector), options_(std::move(options)), metrics_(metrics),
      collector_(&collector), wall_clock_ms_(options_.wall_clock_ms) {}

absl::StatusOr<std::unique_ptr<Task>> Task::Create(TaskId id, const CompiledTopology& topology,
                                                   RecordCollector& collector,
                                                   const Options& options, TaskMetrics* metrics) {
  if (id.subtopology < 0 || id.subtopology >= static_cast<int>(topology.subtopologies.size())) {
    return absl::InvalidArgumentError(Cat("task ", id.ToString(), ": no sub-topology ", id.subtopology));
  }
  std::unique_ptr<Task> task(new Task(id, collector, options, metrics));
  if (topology.subtopologies[id.subtopology].sink_count > 1) {
    task->ordered_.emplace(collector);
    task->collector_ = &*task->ordered_;
  }
  const Subtopology& sub = topology.subtopologies[id.subtopology];
  for (size_t i = 0; i < sub.source_topics.size(); ++i) {
    task->source_index_[task->ResolveTopic(sub.source_topics[i], sub.source_internal[i])] =
        static_cast<uint32_t>(i);
  }
  task->partition_times_.assign(sub.source_topics.size(), -1);
  if (!sub.stores.empty()) {
    std::vector<StoreSpec> specs;
    for (const std::string& name : sub.stores) specs.push_back(*topology.FindStore(name));
    TaskState::Options state;
    state.dir = options.state_dir / id.ToString();
    state.budget = options.rocksdb_budget;
    state.cache = options.cache;
    state.collector = task->collector_;
    state.application_id = options.application_id;
    state.partition = id.partition;
    state.task = id.ToString();
    absl::StatusOr<std::unique_ptr<TaskState>> opened = TaskState::Open(std::move(specs), state);
    if (!opened.ok()) return opened.status();
    task->state_ = std::move(*opened);
  }
  absl::StatusOr<std::unique_ptr<ProcessorGraph>> graph =
      ProcessorGraph::Create(topology, id.subtopology, *task);
  if (!graph.ok()) return graph.status();
  task->graph_ = std::move(*graph);
  return task;
}

template <class F>
absl::Status Task::Guard(std::string_view what, F&& fn) {
  absl::Status status;
  try {
    fn();
    if (ordered_) status = ordered_->Flush();
  } catch (const TaskFailure& failure) {
    status = failure.status();
  } catch (const std::exception& e) {
    status = absl::InternalError(Cat("exception from user code: ", e.what()));
  } catch (...) {
    status = absl::InternalError("exception of unknown type from user code");
  }
  if (status.ok()) return status;
  if (ordered_) ordered_->Discard();
  return absl::Status(status.code(), Cat("task ", id_.ToString(), " failed ", what, ": ",
                                         status.message()));
}

absl::Status Task::Process(std::string_view topic, int32_t partition,
                           std::span<const RawRecord> records) {
  // Records before the position were processed already: they are stale copies queued
  // before a rebalance or a seek.
  auto position = positions_.find(topic);
  if (position != positions_.end()) {
    while (!records.empty() && records.front().offset >= 0 &&
           records.front().offset < position->second) {
      records = records.subspan(1);
    }
  }
  if (records.empty()) return absl::OkStatus();
  BatchContext context;
  context.topic = topic;
  context.partition = partition;
  context.task_partition = id_.partition;
  context.raw = records;
  if (auto it = source_index_.find(topic); it != source_index_.end()) context.source_index = it->second;
  const std::string where = Cat("at topic '", topic, "' partition ", partition, " offsets ",
                                records.front().offset, "..", records.back().offset);
  absl::Status status = Guard(where, [&] { graph_->Process(records, context); });
  if (status.ok() && graph_->punctuates()) {
    status = Guard("in a stream-time punctuation", [&] { graph_->Punctuate(true, stream_time_); });
  }
  if (!status.ok()) return status;
  if (position == positions_.end()) position = positions_.emplace(std::string(topic), 0).first;
  position->second = records.back().offset + 1;
  if (metrics_ != nullptr) {
    metrics_->records_in.fetch_add(records.size(), std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

absl::Status Task::PunctuateWallClock(int64_t now_ms) {
  wall_clock_ms_ = now_ms;
  if (!graph_->punctuates()) return absl::OkStatus();
  return Guard("in a wall-clock punctuation", [&] { graph_->Punctuate(false, now_ms); });
}

absl::Status Task::FlushState() {
  if (state_ == nullptr) return absl::OkStatus();
  return Guard("flushing its stores", [&] {
    graph_->FlushCaches();
    if (absl::Status s = state_->FlushCaches(); !s.ok()) throw TaskFailure(std::move(s));
  });
}

absl::Status Task::CommitState() {
  commit_requested_ = false;
  if (state_ == nullptr) return absl::OkStatus();
  return state_->Commit(positions_);
}

void Task::DiscardState() {
  if (state_ != nullptr) state_->Discard();
}

void Task::AdvancePartitionTime(uint32_t source_index, int64_t timestamp) {
  if (source_index >= partition_times_.size()) return;
  partition_times_[source_index] = std::max(partition_times_[source_index], timestamp);
  stream_time_ = std::max(stream_time_, timestamp);
}

int64_t Task::TopicPartitionTime(std::string_view topic) const {
  auto it = source_index_.find(topic);
  return it != source_index_.end() ? partition_time(it->second) : -1;
}

void Task::RestorePartitionTime(std::string_view topic, int64_t timestamp) {
  if (auto it = source_index_.find(topic); it != source_index_.end() && timestamp >= 0) {
    AdvancePartitionTime(it->second, timestamp);
  }
}

void Task::RecordLate(const BatchContext& context, int64_t offset, int64_t timestamp,
                      std::string_view what) {
  uint64_t n = 1;
  if (metrics_ != nullptr) n = metrics_->records_late.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n <= 5 || n % 1000 == 0) {
    Log(LogLevel::kInfo, "task ", id_.ToString(), ": dropped a late record (", n,
        " so far) at topic '", context.topic, "' partition ", context.partition, " offset ",
        offset, ", timestamp ", timestamp, ": ", what,
        n == 5 ? " (further late records are logged once per 1000)" : "");
  }
}

void Task::RecordSkipped(const BatchContext& context, int64_t offset, const absl::Status& why) {
  // The first few skips of the App are logged in full; after that one line per 1000, so
  // a topic full of bad records does not drown the log.
  uint64_t n = 1;
  if (metrics_ != nullptr) n = metrics_->records_skipped.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n <= 5 || n % 1000 == 0) {
    Log(LogLevel::kWarn, "task ", id_.ToString(), ": skipped record (", n, " so far): ",
        why.message(),
        n == 5 ? " (further skips are logged once per 1000)" : "");
  }
  if (!options_.dead_letter_topic.empty()) SendToDeadLetterQueue(context, offset, why);
}

void Task::SendToDeadLetterQueue(const BatchContext& context, int64_t offset,
                                 const absl::Status& why) {
  auto raw = std::lower_bound(context.raw.begin(), context.raw.end(), offset,
                              [](const RawRecord& r, int64_t o) { return r.offset < o; });
  const std::string partition = std::to_string(context.partition);
  const std::string offset_text = std::to_string(offset);
  const std::string_view error(why.message().data(), why.message().size());
  const std::pair<std::string_view, std::string_view> headers[] = {
      {"sluice.error", error},
      {"sluice.source.topic", context.topic},
      {"sluice.source.partition", partition},
      {"sluice.source.offset", offset_text}};
  OutRecord out;
  out.topic = options_.dead_letter_topic;
  out.timestamp = wall_clock_ms_;
  out.extra_headers = headers;
  if (raw != context.raw.end() && raw->offset == offset) {
    out.key = raw->key;
    out.value = raw->value;
    if (raw->timestamp >= 0) out.timestamp = raw->timestamp;
    out.headers = raw->headers;
  } else {
    // Only what a cache flush or a punctuation emitted lacks its source bytes.
    Log(LogLevel::kWarn, "task ", id_.ToString(), ": the record at topic '", context.topic,
        "' partition ", context.partition, " offset ", offset,
        " goes to the dead-letter queue without its key and value (its source bytes are gone)");
  }
  if (absl::Status s = target_.Send(out); !s.ok()) {
    throw TaskFailure(absl::Status(
        s.code(), Cat("sending the skipped record at topic '", context.topic, "' partition ",
                      context.partition, " offset ", offset, " to the dead-letter queue '",
                      options_.dead_letter_topic, "': ", s.message())));
  }
}

std::string Task::ResolveTopic(std::string_view name, bool internal) const {
  return internal ? Cat(options_.application_id, "-", name) : std::string(name);
}

namespace {
constexpr uint8_t kOffsetMetadataVersion = 1;  // Kafka Streams' StreamTask: 1, or 2 with more after
}  // namespace

std::string EncodeOffsetMetadata(int64_t partition_time) {
  std::string bytes(9, '\0');
  bytes[0] = static_cast<char>(kOffsetMetadataVersion);
  const auto t = static_cast<uint64_t>(partition_time);
  for (int i = 0; i < 8; ++i) bytes[1 + i] = static_cast<char>(t >> (56 - 8 * i));
  return absl::Base64Escape(bytes);
}

std::optional<int64_t> DecodeOffsetMetadata(std::string_view metadata) {
  std::string bytes;
  if (!absl::Base64Unescape(absl::string_view(metadata.data(), metadata.size()), &bytes) ||
      bytes.size() < 9) {
    return std::nullopt;
  }
  // Version 2 appends processor metadata after the same 9 bytes.
  if (bytes[0] != 1 && bytes[0] != 2) return std::nullopt;
  uint64_t t = 0;
  for (int i = 0; i < 8; ++i) t = (t << 8) | static_cast<uint8_t>(bytes[1 + i]);
  return static_cast<int64_t>(t);
}

}  // namespace sluice::internal
