// The layers stacked over a store's bytes (see docs/state.md): metered -> caching ->
// change-logging -> RocksDbStore | MemoryStore. Every layer belongs to one task.
#pragma once

#include <atomic>
#include <cstring>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "sluice/internal/key_filter.h"
#include "sluice/internal/node.h"
#include "sluice/internal/state_store.h"
#include "sluice/internal/str.h"

namespace sluice::internal {

// Sends every change to the store's changelog partition, with the positions of the
// write in the `sluice.pos` header.
class ChangeLoggingStore final : public KeyValueBytesStore {
 public:
  ChangeLoggingStore(std::unique_ptr<KeyValueBytesStore> inner, RecordCollector& collector,
                     std::string topic, int32_t partition)
      : inner_(std::move(inner)), collector_(collector), topic_(std::move(topic)),
        partition_(partition) {}

  const std::string& name() const override { return inner_->name(); }
  absl::Status Get(std::string_view key, std::string* value, bool* found) override {
    return inner_->Get(key, value, found);
  }
  absl::Status Put(std::string_view key, std::string_view value) override;
  absl::Status Delete(std::string_view key) override;
  absl::StatusOr<std::unique_ptr<StoreIterator>> Range(std::optional<std::string_view> from,
                                                       std::optional<std::string_view> to) override {
    return inner_->Range(from, to);
  }
  absl::StatusOr<uint64_t> ApproximateNumEntries() override { return inner_->ApproximateNumEntries(); }
  absl::Status Flush() override { return inner_->Flush(); }
  absl::Status DropBefore(std::string_view end) override { return inner_->DropBefore(end); }
  absl::Status PutBlind(std::string_view key, std::string_view value) override;
  absl::Status ShowBlindWrites() override { return inner_->ShowBlindWrites(); }
  absl::Status PutAtCommit(std::string_view key, std::string_view value) override;
  absl::Status DeleteAtCommit(std::string_view key) override;

  const std::string& topic() const { return topic_; }

 private:
  absl::Status Log(std::string_view key, std::string_view value);
  absl::Status LogDelete(std::string_view key);

  std::unique_ptr<KeyValueBytesStore> inner_;
  RecordCollector& collector_;
  std::string topic_;
  int32_t partition_;
  StoredValue decoded_;
  std::string positions_;
};

// Bytes held in place up to `kInline`, on the heap beyond: a cache entry keeps its key and
// value in its own list node, so that a lookup touches one allocation instead of three,
// and a new entry costs one malloc.
template <size_t kInline>
class SmallBytes {
 public:
  SmallBytes() = default;
  SmallBytes(const SmallBytes&) = delete;
  SmallBytes& operator=(const SmallBytes&) = delete;

  std::string_view view() const { return std::string_view(data(), size_); }
  operator std::string_view() const { return view(); }  // NOLINT: a view of these bytes
  size_t size() const { return size_; }
  void clear() { size_ = 0; }
  void assign(std::string_view bytes) {
    if (bytes.size() > capacity()) {
      // Copied before the old buffer goes: `bytes` may view it.
      std::unique_ptr<char[]> bigger(new char[bytes.size()]);
      std::memcpy(bigger.get(), bytes.data(), bytes.size());
      heap_ = std::move(bigger);
      heap_capacity_ = bytes.size();
    } else if (!bytes.empty()) {
      std::memmove(data(), bytes.data(), bytes.size());
    }
    size_ = bytes.size();
  }

 private:
  const char* data() const { return heap_ ? heap_.get() : inline_; }
  char* data() { return heap_ ? heap_.get() : inline_; }
  size_t capacity() const { return heap_ ? heap_capacity_ : kInline; }

  char inline_[kInline];
  std::unique_ptr<char[]> heap_;
  size_t heap_capacity_ = 0;
  size_t size_ = 0;
};

// The cache budget of one worker thread: its share of cache.max.bytes.buffering,
// shared by the caching stores of its tasks.
struct CacheBudget {
  size_t max_bytes = 0;
  size_t used_bytes = 0;
};

// A write-back cache: writes stay here, one entry per key, until Flush() (at commit) or
// eviction (least recently used first, when the thread's budget is exceeded) lets them
// down and tells the flush listener. Both let them down as at-commit writes
// (PutAtCommit), which a RocksDB store below keeps out of its ordered pending batch. A range scan merges the cached entries in the range
// over the store below (cached values win, cached deletes hide keys), without writing
// anything down; its views are valid until the next write to this store. The first scan
// while the cache holds entries starts an ordered index of the keys (stores that never
// scan, like key-value aggregations, do not pay for it).
class CachingStore final : public KeyValueBytesStore {
 public:
  CachingStore(std::unique_ptr<KeyValueBytesStore> inner, CacheBudget& budget)
      : inner_(std::move(inner)), budget_(budget) {}
  ~CachingStore() override;

  const std::string& name() const override { return inner_->name(); }
  absl::Status Get(std::string_view key, std::string* value, bool* found) override;
  absl::Status Put(std::string_view key, std::string_view value) override;
  absl::Status PutAbsent(std::string_view key, std::string_view value) override;
  absl::Status Delete(std::string_view key) override;
  absl::StatusOr<std::unique_ptr<StoreIterator>> Range(std::optional<std::string_view> from,
                                                       std::optional<std::string_view> to) override;
  absl::StatusOr<uint64_t> ApproximateNumEntries() override;
  absl::Status Flush() override;
  void SetFlushListener(CacheFlushListener* listener) override {
    listener_ = listener;
    keeps_base_.reset();
  }
  bool caching() const override { return true; }
  void SetPendingWrites(PendingWrites* pending) override { pending_ = pending; }
  // Writes down and forgets the cached entries below `end`, and drops below.
  absl::Status DropBefore(std::string_view end) override;

  // Forgets everything cached (the task failed; nothing dirty may reach the store).
  void Discard();
  // The store below was written around this cache (restoration): the filter of the keys
  // it holds starts over at the next miss, and no entry knows any more that the store
  // below lacks its key.
  void ForgetHeldKeys();
  size_t entries() const { return index_.size(); }

 private:
  struct Entry {
    SmallBytes<40> key;  // set once: the index views it
    SmallBytes<40> value;
    bool deleted = false;
    // Its place in the dirty list (dirty entries in the order of their last write).
    bool is_dirty = false;
    Entry* dirty_prev = nullptr;
    Entry* dirty_next = nullptr;
    // What the store below holds for the key, when known (read through on a miss, or
    // written down by a flush): the old value a flush reports. Kept only for a listener
    // that wants old values.
    bool base_known = false;
    std::optional<std::string> base;
    // The store below is known not to hold the key (a PutAbsent made the entry, or a
    // flush let down its delete): a delete then has nothing to let down.
    bool below_empty = false;
    size_t Bytes() const { return key.size() + value.size() + (base ? base->size() : 0) + 96; }
    bool dirty() const { return is_dirty; }
  };
  using Lru = std::list<Entry>;

  // The entry of `key`, made most recently used; a new one (`*added` set) if absent.
  Entry& Upsert(std::string_view key, bool* added = nullptr);
  // Sets an entry's new value (dirty) and evicts what the budget no longer holds.
  absl::Status Write(Entry& e, std::string_view value);
  // Makes an entry the last dirty one (a write), or takes it off the dirty list.
  void MarkDirty(Entry& e);
  void MarkClean(Entry& e);
  // Lets a dirty entry down and tells the listener; `keep`: the entry stays cached (and
  // now matches the store below), else it is about to be forgotten.
  absl::Status WriteDown(Entry& e, bool keep);
  absl::Status EvictIfNeeded();
  // True if entries keep what the store below holds: a listener wants old values. Asked
  // first at the first read or write-down, once the topology is wired.
  bool KeepsBase();
  // Removes an entry from the cache (its write-down, if dirty, is the caller's).
  void Forget(Lru::iterator entry);
  void Account(size_t before, size_t after);

  // Which keys the store below may hold, so that a miss of a key it never held (a join's
  // lookup of a row its table never had) does not read it: started at the first miss
  // from the keys the store below holds and from this cache's, then told of every entry
  // this cache creates (everything this cache writes down was an entry first).
  bool NeverHeld(std::string_view key);
  StoreKeyFilter held_;

  std::unique_ptr<KeyValueBytesStore> inner_;
  CacheBudget& budget_;
  CacheFlushListener* listener_ = nullptr;
  PendingWrites* pending_ = nullptr;
  std::optional<bool> keeps_base_;
  Lru lru_;  // least recently used first
  // The dirty entries in the order of their last write, so a flush visits only them and
  // lets them down in that order, as Kafka Streams' does. A later window's update cannot
  // then reach a final-results suppression before an earlier window's last update (which
  // the suppression would take for a window that reopened, and emit twice). A listener
  // that wrote back into this same store while it flushes is not supported.
  Entry* dirty_head_ = nullptr;
  Entry* dirty_tail_ = nullptr;
  absl::flat_hash_map<std::string_view, Lru::iterator, StringHash, StringEq> index_;
  // The entry a Get last found or read through: the aggregations' read-modify-write of
  // a key writes it next, and finds it here without another hash lookup.
  std::optional<Lru::iterator> last_;
  // The keys in order, for range scans; started by the first scan of a non-empty cache.
  std::optional<absl::btree_map<std::string_view, const Entry*>> ordered_;
  size_t bytes_ = 0;
};

// Operation counts per store: written by the store's thread only (a relaxed load and
// store, not a locked read-modify-write), readable from any thread.
struct StoreMetrics {
  std::atomic<uint64_t> gets{0};
  std::atomic<uint64_t> puts{0};
  std::atomic<uint64_t> deletes{0};
  std::atomic<uint64_t> scans{0};
  static void Count(std::atomic<uint64_t>& n) {
    n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

class MeteredStore final : public KeyValueBytesStore {
 public:
  MeteredStore(std::unique_ptr<KeyValueBytesStore> inner, std::shared_ptr<StoreMetrics> metrics)
      : inner_(std::move(inner)), metrics_(std::move(metrics)) {}

  const std::string& name() const override { return inner_->name(); }
  absl::Status Get(std::string_view key, std::string* value, bool* found) override {
    StoreMetrics::Count(metrics_->gets);
    return inner_->Get(key, value, found);
  }
  absl::Status Put(std::string_view key, std::string_view value) override {
    StoreMetrics::Count(metrics_->puts);
    return inner_->Put(key, value);
  }
  absl::Status Delete(std::string_view key) override {
    StoreMetrics::Count(metrics_->deletes);
    return inner_->Delete(key);
  }
  absl::StatusOr<std::unique_ptr<StoreIterator>> Range(std::optional<std::string_view> from,
                                                       std::optional<std::string_view> to) override {
    StoreMetrics::Count(metrics_->scans);
    return inner_->Range(from, to);
  }
  absl::StatusOr<uint64_t> ApproximateNumEntries() override { return inner_->ApproximateNumEntries(); }
  absl::Status Flush() override { return inner_->Flush(); }
  absl::Status DropBefore(std::string_view end) override { return inner_->DropBefore(end); }
  absl::Status PutBlind(std::string_view key, std::string_view value) override {
    StoreMetrics::Count(metrics_->puts);
    return inner_->PutBlind(key, value);
  }
  absl::Status PutAbsent(std::string_view key, std::string_view value) override {
    StoreMetrics::Count(metrics_->puts);
    return inner_->PutAbsent(key, value);
  }
  absl::Status ShowBlindWrites() override { return inner_->ShowBlindWrites(); }
  void SetFlushListener(CacheFlushListener* listener) override { inner_->SetFlushListener(listener); }
  void SetPendingWrites(PendingWrites* pending) override { inner_->SetPendingWrites(pending); }
  bool caching() const override { return inner_->caching(); }

 private:
  std::unique_ptr<KeyValueBytesStore> inner_;
  std::shared_ptr<StoreMetrics> metrics_;
};

}  // namespace sluice::internal
