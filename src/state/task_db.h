// TaskDb: the one RocksDB database of a task, with a column family per persistent store
// and `sluice.meta` for the task's checkpoint (changelog offsets, input offsets).
//
// Writes between commits go to a WriteBatchWithIndex that reads see over the database;
// Commit() writes that batch and the metadata in one atomic write. The database alone
// therefore always holds committed state, which ReadCommitted* serve to other threads.
// Everything else belongs to the task's worker thread.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/utilities/write_batch_with_index.h>

#include "absl/status/statusor.h"
#include "sluice/internal/state_store.h"
#include "src/state/at_commit_buffer.h"
#include "src/state/rocksdb_budget.h"

namespace sluice::internal {

absl::Status RocksStatus(const rocksdb::Status& s, std::string_view what);

class TaskDb {
 public:
  // Opens (creating) the database in `dir` with one column family per name. A database
  // whose files are corrupt gives DATA_LOSS; the caller decides whether to Wipe().
  static absl::StatusOr<std::unique_ptr<TaskDb>> Open(const std::filesystem::path& dir,
                                                      const std::vector<std::string>& families,
                                                      std::shared_ptr<RocksDbBudget> budget);
  // Deletes the database files of `dir`.
  static absl::Status Wipe(const std::filesystem::path& dir);
  ~TaskDb();

  const std::filesystem::path& dir() const { return dir_; }
  rocksdb::ColumnFamilyHandle* Family(std::string_view name) const;

  // Reads and writes of the owner thread: the pending batch over the database.
  absl::Status Get(rocksdb::ColumnFamilyHandle* cf, std::string_view key, std::string* value,
                   bool* found);
  // Reads many keys at once (the pending batch over the database): (*found)[i] and
  // (*values)[i] for keys[i]. The keys must be sorted bytewise and distinct.
  absl::Status MultiGet(rocksdb::ColumnFamilyHandle* cf, const std::vector<std::string_view>& keys,
                        std::vector<std::string>* values, std::vector<bool>* found);
  absl::Status Put(rocksdb::ColumnFamilyHandle* cf, std::string_view key, std::string_view value);
  // Writes reads need not see before the commit (KeyValueBytesStore::PutBlind): kept
  // unindexed, written sorted by key at Commit (or at once by WriteBlind), before the
  // batch. Writing them ahead of the commit is safe only for keys that a replay rewrites
  // with the same value (a join window store's position-keyed records).
  absl::Status PutBlind(rocksdb::ColumnFamilyHandle* cf, std::string_view key, std::string_view value);
  absl::Status WriteBlind();
  absl::Status Delete(rocksdb::ColumnFamilyHandle* cf, std::string_view key);
  // Writes that only point reads need to see before the commit
  // (KeyValueBytesStore::PutAtCommit, a cache's write-down): kept in a hash map per
  // family, which Get reads before the indexed batch, and written sorted by key in the
  // commit's batch, after the indexed writes and before the range deletions. A scan or
  // multi-get of a family first moves its at-commit writes into the indexed batch; an
  // indexed write of a key replaces its at-commit write.
  absl::Status PutAtCommit(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                           std::string_view value);
  absl::Status DeleteAtCommit(rocksdb::ColumnFamilyHandle* cf, std::string_view key);
  std::unique_ptr<StoreIterator> Scan(rocksdb::ColumnFamilyHandle* cf,
                                      std::optional<std::string_view> from,
                                      std::optional<std::string_view> to);
  size_t pending_bytes() const {
    return const_cast<rocksdb::WriteBatchWithIndex&>(batch_).GetWriteBatch()->GetDataSize() +
           blind_bytes_ + at_commit_.bytes();
  }
  // Forgets the pending batch (the task failed; its input is processed again).
  void DiscardPending() {
    batch_.Clear();
    restore_batch_.Clear();
    drops_.clear();
    blind_.clear();
    blind_bytes_ = 0;
    at_commit_.Clear();
  }
  // At the next Commit, deletes every key of `family` below `end` (one range deletion,
  // after the batch's own writes). The largest `end` asked for wins.
  void DropBeforeAtCommit(std::string_view family, std::string_view end);

  // Writes the pending batch and `meta` (key -> offset) atomically, with the WAL unless
  // CommitWithoutWal was called.
  absl::Status Commit(const std::map<std::string, int64_t>& meta);
  // Commits from now on skip RocksDB's write-ahead log, as Kafka Streams writes its
  // stores. Only for a database whose every store is rebuilt from a changelog: a crash
  // then loses the commits since the last memtable flush, in every column family alike
  // (the budget's options set atomic_flush, so a flush never splits a commit), and
  // restoration replays each changelog from the older checkpoint that survived.
  void CommitWithoutWal() { commit_options_.disableWAL = true; }
  // Restoration writes, into a plain batch (no index: nothing reads them before they
  // are written), then written without the WAL by WriteUnlogged, with the pending batch;
  // call FlushMemtables and a Commit before relying on them surviving a crash.
  absl::Status RestorePut(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                          std::string_view value);
  absl::Status RestoreDelete(rocksdb::ColumnFamilyHandle* cf, std::string_view key);
  absl::Status WriteUnlogged();
  absl::Status FlushMemtables();
  // Empties one column family (drop and re-create).
  absl::Status Clear(std::string_view family);
  // Bulk loading: smaller memtables while a column family restores from empty (sorted
  // inserts into a skiplist that fits in the CPU caches), the usual size after.
  absl::Status SetBulkLoad(rocksdb::ColumnFamilyHandle* cf, bool on);
  // Whether a column family holds no committed key (pending writes are not looked at).
  absl::StatusOr<bool> IsEmpty(rocksdb::ColumnFamilyHandle* cf);

  // Deletes one metadata key at once, durably (outside the pending batch).
  absl::Status DeleteMeta(std::string_view key);
  // The task's metadata as last committed.
  absl::StatusOr<std::map<std::string, int64_t>> ReadMeta();

  // Committed state; safe from any thread while the TaskDb lives.
  absl::Status ReadCommitted(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                             std::string* value, bool* found) const;
  std::unique_ptr<StoreIterator> ScanCommitted(rocksdb::ColumnFamilyHandle* cf,
                                               std::optional<std::string_view> from,
                                               std::optional<std::string_view> to) const;
  uint64_t ApproximateNumEntries(rocksdb::ColumnFamilyHandle* cf) const;

 private:
  TaskDb() : batch_(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true) {}

  std::filesystem::path dir_;
  std::shared_ptr<RocksDbBudget> budget_;
  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> families_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::WriteOptions commit_options_;
  rocksdb::WriteBatchWithIndex batch_;
  rocksdb::WriteBatch restore_batch_;
  std::map<std::string, std::string, std::less<>> drops_;  // family -> end, for Commit
  struct BlindWrite {
    rocksdb::ColumnFamilyHandle* cf;
    std::string key, value;
  };
  std::vector<BlindWrite> blind_;
  size_t blind_bytes_ = 0;
  // Moves `cf`'s at-commit writes into the indexed batch.
  absl::Status IndexAtCommitWrites(rocksdb::ColumnFamilyHandle* cf);
  AtCommitBuffer at_commit_;
};

}  // namespace sluice::internal
