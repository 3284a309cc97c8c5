// The process-wide RocksDB memory budget: one block cache shared by every database of
// the process, and a write buffer manager that charges memtables to that cache, so the
// block cache, index/filter blocks and memtables together stay within one figure.
#pragma once

#include <cstddef>
#include <memory>

#include <rocksdb/options.h>

namespace sluice::internal {

class RocksDbBudget {
 public:
  // The budget of this process. The first caller sets its size; a later caller asking
  // for a different size gets the existing budget (and a warning in the log).
  static std::shared_ptr<RocksDbBudget> Get(size_t bytes);

  size_t bytes() const { return bytes_; }
  // Options for a task database and for its column families, wired to the budget.
  rocksdb::DBOptions DbOptions() const;
  rocksdb::ColumnFamilyOptions FamilyOptions() const;
  // Bytes the shared cache holds now (memtables included).
  size_t usage() const;

  explicit RocksDbBudget(size_t bytes);

 private:
  size_t bytes_;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers_;
};

}  // namespace sluice::internal
