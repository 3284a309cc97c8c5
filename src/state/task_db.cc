#include "src/state/task_db.h"

#include <algorithm>
#include <system_error>

#include <rocksdb/convenience.h>

#include "sluice/internal/str.h"

namespace sluice::internal {
namespace {

constexpr std::string_view kMetaFamily = "sluice.meta";

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

std::string EncodeOffset(int64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v = static_cast<int64_t>(static_cast<uint64_t>(v) >> 8);
  }
  return out;
}

int64_t DecodeOffset(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<uint8_t>(c);
  return static_cast<int64_t>(v);
}

// An iteration that failed before it began.
class FailedIterator final : public StoreIterator {
 public:
  explicit FailedIterator(absl::Status status) : status_(std::move(status)) {}
  bool Valid() const override { return false; }
  void Next() override {}
  std::string_view key() const override { return {}; }
  std::string_view value() const override { return {}; }
  absl::Status status() const override { return status_; }

 private:
  absl::Status status_;
};

// Iterates [from, to) of a RocksDB iterator, which it owns.
class RangeIterator final : public StoreIterator {
 public:
  RangeIterator(std::unique_ptr<rocksdb::Iterator> it, std::optional<std::string_view> from,
                std::optional<std::string_view> to)
      : it_(std::move(it)), to_(to ? std::optional<std::string>(std::string(*to)) : std::nullopt) {
    if (from) {
      it_->Seek(ToSlice(*from));
    } else {
      it_->SeekToFirst();
    }
  }
  bool Valid() const override {
    return it_->Valid() && (!to_ || ToView(it_->key()) < std::string_view(*to_));
  }
  void Next() override { it_->Next(); }
  std::string_view key() const override { return ToView(it_->key()); }
  std::string_view value() const override { return ToView(it_->value()); }
  absl::Status status() const override { return RocksStatus(it_->status(), "iterating"); }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  std::optional<std::string> to_;
};

}  // namespace

absl::Status RocksStatus(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string message = Cat("RocksDB ", what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIOError()) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

absl::StatusOr<std::unique_ptr<TaskDb>> TaskDb::Open(const std::filesystem::path& dir,
                                                     const std::vector<std::string>& families,
                                                     std::shared_ptr<RocksDbBudget> budget) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(Cat("cannot create state directory '", dir.string(), "': ",
                                      ec.message()));
  }
  std::unique_ptr<TaskDb> db(new TaskDb());
  db->dir_ = dir;
  db->budget_ = std::move(budget);
  const rocksdb::ColumnFamilyOptions cf_options = db->budget_->FamilyOptions();
  rocksdb::DBOptions options = db->budget_->DbOptions();

  // Every family that exists must be opened; families of stores the topology no longer
  // has are opened too (and left alone).
  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, std::string(kMetaFamily)};
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(options, dir.string(), &existing).ok()) {
    for (const std::string& n : existing) {
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  }
  for (const std::string& n : families) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& n : names) descriptors.emplace_back(n, cf_options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir.string(), descriptors, &handles, &raw);
  if (!s.ok()) {
    std::string what = Cat("opening '", dir.string(), "'");
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return absl::FailedPreconditionError(Cat("the state directory '", dir.string(),
                                               "' is in use (locked by another process or "
                                               "task): ", s.ToString()));
    }
    return RocksStatus(s, what);
  }
  db->db_.reset(raw);
  for (rocksdb::ColumnFamilyHandle* h : handles) db->families_[h->GetName()] = h;
  db->meta_ = db->families_.at(std::string(kMetaFamily));
  return db;
}

absl::Status TaskDb::Wipe(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) {
    return absl::UnavailableError(Cat("cannot delete state directory '", dir.string(), "': ",
                                      ec.message()));
  }
  return absl::OkStatus();
}

TaskDb::~TaskDb() {
  if (db_ == nullptr) return;
  for (auto& [name, handle] : families_) db_->DestroyColumnFamilyHandle(handle);
  families_.clear();
  rocksdb::Status ignored = db_->Close();
  (void)ignored;
}

rocksdb::ColumnFamilyHandle* TaskDb::Family(std::string_view name) const {
  auto it = families_.find(name);
  return it == families_.end() ? nullptr : it->second;
}

absl::Status TaskDb::Get(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                         std::string* value, bool* found) {
  if (const AtCommitBuffer::Slot* slot = at_commit_.Find(cf, key)) {
    *found = !slot->deleted;
    if (*found) value->assign(slot->value.data(), slot->value.size());
    return absl::OkStatus();
  }
  rocksdb::Status s = batch_.GetFromBatchAndDB(db_.get(), rocksdb::ReadOptions(), cf,
                                               ToSlice(key), value);
  *found = s.ok();
  if (s.ok() || s.IsNotFound()) return absl::OkStatus();
  return RocksStatus(s, "get");
}

absl::Status TaskDb::MultiGet(rocksdb::ColumnFamilyHandle* cf,
                              const std::vector<std::string_view>& keys,
                              std::vector<std::string>* values, std::vector<bool>* found) {
  if (absl::Status s = IndexAtCommitWrites(cf); !s.ok()) return s;
  const size_t n = keys.size();
  std::vector<rocksdb::Slice> slices(n);
  for (size_t i = 0; i < n; ++i) slices[i] = ToSlice(keys[i]);
  std::vector<rocksdb::PinnableSlice> pinned(n);
  std::vector<rocksdb::Status> statuses(n);
  batch_.MultiGetFromBatchAndDB(db_.get(), rocksdb::ReadOptions(), cf, n, slices.data(),
                                pinned.data(), statuses.data(), /*sorted_input=*/true);
  values->resize(n);
  found->assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (statuses[i].ok()) {
      (*found)[i] = true;
      (*values)[i].assign(pinned[i].data(), pinned[i].size());
    } else if (!statuses[i].IsNotFound()) {
      return RocksStatus(statuses[i], "multi-get");
    }
  }
  return absl::OkStatus();
}

absl::Status TaskDb::Put(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                         std::string_view value) {
  at_commit_.Erase(cf, key);  // the indexed write is the newer
  return RocksStatus(batch_.Put(cf, ToSlice(key), ToSlice(value)), "put");
}

absl::Status TaskDb::Delete(rocksdb::ColumnFamilyHandle* cf, std::string_view key) {
  at_commit_.Erase(cf, key);  // the indexed write is the newer
  return RocksStatus(batch_.Delete(cf, ToSlice(key)), "delete");
}

std::unique_ptr<StoreIterator> TaskDb::Scan(rocksdb::ColumnFamilyHandle* cf,
                                            std::optional<std::string_view> from,
                                            std::optional<std::string_view> to) {
  if (absl::Status s = IndexAtCommitWrites(cf); !s.ok()) {
    return std::make_unique<FailedIterator>(std::move(s));
  }
  std::unique_ptr<rocksdb::Iterator> it(
      batch_.NewIteratorWithBase(cf, db_->NewIterator(rocksdb::ReadOptions(), cf)));
  return std::make_unique<RangeIterator>(std::move(it), from, to);
}

absl::Status TaskDb::PutBlind(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                              std::string_view value) {
  blind_.push_back(BlindWrite{cf, std::string(key), std::string(value)});
  blind_bytes_ += key.size() + value.size();
  return absl::OkStatus();
}

absl::Status TaskDb::WriteBlind() {
  if (blind_.empty()) return absl::OkStatus();
  // Sorted: a memtable insert starts its search from the previous one.
  std::stable_sort(blind_.begin(), blind_.end(), [](const BlindWrite& a, const BlindWrite& b) {
    return a.cf->GetID() != b.cf->GetID() ? a.cf->GetID() < b.cf->GetID() : a.key < b.key;
  });
  rocksdb::WriteBatch batch;
  for (const BlindWrite& w : blind_) {
    rocksdb::Status s = batch.Put(w.cf, ToSlice(w.key), ToSlice(w.value));
    if (!s.ok()) return RocksStatus(s, "put");
  }
  blind_.clear();
  blind_bytes_ = 0;
  return RocksStatus(db_->Write(commit_options_, &batch), "writing buffered window records");
}

absl::Status TaskDb::PutAtCommit(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                                 std::string_view value) {
  at_commit_.Put(cf, key, value);
  return absl::OkStatus();
}

absl::Status TaskDb::DeleteAtCommit(rocksdb::ColumnFamilyHandle* cf, std::string_view key) {
  at_commit_.Delete(cf, key);
  return absl::OkStatus();
}

absl::Status TaskDb::IndexAtCommitWrites(rocksdb::ColumnFamilyHandle* cf) {
  rocksdb::Status s;
  at_commit_.TakeSorted(cf, [&](std::string_view key, const AtCommitBuffer::Slot& slot) {
    if (!s.ok()) return;
    s = slot.deleted ? batch_.Delete(cf, ToSlice(key)) : batch_.Put(cf, ToSlice(key), ToSlice(slot.value));
  });
  return RocksStatus(s, "indexing flushed cache entries");
}

void TaskDb::DropBeforeAtCommit(std::string_view family, std::string_view end) {
  auto it = drops_.find(family);
  if (it == drops_.end()) {
    drops_.emplace(std::string(family), std::string(end));
  } else if (it->second < end) {
    it->second = std::string(end);
  }
}

absl::Status TaskDb::Commit(const std::map<std::string, int64_t>& meta) {
  // First, so that the batch's range deletions also cover them.
  if (absl::Status s = WriteBlind(); !s.ok()) return s;
  for (const auto& [key, offset] : meta) {
    rocksdb::Status s = batch_.Put(meta_, key, EncodeOffset(offset));
    if (!s.ok()) return RocksStatus(s, "writing the checkpoint");
  }
  // Nothing reads the batch from here on: the at-commit writes and the range deletions
  // (which the index does not support) go straight into the batch that is written.
  // Sorted by key, so that each memtable insert starts its search where the previous
  // one ended.
  rocksdb::WriteBatch* const batch = batch_.GetWriteBatch();
  for (rocksdb::ColumnFamilyHandle* cf : at_commit_.families()) {
    rocksdb::Status s;
    at_commit_.TakeSorted(cf, [&](std::string_view key, const AtCommitBuffer::Slot& slot) {
      if (!s.ok()) return;
      s = slot.deleted ? batch->Delete(cf, ToSlice(key)) : batch->Put(cf, ToSlice(key), ToSlice(slot.value));
    });
    if (!s.ok()) return RocksStatus(s, "writing flushed cache entries");
  }
  for (const auto& [family, end] : drops_) {
    rocksdb::ColumnFamilyHandle* cf = Family(family);
    if (cf == nullptr) continue;
    rocksdb::Status s = batch->DeleteRange(cf, rocksdb::Slice(), ToSlice(end));
    if (!s.ok()) return RocksStatus(s, "dropping expired keys");
  }
  drops_.clear();
  rocksdb::Status s = db_->Write(commit_options_, batch_.GetWriteBatch());
  if (!s.ok()) return RocksStatus(s, Cat("committing to '", dir_.string(), "'"));
  batch_.Clear();
  at_commit_.Clear();
  return absl::OkStatus();
}

absl::Status TaskDb::RestorePut(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                                std::string_view value) {
  return RocksStatus(restore_batch_.Put(cf, ToSlice(key), ToSlice(value)), "put");
}

absl::Status TaskDb::RestoreDelete(rocksdb::ColumnFamilyHandle* cf, std::string_view key) {
  return RocksStatus(restore_batch_.Delete(cf, ToSlice(key)), "delete");
}

absl::Status TaskDb::WriteUnlogged() {
  for (rocksdb::ColumnFamilyHandle* cf : at_commit_.families()) {
    if (absl::Status s = IndexAtCommitWrites(cf); !s.ok()) return s;
  }
  at_commit_.Clear();
  rocksdb::WriteOptions options;
  options.disableWAL = true;
  for (rocksdb::WriteBatch* batch : {batch_.GetWriteBatch(), &restore_batch_}) {
    if (batch->Count() == 0) continue;
    rocksdb::Status s = db_->Write(options, batch);
    if (!s.ok()) return RocksStatus(s, Cat("restoring into '", dir_.string(), "'"));
  }
  batch_.Clear();
  restore_batch_.Clear();
  return absl::OkStatus();
}

absl::Status TaskDb::FlushMemtables() {
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  for (auto& [name, handle] : families_) all.push_back(handle);
  return RocksStatus(db_->Flush(rocksdb::FlushOptions(), all), "flushing memtables");
}

absl::Status TaskDb::SetBulkLoad(rocksdb::ColumnFamilyHandle* cf, bool on) {
  const size_t usual = budget_->FamilyOptions().write_buffer_size;
  const size_t size = on ? std::min<size_t>(usual, 2u << 20) : usual;
  return RocksStatus(db_->SetOptions(cf, {{"write_buffer_size", std::to_string(size)}}),
                     "setting write_buffer_size");
}

absl::StatusOr<bool> TaskDb::IsEmpty(rocksdb::ColumnFamilyHandle* cf) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
  it->SeekToFirst();
  if (!it->status().ok()) return RocksStatus(it->status(), "reading");
  return !it->Valid();
}

absl::Status TaskDb::Clear(std::string_view family) {
  auto it = families_.find(family);
  if (it == families_.end()) return absl::NotFoundError(Cat("no column family '", family, "'"));
  rocksdb::ColumnFamilyHandle* old = it->second;
  if (rocksdb::Status s = db_->DropColumnFamily(old); !s.ok()) return RocksStatus(s, "dropping");
  db_->DestroyColumnFamilyHandle(old);
  rocksdb::ColumnFamilyHandle* fresh = nullptr;
  rocksdb::Status s = db_->CreateColumnFamily(budget_->FamilyOptions(), std::string(family), &fresh);
  if (!s.ok()) {
    families_.erase(it);
    return RocksStatus(s, "re-creating a column family");
  }
  it->second = fresh;
  return absl::OkStatus();
}

absl::Status TaskDb::DeleteMeta(std::string_view key) {
  return RocksStatus(db_->Delete(rocksdb::WriteOptions(), meta_, ToSlice(key)),
                     "deleting a checkpoint");
}

absl::StatusOr<std::map<std::string, int64_t>> TaskDb::ReadMeta() {
  std::map<std::string, int64_t> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    out[it->key().ToString()] = DecodeOffset(ToView(it->value()));
  }
  if (!it->status().ok()) return RocksStatus(it->status(), "reading the checkpoint");
  return out;
}

absl::Status TaskDb::ReadCommitted(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                                   std::string* value, bool* found) const {
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf, ToSlice(key), value);
  *found = s.ok();
  if (s.ok() || s.IsNotFound()) return absl::OkStatus();
  return RocksStatus(s, "get");
}

std::unique_ptr<StoreIterator> TaskDb::ScanCommitted(rocksdb::ColumnFamilyHandle* cf,
                                                     std::optional<std::string_view> from,
                                                     std::optional<std::string_view> to) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
  return std::make_unique<RangeIterator>(std::move(it), from, to);
}

uint64_t TaskDb::ApproximateNumEntries(rocksdb::ColumnFamilyHandle* cf) const {
  uint64_t n = 0;
  db_->GetIntProperty(cf, "rocksdb.estimate-num-keys", &n);
  return n;
}

}  // namespace sluice::internal
