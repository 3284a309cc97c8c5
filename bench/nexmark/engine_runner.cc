#include "bench/nexmark/engine_runner.h"

#include <stdlib.h>

#include <system_error>
#include <utility>

#include "sluice/internal/str.h"
#include "src/partitioner.h"
#include "src/state/rocksdb_budget.h"

namespace sluice::nexmark {

using internal::Cat;

void PendingRecords::Append(PendingRecords& more) {
  bytes.append(more.bytes);
  entries.insert(entries.end(), more.entries.begin(), more.entries.end());
  more.bytes.clear();
  more.entries.clear();
}

void Exchange::Deliver(int worker, const std::string& topic, int32_t partition, PendingRecords& records) {
  const auto n = static_cast<int64_t>(records.entries.size());
  Inbox& inbox = inboxes_[static_cast<size_t>(worker)];
  std::lock_guard<std::mutex> lock(inbox.mu);
  auto by_topic = inbox.by_topic.find(topic);
  if (by_topic == inbox.by_topic.end()) by_topic = inbox.by_topic.emplace(topic, std::map<int32_t, PendingRecords>{}).first;
  by_topic->second[partition].Append(records);
  in_flight_.fetch_add(n);
}

EngineRunner::EngineRunner(const Topology& topology, const StreamsConfig& config, Options options)
    : topology_(topology), config_(config), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<EngineRunner>> EngineRunner::Create(const Topology& topology,
                                                                   const StreamsConfig& config,
                                                                   Options options) {
  if (options.partitions < 1) return absl::InvalidArgumentError("--partitions must be at least 1");
  std::unique_ptr<EngineRunner> r(new EngineRunner(topology, config, std::move(options)));
  if (r->options_.state_dir.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-nexmark-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(Cat("cannot create a state directory like ", pattern));
    }
    r->options_.state_dir = pattern;
    r->own_dir_ = true;
  }
  const internal::CompiledTopology& compiled = r->topology_.compiled();
  for (size_t i = 0; i < compiled.subtopologies.size(); ++i) {
    const internal::Subtopology& sub = compiled.subtopologies[i];
    for (size_t t = 0; t < sub.source_topics.size(); ++t) {
      const std::string name = sub.source_internal[t]
                                   ? Cat(config.application_id(), "-", sub.source_topics[t])
                                   : sub.source_topics[t];
      Reader& reader = r->readers_[name];
      reader.subtopology = static_cast<int>(i);
      reader.pending.resize(static_cast<size_t>(r->options_.partitions));
      reader.outbox.resize(static_cast<size_t>(r->options_.partitions));
    }
  }
  r->budget_ = internal::RocksDbBudget::Get(static_cast<size_t>(config.rocksdb_memory_budget()));
  // An App splits the cache among its threads.
  const int workers = r->options_.exchange == nullptr ? 1 : r->options_.exchange->workers();
  r->cache_.max_bytes = static_cast<size_t>(config.cache_max_bytes_buffering()) / static_cast<size_t>(workers);
  return r;
}

EngineRunner::~EngineRunner() {
  tasks_.clear();  // close the stores before their files go
  if (own_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(options_.state_dir, ec);
  }
}

absl::StatusOr<internal::Task*> EngineRunner::TaskFor(int subtopology, int32_t partition) {
  auto it = tasks_.find({subtopology, partition});
  if (it != tasks_.end()) return it->second.get();
  internal::Task::Options o;
  o.application_id = config_.application_id();
  o.state_dir = options_.state_dir;
  o.rocksdb_budget = budget_;
  o.cache = config_.cache_max_bytes_buffering() > 0 ? &cache_ : nullptr;
  o.wall_clock_ms = wall_clock_ms_;
  o.idle_window_close_ms = config_.idle_window_close_ms();
  o.timestamps = config_.timestamp_defaults();
  absl::StatusOr<std::unique_ptr<internal::Task>> task = internal::Task::Create(
      internal::TaskId{subtopology, partition}, topology_.compiled(), *this, o, &metrics_);
  if (!task.ok()) return task.status();
  return tasks_.emplace(std::make_pair(subtopology, partition), std::move(*task)).first->second.get();
}

absl::Status EngineRunner::Process(const std::string& topic, int32_t partition,
                                   std::span<const internal::RawRecord> records) {
  auto reader = readers_.find(topic);
  if (reader == readers_.end()) return absl::NotFoundError(Cat("the topology reads no topic '", topic, "'"));
  absl::StatusOr<internal::Task*> task = TaskFor(reader->second.subtopology, partition);
  if (!task.ok()) return task.status();
  if (absl::Status s = (*task)->Process(topic, partition, records); !s.ok()) return s;
  if (absl::Status s = Drain(); !s.ok()) return s;
  since_commit_ += static_cast<int64_t>(records.size());
  if (since_commit_ >= options_.commit_events) return Commit();
  Ship();
  return absl::OkStatus();
}

void EngineRunner::TakeInbox() {
  if (options_.exchange == nullptr) return;
  options_.exchange->Take(options_.worker, [&](const std::string& topic, int32_t partition, PendingRecords& records) {
    readers_.find(topic)->second.pending[static_cast<size_t>(partition)].Append(records);
  });
}

void EngineRunner::Ship() {
  if (options_.exchange == nullptr) return;
  for (auto& [topic, reader] : readers_) {
    for (size_t partition = 0; partition < reader.outbox.size(); ++partition) {
      PendingRecords& out = reader.outbox[partition];
      if (out.entries.empty()) continue;
      const auto p = static_cast<int32_t>(partition);
      options_.exchange->Deliver(Owner(p), topic, p, out);
    }
  }
}

bool EngineRunner::HasPending() const {
  for (const auto& [topic, reader] : readers_) {
    for (const PendingRecords& p : reader.pending) {
      if (!p.entries.empty()) return true;
    }
  }
  return false;
}

absl::Status EngineRunner::Drain() {
  TakeInbox();
  while (HasPending()) {
    for (auto& [topic, reader] : readers_) {
      for (size_t partition = 0; partition < reader.pending.size(); ++partition) {
        PendingRecords& pending = reader.pending[partition];
        if (pending.entries.empty()) continue;
        // Taken out first: processing may write more to this same partition. The buffers
        // go back afterwards, so their capacity serves the next batch.
        PendingRecords batch;
        std::swap(batch, pending);
        pending.next_offset = batch.next_offset + static_cast<int64_t>(batch.entries.size());
        raw_.clear();
        size_t at = 0;
        for (size_t i = 0; i < batch.entries.size(); ++i) {
          const PendingRecords::Entry& e = batch.entries[i];
          internal::RawRecord r;
          r.key = std::string_view(batch.bytes).substr(at, e.key_size);
          at += e.key_size;
          if (!e.null_value) r.value = std::string_view(batch.bytes).substr(at, e.value_size);
          at += e.value_size;
          r.timestamp = e.timestamp;
          r.offset = batch.next_offset + static_cast<int64_t>(i);
          raw_.push_back(r);
        }
        const auto p = static_cast<int32_t>(partition);
        absl::StatusOr<internal::Task*> task = TaskFor(reader.subtopology, p);
        if (!task.ok()) return task.status();
        std::vector<internal::RawRecord> records = std::move(raw_);
        if (absl::Status s = (*task)->Process(topic, p, records); !s.ok()) return s;
        raw_ = std::move(records);
        if (pending.entries.empty()) {
          batch.bytes.clear();
          batch.entries.clear();
          std::swap(pending.bytes, batch.bytes);
          std::swap(pending.entries, batch.entries);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status EngineRunner::Flush() {
  // Flushing caches may write to repartition topics, whose records flush more caches.
  if (absl::Status s = Drain(); !s.ok()) return s;
  for (int round = 0; round < 100; ++round) {
    for (auto& [id, task] : tasks_) {
      if (absl::Status s = task->FlushState(); !s.ok()) return s;
    }
    if (!HasPending()) break;
    if (absl::Status s = Drain(); !s.ok()) return s;
  }
  Ship();
  return absl::OkStatus();
}

absl::Status EngineRunner::Commit() {
  since_commit_ = 0;
  if (absl::Status s = Flush(); !s.ok()) return s;
  for (auto& [id, task] : tasks_) {
    if (absl::Status s = task->CommitState(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status EngineRunner::AdvanceWallClock(int64_t ms) {
  wall_clock_ms_ += ms;
  for (auto& [id, task] : tasks_) {
    if (absl::Status s = task->PunctuateWallClock(wall_clock_ms_); !s.ok()) return s;
  }
  if (absl::Status s = Drain(); !s.ok()) return s;
  Ship();
  return absl::OkStatus();
}

absl::Status EngineRunner::Send(const internal::OutRecord& r) {
  if (r.changelog) {
    ++changelog_records_;
    return absl::OkStatus();
  }
  if (auto reader = readers_.find(r.topic); reader != readers_.end()) {
    const int32_t partition = r.partition >= 0 ? r.partition
                                               : internal::DefaultPartition(r.key, options_.partitions);
    if (partition >= options_.partitions) {
      return absl::OutOfRangeError(Cat("topic '", r.topic, "' has ", options_.partitions,
                                       " partitions; there is no partition ", partition));
    }
    Reader& to = reader->second;
    PendingRecords& p = Owns(partition) ? to.pending[static_cast<size_t>(partition)]
                                        : to.outbox[static_cast<size_t>(partition)];
    p.bytes.append(r.key);
    p.bytes.append(r.value);
    p.entries.push_back(PendingRecords::Entry{r.key.size(), r.value.size(), r.value.data() == nullptr, r.timestamp});
    return absl::OkStatus();
  }
  ++output_records_;
  output_bytes_ += r.key.size() + r.value.size();
  if (options_.keep_output) {
    Output out;
    out.key.assign(r.key.data(), r.key.size());
    if (r.value.data() != nullptr) out.value.emplace(r.value);
    output_.push_back(std::move(out));
  }
  return absl::OkStatus();
}

}  // namespace sluice::nexmark
