// TopologyTestDriver: in-memory topics and the engine's own Task, on the caller's thread.
#include <stdlib.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>

#include "engine/global_stores.h"
#include "engine/task.h"
#include "sluice/config.h"
#include "sluice/testing.h"
#include "src/partitioner.h"

namespace sluice {

using internal::Cat;
using internal::RawRecord;
using internal::Task;
using internal::TaskId;

class TopologyTestDriver::Impl final : public internal::RecordCollector {
 public:
  Impl(Topology topology, Options options, StreamsConfig config, std::string state_dir)
      : topology_(std::move(topology)), options_(std::move(options)), config_(std::move(config)),
        state_dir_(std::move(state_dir)) {
    cache_.max_bytes = static_cast<size_t>(config_.cache_max_bytes_buffering());
    const auto& compiled = topology_.compiled();
    for (const internal::StoreSpec& store : compiled.stores) {
      if (store.persistent) {
        budget_ = internal::RocksDbBudget::Get(static_cast<size_t>(config_.rocksdb_memory_budget()));
      }
    }
    for (const auto& s : compiled.subtopologies) {
      for (size_t i = 0; i < s.source_topics.size(); ++i) {
        readers_[Resolve(s.source_topics[i], s.source_internal[i])] = s.id;
      }
    }
    if (!compiled.global_stores.empty()) {
      budget_ = internal::RocksDbBudget::Get(static_cast<size_t>(config_.rocksdb_memory_budget()));
      absl::StatusOr<std::unique_ptr<internal::GlobalStores>> globals = internal::GlobalStores::Open(
          compiled.global_stores, std::filesystem::path(state_dir_) / "global", budget_);
      if (globals.ok()) {
        globals_ = std::shared_ptr<internal::GlobalStores>(std::move(*globals));
      } else {
        open_error_ = globals.status();
      }
    }
  }
  const absl::Status& open_error() const { return open_error_; }

  absl::Status Pipe(const std::string& topic, TestRawRecord record,
                    std::optional<int32_t> partition) {
    absl::StatusOr<int32_t> p = Append(topic, std::move(record), partition);
    if (!p.ok()) return p.status();
    return Drain();
  }

  absl::Status PipeBatch(const std::string& topic, std::vector<TestRawRecord> records) {
    for (TestRawRecord& r : records) {
      absl::StatusOr<int32_t> p = Append(topic, std::move(r), std::nullopt);
      if (!p.ok()) return p.status();
    }
    return Drain();
  }

  std::vector<TestRawRecord> Read(const std::string& topic, size_t max) {
    std::vector<TestRawRecord> out;
    auto it = topics_.find(topic);
    if (it == topics_.end()) return out;
    TopicState& t = it->second;
    while (!t.unread.empty() && out.size() < max) {
      auto [p, index] = t.unread.front();
      t.unread.pop_front();
      out.push_back(t.partitions[p].log[index]);
    }
    return out;
  }

  size_t QueueSize(const std::string& topic) const {
    auto it = topics_.find(topic);
    return it == topics_.end() ? 0 : it->second.unread.size();
  }

  int32_t Partitions(const std::string& topic) const {
    auto it = options_.partitions.find(topic);
    if (it != options_.partitions.end()) return it->second;
    for (const auto& internal_topic : topology_.compiled().internal_topics) {
      if (Resolve(internal_topic.name, true) != topic) continue;
      it = options_.partitions.find(internal_topic.name);
      if (it != options_.partitions.end()) return it->second;
      if (internal_topic.partitions) return *internal_topic.partitions;
      if (!internal_topic.copartition_sources.empty()) {
        int32_t max = 1;
        for (const std::string& source : internal_topic.copartition_sources) {
          max = std::max(max, Partitions(source));
        }
        return max;
      }
      // The largest count among the sources of the sub-topology that writes it.
      const auto& sub = topology_.compiled().subtopologies[internal_topic.source_subtopology];
      int32_t max = 1;
      for (size_t i = 0; i < sub.source_topics.size(); ++i) {
        max = std::max(max, Partitions(Resolve(sub.source_topics[i], sub.source_internal[i])));
      }
      return max;
    }
    return options_.default_partitions;
  }

  ~Impl() {
    tasks_.clear();  // close the stores before their files go
    globals_.reset();
    std::error_code ec;
    std::filesystem::remove_all(state_dir_, ec);
  }

  uint64_t skipped() const { return metrics_.records_skipped.load(); }
  uint64_t late() const { return metrics_.records_late.load(); }
  int64_t wall_clock_ms() const { return wall_clock_ms_; }

  absl::Status AdvanceWallClock(int64_t ms) {
    wall_clock_ms_ += ms;
    absl::Status first_error;
    for (auto& [id, task] : tasks_) {
      absl::Status s = task->PunctuateWallClock(wall_clock_ms_);
      if (!s.ok() && first_error.ok()) first_error = s;
    }
    absl::Status drained = Drain();
    return first_error.ok() ? drained : first_error;
  }
  const std::string& state_dir() const { return state_dir_; }

  absl::StatusOr<std::shared_ptr<internal::StoreReader>> OpenStoreReader(const std::string& name);

  // RecordCollector
  absl::Status Send(const internal::OutRecord& r) override {
    TestRawRecord out;
    if (r.key.data() != nullptr) out.key = std::string(r.key);
    if (r.value.data() != nullptr) out.value = std::string(r.value);
    out.timestamp = r.timestamp;
    if (!r.positions.empty()) {
      out.headers.push_back({std::string(internal::kPositionHeader), std::string(r.positions)});
    } else if (r.headers != nullptr) {
      out.headers = *static_cast<const std::vector<TestHeader>*>(r.headers);
    }
    for (const auto& [name, value] : r.extra_headers) {
      out.headers.push_back({std::string(name), std::string(value)});
    }
    absl::StatusOr<int32_t> p =
        Append(std::string(r.topic), std::move(out),
               r.partition >= 0 ? std::optional<int32_t>(r.partition) : std::nullopt);
    return p.status();
  }
  absl::StatusOr<int32_t> PartitionCount(std::string_view topic) override {
    return Partitions(std::string(topic));
  }
  int64_t ChangelogEnd(std::string_view topic, int32_t partition) override {
    auto it = topics_.find(std::string(topic));
    if (it == topics_.end() || partition >= static_cast<int32_t>(it->second.partitions.size())) {
      return -1;
    }
    return static_cast<int64_t>(it->second.partitions[partition].log.size());
  }

 private:
  struct PartitionLog {
    std::deque<TestRawRecord> log;  // a deque: appending keeps references valid
    size_t processed = 0;
  };
  struct TopicState {
    std::vector<PartitionLog> partitions;
    std::deque<std::pair<int32_t, size_t>> unread;
    uint32_t round_robin = 0;
  };

  std::string Resolve(const std::string& name, bool internal) const {
    return internal ? Cat(config_.application_id(), "-", name) : name;
  }

  absl::StatusOr<int32_t> Append(const std::string& topic, TestRawRecord record,
                                 std::optional<int32_t> partition) {
    TopicState& t = topics_[topic];
    if (t.partitions.empty()) t.partitions.resize(Partitions(topic));
    const int32_t count = static_cast<int32_t>(t.partitions.size());
    int32_t p;
    if (partition) {
      if (*partition < 0 || *partition >= count) {
        return absl::OutOfRangeError(Cat("topic '", topic, "' has ", count,
                                         " partitions; there is no partition ", *partition));
      }
      p = *partition;
    } else if (record.key) {
      p = internal::DefaultPartition(*record.key, count);
    } else {
      p = static_cast<int32_t>(t.round_robin++ % count);
    }
    PartitionLog& log = t.partitions[p];
    record.partition = p;
    record.offset = static_cast<int64_t>(log.log.size());
    log.log.push_back(std::move(record));
    if (globals_ != nullptr && globals_->ForTopic(topic) != nullptr) {
      // A global table's topic: applied at once, as the App's global thread would.
      log.processed = log.log.size();
      const TestRawRecord& r = log.log.back();
      RawRecord raw;
      raw.key = r.key ? std::string_view(*r.key) : std::string_view();
      raw.value = r.value ? std::string_view(*r.value) : std::string_view();
      raw.timestamp = r.timestamp;
      raw.offset = r.offset;
      uint64_t skipped = 0;
      absl::Status s = globals_->Apply(topic, p, {&raw, 1}, Policy(), &skipped);
      metrics_.records_skipped += skipped;
      if (s.ok()) s = globals_->Commit();
      if (!s.ok()) return s;
      return p;
    }
    t.unread.emplace_back(p, log.log.size() - 1);
    if (readers_.contains(topic)) pending_.emplace_back(topic, p);
    return p;
  }

  // Processes everything piped and what it causes, then commits every task, as an App
  // does at its commit interval: store caches let their changes down (which may feed
  // repartition topics, processed in turn), then the stores commit.
  absl::Status Drain() {
    absl::Status first_error = DrainTopics();
    for (int round = 0; round < 100; ++round) {
      for (auto& [id, task] : tasks_) {
        absl::Status s = task->FlushState();
        if (!s.ok() && first_error.ok()) first_error = s;
      }
      if (pending_.empty()) break;
      absl::Status s = DrainTopics();
      if (!s.ok() && first_error.ok()) first_error = s;
    }
    for (auto& [id, task] : tasks_) {
      absl::Status s = task->CommitState();
      if (!s.ok() && first_error.ok()) first_error = s;
    }
    return first_error;
  }

  // Processes every record not yet processed, including what processing writes to
  // topics the topology reads (repartition topics), in the order it was written.
  absl::Status DrainTopics() {
    absl::Status first_error;
    while (!pending_.empty()) {
      auto [topic, p] = pending_.front();
      pending_.pop_front();
      PartitionLog& log = topics_[topic].partitions[p];
      if (log.processed == log.log.size()) continue;
      batch_.clear();
      for (size_t i = log.processed; i < log.log.size(); ++i) {
        const TestRawRecord& r = log.log[i];
        RawRecord raw;
        raw.key = r.key ? std::string_view(*r.key) : std::string_view();
        raw.value = r.value ? std::string_view(*r.value) : std::string_view();
        raw.timestamp = r.timestamp;
        raw.offset = r.offset;
        raw.headers = r.headers.empty() ? nullptr : &r.headers;
        batch_.push_back(raw);
      }
      // A failed batch counts as processed: the driver does not retry it.
      log.processed = log.log.size();
      absl::StatusOr<Task*> task = TaskFor({readers_.at(topic), p});
      absl::Status status = task.ok() ? (*task)->Process(topic, p, batch_) : task.status();
      if (!status.ok() && first_error.ok()) first_error = status;
    }
    return first_error;
  }

  internal::DeserializationErrorPolicy Policy() const {
    return config_.deserialization_errors() == DeserializationErrorHandling::kContinue
               ? internal::DeserializationErrorPolicy::kContinue
               : internal::DeserializationErrorPolicy::kFail;
  }

  absl::StatusOr<Task*> TaskFor(TaskId id) {
    auto it = tasks_.find(id);
    if (it != tasks_.end()) return it->second.get();
    Task::Options options;
    options.application_id = config_.application_id();
    options.deserialization_policy = Policy();
    options.processing_policy = config_.processing_errors() == ProcessingErrorHandling::kContinue
                                    ? internal::ProcessingErrorPolicy::kContinue
                                    : internal::ProcessingErrorPolicy::kFail;
    options.dead_letter_topic = config_.dead_letter_queue_topic();
    options.globals = globals_.get();
    options.state_dir = state_dir_;
    options.wall_clock_ms = wall_clock_ms_;
    options.idle_window_close_ms = config_.idle_window_close_ms();
    options.timestamps = config_.timestamp_defaults();
    options.rocksdb_budget = budget_;
    options.cache = &cache_;
    absl::StatusOr<std::unique_ptr<Task>> task =
        Task::Create(id, topology_.compiled(), *this, options, &metrics_);
    if (!task.ok()) return task.status();
    return tasks_.emplace(id, std::move(*task)).first->second.get();
  }

  Topology topology_;
  Options options_;
  StreamsConfig config_;
  std::map<std::string, int> readers_;  // source topic (Kafka name) -> sub-topology
  std::map<std::string, TopicState> topics_;
  std::map<TaskId, std::unique_ptr<Task>> tasks_;
  std::deque<std::pair<std::string, int32_t>> pending_;
  std::vector<RawRecord> batch_;
  internal::TaskMetrics metrics_;
  std::string state_dir_;
  std::shared_ptr<internal::RocksDbBudget> budget_;
  std::shared_ptr<internal::GlobalStores> globals_;
  absl::Status open_error_;
  internal::CacheBudget cache_;
  int64_t wall_clock_ms_ = 0;
  friend class DriverStoreReader;
};

// Reads a store across the driver's tasks, on the caller's thread (which owns them).
class DriverStoreReader final : public internal::StoreReader {
 public:
  DriverStoreReader(std::string name, std::map<TaskId, std::unique_ptr<Task>>& tasks)
      : name_(std::move(name)), tasks_(tasks) {}

  const std::string& name() const override { return name_; }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    std::string value;
    for (auto& [id, task] : tasks_) {
      internal::KeyValueBytesStore* store = task->GetStore(name_);
      if (store == nullptr) continue;
      bool found = false;
      if (absl::Status s = store->Get(key, &value, &found); !s.ok()) return s;
      if (found) return std::optional<std::string>(std::move(value));
    }
    return std::optional<std::string>();
  }

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Range(
      std::optional<std::string_view> from, std::optional<std::string_view> to) override {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [id, task] : tasks_) {
      internal::KeyValueBytesStore* store = task->GetStore(name_);
      if (store == nullptr) continue;
      absl::StatusOr<std::unique_ptr<internal::StoreIterator>> it = store->Range(from, to);
      if (!it.ok()) return it.status();
      for (; (*it)->Valid(); (*it)->Next()) {
        out.emplace_back(std::string((*it)->key()), std::string((*it)->value()));
      }
      if (absl::Status s = (*it)->status(); !s.ok()) return s;
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  absl::StatusOr<uint64_t> ApproximateNumEntries() override {
    uint64_t n = 0;
    for (auto& [id, task] : tasks_) {
      internal::KeyValueBytesStore* store = task->GetStore(name_);
      if (store == nullptr) continue;
      absl::StatusOr<uint64_t> count = store->ApproximateNumEntries();
      if (!count.ok()) return count.status();
      n += *count;
    }
    return n;
  }

 private:
  std::string name_;
  std::map<TaskId, std::unique_ptr<Task>>& tasks_;
};

absl::StatusOr<std::shared_ptr<internal::StoreReader>> TopologyTestDriver::Impl::OpenStoreReader(
    const std::string& name) {
  if (globals_ != nullptr && globals_->View(name) != nullptr) return globals_->Reader(name);
  if (topology_.compiled().FindStore(name) == nullptr) {
    return absl::NotFoundError(Cat("the topology has no state store named '", name, "'"));
  }
  return std::shared_ptr<internal::StoreReader>(new DriverStoreReader(name, tasks_));
}

absl::StatusOr<std::unique_ptr<TopologyTestDriver>> TopologyTestDriver::Create(
    const Topology& topology, Options options, std::map<std::string, std::string> config) {
  config.try_emplace(std::string(StreamsConfig::kApplicationId), "test-driver");
  absl::StatusOr<StreamsConfig> parsed = StreamsConfig::Create(config);
  if (!parsed.ok()) return parsed.status();
  if (options.default_partitions < 1) {
    return absl::InvalidArgumentError("TopologyTestDriver: default_partitions must be >= 1");
  }
  for (const auto& [topic, count] : options.partitions) {
    if (count < 1) {
      return absl::InvalidArgumentError(
          Cat("TopologyTestDriver: topic '", topic, "' needs at least 1 partition, not ", count));
    }
  }
  const int64_t start = options.start_timestamp_ms;
  std::string state_dir;
  if (!topology.compiled().stores.empty() || !topology.compiled().global_stores.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-test-driver-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::UnavailableError(Cat("TopologyTestDriver: cannot create a state directory "
                                        "under ", std::filesystem::temp_directory_path().string()));
    }
    state_dir = pattern;
  }
  auto impl = std::make_unique<Impl>(topology, std::move(options), std::move(*parsed),
                                     std::move(state_dir));
  if (!impl->open_error().ok()) return impl->open_error();
  return std::unique_ptr<TopologyTestDriver>(new TopologyTestDriver(std::move(impl), start));
}

TopologyTestDriver::TopologyTestDriver(std::unique_ptr<Impl> impl, int64_t start_timestamp)
    : impl_(std::move(impl)), next_timestamp_(start_timestamp) {}
TopologyTestDriver::~TopologyTestDriver() = default;

absl::Status TopologyTestDriver::PipeRaw(const std::string& topic, TestRawRecord record,
                                         std::optional<int32_t> partition) {
  return impl_->Pipe(topic, std::move(record), partition);
}
absl::Status TopologyTestDriver::PipeRawBatch(const std::string& topic,
                                              std::vector<TestRawRecord> records) {
  return impl_->PipeBatch(topic, std::move(records));
}
std::vector<TestRawRecord> TopologyTestDriver::ReadRaw(const std::string& topic, size_t max) {
  return impl_->Read(topic, max);
}
size_t TopologyTestDriver::QueueSize(const std::string& topic) const {
  return impl_->QueueSize(topic);
}
int32_t TopologyTestDriver::PartitionCount(const std::string& topic) const {
  return impl_->Partitions(topic);
}
uint64_t TopologyTestDriver::skipped_records() const { return impl_->skipped(); }
uint64_t TopologyTestDriver::late_records() const { return impl_->late(); }
const std::string& TopologyTestDriver::state_dir() const { return impl_->state_dir(); }
absl::Status TopologyTestDriver::AdvanceWallClockTime(int64_t ms) {
  return impl_->AdvanceWallClock(ms);
}
int64_t TopologyTestDriver::wall_clock_ms() const { return impl_->wall_clock_ms(); }
absl::StatusOr<std::shared_ptr<internal::StoreReader>> TopologyTestDriver::OpenStoreReader(
    const std::string& name) {
  return impl_->OpenStoreReader(name);
}

}  // namespace sluice
