// RocksDbStore: a persistent store, one column family of its task's TaskDb.
#pragma once

#include "src/state/task_db.h"

namespace sluice::internal {

class RocksDbStore final : public KeyValueBytesStore {
 public:
  RocksDbStore(std::string name, TaskDb& db) : name_(std::move(name)), db_(db) {}

  const std::string& name() const override { return name_; }
  absl::Status Get(std::string_view key, std::string* value, bool* found) override {
    return db_.Get(family(), key, value, found);
  }
  absl::Status Put(std::string_view key, std::string_view value) override {
    return db_.Put(family(), key, value);
  }
  absl::Status Delete(std::string_view key) override { return db_.Delete(family(), key); }
  absl::StatusOr<std::unique_ptr<StoreIterator>> Range(std::optional<std::string_view> from,
                                                       std::optional<std::string_view> to) override {
    return db_.Scan(family(), from, to);
  }
  absl::StatusOr<uint64_t> ApproximateNumEntries() override {
    return db_.ApproximateNumEntries(family());
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::Status PutBlind(std::string_view key, std::string_view value) override {
    return db_.PutBlind(family(), key, value);
  }
  absl::Status ShowBlindWrites() override { return db_.WriteBlind(); }
  absl::Status PutAtCommit(std::string_view key, std::string_view value) override {
    return db_.PutAtCommit(family(), key, value);
  }
  absl::Status DeleteAtCommit(std::string_view key) override {
    return db_.DeleteAtCommit(family(), key);
  }
  absl::Status DropBefore(std::string_view end) override {
    db_.DropBeforeAtCommit(name_, end);
    return absl::OkStatus();
  }

 private:
  // Looked up per call: restoration may re-create the family.
  rocksdb::ColumnFamilyHandle* family() const { return db_.Family(name_); }

  std::string name_;
  TaskDb& db_;
};

}  // namespace sluice::internal
