#include "src/state/rocksdb_budget.h"

#include <mutex>

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>

#include "src/log.h"

namespace sluice::internal {

std::shared_ptr<RocksDbBudget> RocksDbBudget::Get(size_t bytes) {
  static std::mutex mu;
  static std::weak_ptr<RocksDbBudget> current;
  std::lock_guard<std::mutex> lock(mu);
  if (std::shared_ptr<RocksDbBudget> existing = current.lock()) {
    if (existing->bytes() != bytes) {
      Log(LogLevel::kWarn, "rocksdb.memory.budget.bytes=", bytes, " ignored: this process "
          "already shares a RocksDB budget of ", existing->bytes(), " bytes");
    }
    return existing;
  }
  auto budget = std::make_shared<RocksDbBudget>(bytes);
  current = budget;
  return budget;
}

RocksDbBudget::RocksDbBudget(size_t bytes) : bytes_(bytes) {
  // strict_capacity_limit stays off: a full cache must slow reads down, not fail them.
  cache_ = rocksdb::NewLRUCache(bytes, /*num_shard_bits=*/-1, /*strict_capacity_limit=*/false,
                                /*high_pri_pool_ratio=*/0.1);
  // Memtables may take up to half of the budget; their memory is charged to the cache,
  // which evicts blocks to make room.
  write_buffers_ = std::make_shared<rocksdb::WriteBufferManager>(bytes / 2, cache_);
}

rocksdb::DBOptions RocksDbBudget::DbOptions() const {
  rocksdb::DBOptions o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  o.write_buffer_manager = write_buffers_;
  o.max_background_jobs = 2;
  o.max_open_files = -1;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.keep_log_file_num = 2;
  o.paranoid_checks = true;
  // A flush takes every column family at the same point between two writes, so a
  // database committed without the WAL (TaskDb::CommitWithoutWal) that loses its
  // memtables in a crash comes back at one earlier commit, stores and checkpoint alike.
  o.atomic_flush = true;
  return o;
}

rocksdb::ColumnFamilyOptions RocksDbBudget::FamilyOptions() const {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache_;
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_size = 16 * 1024;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Small memtables: many task databases share one write buffer budget.
  o.write_buffer_size = std::min<size_t>(16u << 20, std::max<size_t>(1u << 20, bytes_ / 8));
  o.max_write_buffer_number = 3;
  // A bloom filter over whole keys in each memtable: a read of a key the memtable does
  // not hold (most reads while restoring or counting new keys) skips the skiplist search.
  o.memtable_prefix_bloom_size_ratio = 0.05;
  o.memtable_whole_key_filtering = true;
  o.compression = rocksdb::kLZ4Compression;
  return o;
}

size_t RocksDbBudget::usage() const { return cache_->GetUsage(); }

}  // namespace sluice::internal
