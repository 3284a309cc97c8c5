// TaskState: the state stores of one task: their layers, the task's RocksDB database,
// restoration from changelogs, and the state half of the commit protocol (see
// docs/state.md). Owned by the task, used on its worker thread; the read-only views it
// hands out for interactive queries may be used from any thread while it lives.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sluice/internal/graph.h"
#include "sluice/internal/node.h"
#include "sluice/internal/key_filter.h"
#include "src/state/layers.h"
#include "src/state/memory_store.h"
#include "src/state/rocksdb_budget.h"
#include "src/state/rocksdb_store.h"
#include "src/state/task_db.h"

namespace sluice::internal {

// A changelog record on its way into a store.
struct ChangelogRecord {
  std::string_view key;
  std::optional<std::string_view> value;  // nullopt: a delete
  int64_t timestamp = 0;
  std::string_view positions;  // the sluice.pos header, empty if absent
  int64_t offset = -1;
};

class TaskState {
 public:
  struct Options {
    std::filesystem::path dir;  // the task's directory under state.dir
    std::shared_ptr<RocksDbBudget> budget;
    CacheBudget* cache = nullptr;  // the worker's; null: caching off
    RecordCollector* collector = nullptr;
    std::string application_id;
    int32_t partition = 0;
    std::string task;  // "0_1", for messages
    // Past this many bytes of uncommitted store changes the task asks for a commit.
    size_t max_pending_bytes = 4u << 20;
  };

  struct Store {
    StoreSpec spec;
    std::string changelog_topic;  // empty when logging is off
    KeyValueBytesStore* outer = nullptr;
    CachingStore* cache = nullptr;
    KeyValueBytesStore* inner = nullptr;  // below the changelog: restoration writes here
    RocksDbStore* rocks = nullptr;
    MemoryStore* memory = nullptr;
    std::unique_ptr<KeyValueBytesStore> stack;
    std::shared_ptr<StoreMetrics> metrics;
    int64_t checkpoint = -1;  // next changelog offset the local state lacks; -1: none
    // Set while a persistent store that was empty restores: every key written since.
    // A key it does not contain is known absent and is written without a read.
    std::unique_ptr<KeyFilter> restored_keys;
  };

  // Opens the stores of `specs`. Corrupt RocksDB files are wiped (with a warning) when
  // every persistent store can be rebuilt from its changelog; otherwise DATA_LOSS.
  static absl::StatusOr<std::unique_ptr<TaskState>> Open(std::vector<StoreSpec> specs,
                                                         Options options);
  ~TaskState();

  KeyValueBytesStore* Get(std::string_view name);
  TaskDb* db() { return db_.get(); }  // null without persistent stores
  std::vector<Store*> stores();
  // The input offsets the last commit recorded, per source topic (Kafka name).
  const std::map<std::string, int64_t>& committed_inputs() const { return committed_inputs_; }

  // Restoration. Reset empties a store (its checkpoint no longer matches its changelog).
  absl::Status ResetStore(Store& store);
  // Begins restoring `store` from the start of its changelog (`records` offsets at
  // most). If the store is empty, Restore then skips reading keys it has not written.
  absl::Status BeginFullRestore(Store& store, int64_t records);
  // Applies changelog records, each only if it is newer than what the store holds.
  absl::Status Restore(Store& store, std::span<const ChangelogRecord> records);
  // Makes restored state durable and records `ends` (store -> next changelog offset).
  absl::Status FinishRestore(const std::map<std::string, int64_t>& ends);

  // Commit: FlushCaches before the producer is flushed, Commit after.
  absl::Status FlushCaches();
  absl::Status Commit(const std::map<std::string, int64_t, std::less<>>& input_positions);
  bool WantsCommit() const;
  // Forgets uncommitted changes and cached entries (the task failed).
  void Discard();

 private:
  TaskState() = default;
  absl::Status Build(Store& store);

  Options options_;
  std::unique_ptr<TaskDb> db_;
  std::vector<std::unique_ptr<Store>> stores_;
  std::map<std::string, int64_t> committed_inputs_;
  std::string scratch_;
};

}  // namespace sluice::internal
