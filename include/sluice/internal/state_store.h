// The byte-level state store interface every store layer implements, and the envelope
// a store keeps per value (value bytes, timestamp, positions). See docs/state.md.
//
// A store instance belongs to one task and is used on that task's worker thread only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sluice/internal/key_filter.h"
#include "sluice/internal/str.h"

namespace sluice::internal {

// Which input record of a task wrote a value: the index of the source topic among the
// task's sources, the record's offset, and its index among the records that one input
// record fanned out to on the way to the store.
struct WritePosition {
  uint32_t source = 0;
  int64_t offset = -1;
  uint32_t sub = 0;
  friend bool operator==(const WritePosition&, const WritePosition&) = default;
};

// Per key: the last write position per source topic. Usually one entry.
class PositionSet {
 public:
  // True if a write at `p` is already reflected: the entry of p.source is at or past it.
  bool Covers(const WritePosition& p) const {
    for (const WritePosition& e : entries_) {
      if (e.source == p.source) {
        return e.offset > p.offset || (e.offset == p.offset && e.sub >= p.sub);
      }
    }
    return false;
  }
  // True if every entry of `other` is covered by this set.
  bool CoversAll(const PositionSet& other) const {
    for (const WritePosition& e : other.entries_) {
      if (!Covers(e)) return false;
    }
    return !other.entries_.empty();
  }
  void Advance(const WritePosition& p) {
    for (WritePosition& e : entries_) {
      if (e.source == p.source) {
        e = p;
        return;
      }
    }
    entries_.push_back(p);
  }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }
  using Entries = absl::InlinedVector<WritePosition, 2>;
  const Entries& entries() const { return entries_; }

  // Appends the varint encoding (count, then source/offset/sub per entry).
  void AppendTo(std::string* out) const;
  // The same encoding written at `p`, which has room for MaxBytes(); returns its end.
  char* WriteTo(char* p) const;
  size_t MaxBytes() const;
  // Parses what AppendTo wrote from the front of `in` and advances it.
  bool ParseFrom(std::string_view* in);

 private:
  // Inline: a set usually holds one source, and the aggregations decode, move and
  // re-encode a set at every update; a heap vector cost an allocation each time.
  Entries entries_;
};

// What a store holds for one key: the encoded envelope is
//   varint(zigzag(timestamp)) positions value-bytes
struct StoredValue {
  std::string_view value;
  int64_t timestamp = 0;
  PositionSet positions;
};

// `value` must not view `out`.
void EncodeStored(std::string_view value, int64_t timestamp, const PositionSet& positions,
                  std::string* out);
bool DecodeStored(std::string_view bytes, StoredValue* out);

// Iterates keys in byte order. Views are valid until the next call.
class StoreIterator {
 public:
  virtual ~StoreIterator() = default;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;  // the envelope
  // The error that ended the iteration early, if any.
  virtual absl::Status status() const = 0;
};

// Notified of the writes a caching layer lets down (on flush and on eviction); DSL
// stores forward them downstream as the table's updates.
class CacheFlushListener {
 public:
  virtual ~CacheFlushListener() = default;
  // `value` is the envelope written, or nullopt for a delete; `old_value` the envelope the
  // store below held before (nullopt if none).
  virtual void OnFlush(std::string_view key, std::optional<std::string_view> value,
                       std::optional<std::string_view> old_value) = 0;
  // False if no one downstream reads old values: the cache then passes nullopt for
  // them and keeps no copy of what the store below holds (as Kafka Streams' caching
  // stores do without sendOldValues). Asked after the topology is wired.
  virtual bool WantsOldValues() { return true; }
};

// Writes a node holds back from its caching store (values it keeps decoded and encodes
// only when needed). The cache asks for them before anyone else reads: for one key
// before a Get of it, for all before a range scan, a flush or a drop.
class PendingWrites {
 public:
  virtual ~PendingWrites() = default;
  // Writes `key`'s held-back value into the store, if any (nullopt: every key's, in the
  // order they were last updated).
  virtual void WritePending(std::optional<std::string_view> key) = 0;
};

// A key-value store over bytes. Values are envelopes (see EncodeStored).
class KeyValueBytesStore {
 public:
  virtual ~KeyValueBytesStore() = default;
  virtual const std::string& name() const = 0;
  // Sets *found and, when found, *value.
  virtual absl::Status Get(std::string_view key, std::string* value, bool* found) = 0;
  virtual absl::Status Put(std::string_view key, std::string_view value) = 0;
  virtual absl::Status Delete(std::string_view key) = 0;
  // Keys in [from, to): an absent bound is open.
  virtual absl::StatusOr<std::unique_ptr<StoreIterator>> Range(
      std::optional<std::string_view> from, std::optional<std::string_view> to) = 0;
  virtual absl::StatusOr<uint64_t> ApproximateNumEntries() = 0;
  // Writes down what this layer buffers (a cache's dirty entries).
  virtual absl::Status Flush() = 0;
  // Only caching layers use it; others ignore it.
  virtual void SetFlushListener(CacheFlushListener* listener) {}
  // Only caching layers take one; a node may hold writes back only then (caching()).
  virtual void SetPendingWrites(PendingWrites* pending) {}
  // True if writes wait in a cache (and reach the flush listener later).
  virtual bool caching() const { return false; }
  // Deletes every key below `end`: retention for stores whose keys begin with a time
  // segment (a window store drops whole expired segments). Nothing goes to the
  // changelog; such a changelog expires by its topic's retention.ms. A persistent store
  // deletes at the next commit (one range deletion), and reads may still see the keys
  // until then; the default deletes key by key at once.
  virtual absl::Status DropBefore(std::string_view end);
  // A write that reads of this store need not see before the next commit, because the
  // caller keeps what it will read elsewhere (a join's in-memory window index): a
  // persistent store buffers it unindexed and writes it sorted at commit, far cheaper
  // than Put. The key must not be written otherwise in the same commit interval.
  // ShowBlindWrites makes the buffered ones visible to reads now. Defaults: Put, no-op.
  virtual absl::Status PutBlind(std::string_view key, std::string_view value) { return Put(key, value); }
  // A Put of a key the caller knows the store does not hold (a window it never wrote):
  // a caching layer then need not read the store below for the old value when it lets
  // the entry down. Default: Put.
  virtual absl::Status PutAbsent(std::string_view key, std::string_view value) { return Put(key, value); }
  virtual absl::Status ShowBlindWrites() { return absl::OkStatus(); }
  // A cache's write-down (flush or eviction): a persistent store keeps it in a hash map
  // that Get reads, not in its ordered pending batch, and writes it, sorted by key, in
  // the commit's atomic batch after the indexed writes: far cheaper than Put for a store
  // that is mostly read by key (a scan first moves them into the ordered batch).
  // Defaults: Put, Delete.
  virtual absl::Status PutAtCommit(std::string_view key, std::string_view value) { return Put(key, value); }
  virtual absl::Status DeleteAtCommit(std::string_view key) { return Delete(key); }
};

// The smallest string greater than every string starting with `prefix`, or nullopt if
// there is none (the prefix is all 0xff bytes): the exclusive end of a prefix scan.
std::optional<std::string> PrefixEnd(std::string_view prefix);

// Which keys a store never held, so that a read of a key it never held can skip the
// store (a miss that would go down to RocksDB's memtables and files). Start reads the
// keys the store holds; its owner then tells it of each key it adds. A growing Bloom
// filter: "never held" is exact, a false positive costs one read. Past kMaxKeys keys
// (about 1.7 MiB of filters), or after a failed Start, it stops answering and frees its
// memory: every key is then read, as without it.
class StoreKeyFilter {
 public:
  static constexpr size_t kMaxKeys = size_t{1} << 20;

  bool started() const { return started_; }
  // Reads the keys of `store`. A read that fails leaves the filter not answering; the
  // error names the store.
  absl::Status Start(KeyValueBytesStore& store) {
    started_ = true;
    std::vector<uint64_t> held;
    absl::StatusOr<std::unique_ptr<StoreIterator>> it = store.Range(std::nullopt, std::nullopt);
    for (; it.ok() && (*it)->Valid() && held.size() <= kMaxKeys; (*it)->Next()) {
      held.push_back(KeyFilter::Hash((*it)->key()));
    }
    absl::Status s = it.ok() ? (*it)->status() : it.status();
    if (!s.ok()) {
      return absl::Status(s.code(), Cat("reading the keys of state store '", store.name(), "': ",
                                        s.message()));
    }
    if (held.size() > kMaxKeys) return absl::OkStatus();
    filter_.emplace(std::max<size_t>(1000, held.size()));
    for (uint64_t h : held) filter_->Add(h);
    return absl::OkStatus();
  }
  // True only for a key the store never held. `hash`: KeyFilter::Hash of the key.
  bool NeverHeld(uint64_t hash) const { return filter_ && !filter_->MayContain(hash); }
  // The owner added a key to the store.
  void Added(uint64_t hash) {
    if (!filter_) return;
    filter_->Add(hash);
    if (filter_->added() > kMaxKeys) filter_.reset();
  }
  void Added(std::string_view key) {
    if (filter_) Added(KeyFilter::Hash(key));
  }
  // The store was written around its owner: the next user starts the filter again.
  void Reset() {
    started_ = false;
    filter_.reset();
  }

 private:
  bool started_ = false;
  std::optional<GrowingKeyFilter> filter_;  // none: not answering
};

}  // namespace sluice::internal
