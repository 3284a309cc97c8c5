// EngineRunner: runs a topology's tasks in-process on the caller's thread, without Kafka:
// the engine mode of sluice-nexmark. Input batches go to the task of their partition;
// what sinks write to a topic the topology reads (repartition topics) is processed in
// the same call; changelog records are counted; output records are counted and, when
// asked, kept. Commits (cache flush, store commit) happen every `commit_events` input
// records, as an App's commit interval would. Tasks, stores (RocksDB, changelogged to
// nowhere), caches and serdes are the App's own.
//
// Several runners, one per worker thread, share the work through an Exchange: worker w
// of n owns the partitions p with p % n == w (of every topic, so a partition's tasks
// stay together), and a record written to a partition another worker owns waits in the
// sender's outbox, then in the owner's inbox, as a produced record waits in a topic.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/task.h"
#include "sluice/config.h"
#include "sluice/topology.h"

namespace sluice::nexmark {

// Records written to a partition of a topic the topology reads (a repartition topic),
// waiting: their bytes one after another, as a producer batch holds them.
struct PendingRecords {
  struct Entry {
    size_t key_size = 0;
    size_t value_size = 0;
    bool null_value = false;
    int64_t timestamp = 0;
  };
  std::string bytes;
  std::vector<Entry> entries;
  int64_t next_offset = 0;  // of the partition's next record (kept by its owner)

  // Moves `more`'s records to the end of these; `more` keeps its capacity.
  void Append(PendingRecords& more);
};

// What worker runners hand each other: each worker's inbox, by topic and partition, and
// the number of records in inboxes not yet taken.
class Exchange {
 public:
  explicit Exchange(int workers) : inboxes_(static_cast<size_t>(workers)) {}
  int workers() const { return static_cast<int>(inboxes_.size()); }

  void Deliver(int worker, const std::string& topic, int32_t partition, PendingRecords& records);
  // Calls f(topic, partition, records) for each batch waiting for `worker`.
  template <class F>
  void Take(int worker, F&& f) {
    Inbox& inbox = inboxes_[static_cast<size_t>(worker)];
    std::lock_guard<std::mutex> lock(inbox.mu);
    size_t taken = 0;
    for (auto& [topic, partitions] : inbox.by_topic) {
      for (auto& [partition, records] : partitions) {
        taken += records.entries.size();
        if (!records.entries.empty()) f(topic, partition, records);
      }
    }
    in_flight_.fetch_sub(static_cast<int64_t>(taken));
  }
  int64_t in_flight() const { return in_flight_.load(); }

 private:
  struct Inbox {
    std::mutex mu;
    std::map<std::string, std::map<int32_t, PendingRecords>, std::less<>> by_topic;
  };
  std::vector<Inbox> inboxes_;
  std::atomic<int64_t> in_flight_{0};
};

class EngineRunner final : public internal::RecordCollector {
 public:
  struct Options {
    int32_t partitions = 1;          // of every topic
    int64_t commit_events = 100'000;
    bool keep_output = false;
    std::filesystem::path state_dir;  // empty: a fresh temporary directory, removed after
    // Of several runners sharing the work: this one's number, and their exchange.
    int worker = 0;
    Exchange* exchange = nullptr;
  };
  struct Output {
    std::string key;
    std::optional<std::string> value;
  };

  static absl::StatusOr<std::unique_ptr<EngineRunner>> Create(const Topology& topology,
                                                              const StreamsConfig& config,
                                                              Options options);
  ~EngineRunner() override;

  // Processes a batch of `topic` partition `partition` (offsets must grow) and what it
  // causes here; what it sends to other workers is shipped to them.
  absl::Status Process(const std::string& topic, int32_t partition,
                       std::span<const internal::RawRecord> records);
  // Moves the wall clock on (wall-clock punctuations, idle window close).
  absl::Status AdvanceWallClock(int64_t ms);
  // Processes what the inbox holds, and flushes every task's caches until nothing waits
  // here; ships what goes to other workers.
  absl::Status Flush();
  // Flushes, then commits every task.
  absl::Status Commit();
  // Does this worker own `partition`?
  bool Owns(int32_t partition) const { return Owner(partition) == options_.worker; }

  uint64_t output_records() const { return output_records_; }
  uint64_t output_bytes() const { return output_bytes_; }
  uint64_t changelog_records() const { return changelog_records_; }
  uint64_t late_records() const { return metrics_.records_late.load(); }
  uint64_t skipped_records() const { return metrics_.records_skipped.load(); }
  // The output records, when Options::keep_output.
  const std::vector<Output>& output() const { return output_; }

  // RecordCollector
  absl::Status Send(const internal::OutRecord& r) override;
  absl::StatusOr<int32_t> PartitionCount(std::string_view) override { return options_.partitions; }
  int64_t ChangelogEnd(std::string_view, int32_t) override { return -1; }

 private:
  EngineRunner(const Topology& topology, const StreamsConfig& config, Options options);
  absl::StatusOr<internal::Task*> TaskFor(int subtopology, int32_t partition);
  absl::Status Drain();

  // A topic the topology reads: its sub-topology, and its partitions' waiting records.
  struct Reader {
    int subtopology = 0;
    std::vector<PendingRecords> pending;  // by partition: those this worker owns
    std::vector<PendingRecords> outbox;   // by partition: those another worker owns
  };
  int Owner(int32_t partition) const {
    return options_.exchange == nullptr ? options_.worker : partition % options_.exchange->workers();
  }
  bool HasPending() const;
  void TakeInbox();
  void Ship();

  Topology topology_;
  StreamsConfig config_;
  Options options_;
  bool own_dir_ = false;
  std::map<std::string, Reader, std::less<>> readers_;  // by Kafka topic name
  std::map<std::pair<int, int32_t>, std::unique_ptr<internal::Task>> tasks_;
  std::shared_ptr<internal::RocksDbBudget> budget_;
  internal::CacheBudget cache_;
  internal::TaskMetrics metrics_;
  int64_t wall_clock_ms_ = 0;
  int64_t since_commit_ = 0;
  uint64_t output_records_ = 0, output_bytes_ = 0, changelog_records_ = 0;
  std::vector<Output> output_;
  std::vector<internal::RawRecord> raw_;
};

}  // namespace sluice::nexmark
