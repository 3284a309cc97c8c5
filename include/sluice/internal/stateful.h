// Typed stateful operators: stream aggregations (count, reduce, aggregate) and the nodes
// that materialize a table (a table source, KStream::ToTable). Each writes its store
// through the task's store layers and emits the table's updates as Change<V> records:
// per record when the store has no cache, or when the cache lets an entry down (commit,
// eviction) otherwise.
//
// Exactness (docs/state.md): each write records its position (source topic index,
// offset, index among the records that offset fanned out to). A record whose position
// the stored value already covers was applied before a crash or rebalance; it is not
// applied again, and the current value is emitted instead (at-least-once may have lost
// the first emission).
#pragma once

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/internal/key_filter.h"
#include "sluice/internal/node.h"
#include "sluice/internal/source_sink.h"
#include "sluice/internal/stateless.h"
#include "sluice/internal/state_store.h"
#include "sluice/internal/str.h"
#include "sluice/serde.h"

namespace sluice {

// An update of a table: the key's new value (nullopt: deleted) and, where known, the
// value it replaces.
template <class V>
struct Change {
  std::optional<V> new_value;
  std::optional<V> old_value;
  friend bool operator==(const Change&, const Change&) = default;
};

}  // namespace sluice

namespace sluice::internal {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// The store `name` of the task, or a TaskFailure naming it.
inline KeyValueBytesStore& RequireStore(TaskServices& services, std::string_view name) {
  KeyValueBytesStore* store = services.GetStore(name);
  if (store == nullptr) {
    throw TaskFailure(absl::InternalError(Cat("state store '", name, "' is not in this task")));
  }
  return *store;
}

// The GlobalKTable store `name`, or a TaskFailure naming it.
inline KeyValueBytesStore& RequireGlobalStore(TaskServices& services, std::string_view name) {
  KeyValueBytesStore* store = services.GetGlobalStore(name);
  if (store == nullptr) {
    throw TaskFailure(absl::InternalError(Cat("global store '", name, "' is not open")));
  }
  return *store;
}

// Typed reads and writes of one store, reusing buffers between records.
template <Serde KS, Serde VS>
class TypedStore {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  TypedStore(KeyValueBytesStore& store, KS key_serde, VS value_serde)
      : store_(store), key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}

  KeyValueBytesStore& bytes() { return store_; }
  const std::string& name() const { return store_.name(); }

  std::string_view KeyBytes(const K& key, int64_t offset) {
    std::string_view bytes;
    try {
      bytes = SerializeInto(key_serde_, key, key_buf_);
    } catch (const std::exception& e) {
      throw TaskFailure(absl::InvalidArgumentError(
          Cat("cannot serialize the key for state store '", name(), "' (input record at offset ",
              offset, ", serde ", SerdeName<KS>(), "): ", e.what())));
    }
    if (bytes.data() == nullptr) {
      throw TaskFailure(absl::InvalidArgumentError(
          Cat("state store '", name(), "': a null key cannot be stored")));
    }
    return bytes;
  }

  // Reads `key`; on success `out` views this object's buffer until the next call.
  bool Lookup(std::string_view key, StoredValue* out) {
    std::optional<std::string_view> envelope = ReadEnvelope(key);
    if (!envelope) return false;
    DecodeEnvelope(*envelope, out);
    return true;
  }
  // The stored envelope of `key`, viewing this object's buffer until the next call.
  std::optional<std::string_view> ReadEnvelope(std::string_view key) {
    bool found = false;
    Check(store_.Get(key, &get_buf_, &found), "reading");
    if (!found) return std::nullopt;
    return std::string_view(get_buf_);
  }
  void DecodeEnvelope(std::string_view envelope, StoredValue* out) {
    if (!DecodeStored(envelope, out)) {
      throw TaskFailure(absl::DataLossError(
          Cat("state store '", name(), "': a stored value has a malformed envelope")));
    }
  }

  V DecodeValue(std::string_view bytes) {
    V value{};
    DecodeValueInto(bytes, value);
    return value;
  }
  // Into `out`, reusing its buffers (a serde's Deserialize overwrites all of it).
  void DecodeValueInto(std::string_view bytes, V& out) {
    absl::Status s = value_serde_.Deserialize(bytes, out);
    if (!s.ok()) {
      throw TaskFailure(absl::DataLossError(
          Cat("state store '", name(), "': a stored value does not deserialize: ", s.message())));
    }
  }

  K DecodeKey(std::string_view bytes) {
    K key{};
    absl::Status s = key_serde_.Deserialize(bytes, key);
    if (!s.ok()) {
      throw TaskFailure(absl::DataLossError(
          Cat("state store '", name(), "': a stored key does not deserialize: ", s.message())));
    }
    return key;
  }

  // `offset` (of the input record) is for the error message of a value that cannot be
  // serialized.
  // `absent`: the caller knows the store does not hold `key` (KeyValueBytesStore::PutAbsent).
  void Put(std::string_view key, const V& value, int64_t timestamp, const PositionSet& positions,
           int64_t offset, bool absent = false) {
    std::string_view bytes;
    try {
      bytes = SerializeInto(value_serde_, value, value_buf_);
    } catch (const std::exception& e) {
      throw TaskFailure(absl::InvalidArgumentError(
          Cat("cannot serialize the value for state store '", name(), "' (input record at offset ",
              offset, ", serde ", SerdeName<VS>(), "): ", e.what())));
    }
    if (bytes.data() == nullptr) {
      Delete(key);
      return;
    }
    EncodeStored(bytes, timestamp, positions, &envelope_);
    Check(absent ? store_.PutAbsent(key, envelope_) : store_.Put(key, envelope_), "writing");
  }

  void Delete(std::string_view key) { Check(store_.Delete(key), "deleting from"); }

 private:
  void Check(const absl::Status& s, std::string_view what) {
    if (!s.ok()) {
      throw TaskFailure(absl::Status(s.code(), Cat(what, " state store '", name(), "': ",
                                                   s.message())));
    }
  }

  KeyValueBytesStore& store_;
  KS key_serde_;
  VS value_serde_;
  std::string key_buf_, value_buf_, get_buf_, envelope_;
};

// Counts the records that share one source offset on their way to a node, so that the
// writes they cause have distinct positions.
class PositionCounter {
 public:
  WritePosition Next(const BatchContext& context, int64_t offset) {
    if (offset == last_offset_ && context.source_index == last_source_) {
      ++sub_;
    } else {
      last_offset_ = offset;
      last_source_ = context.source_index;
      sub_ = 0;
    }
    return WritePosition{context.source_index, offset, sub_};
  }
  void Reset() { last_offset_ = -1; }

 private:
  int64_t last_offset_ = -1;
  uint32_t last_source_ = 0;
  uint32_t sub_ = 0;
};

// How a table's store keys map to the table's keys: a key-value store holds the key's
// bytes; a window store adds the window (internal/window_store.h). Decode gets the entry's
// envelope (the new one, else the old one) and returns nullopt for a store key that is no
// table row (a window store's stream-time record). Keys whose row identity can change
// under one store key (a session whose end moved) also have Replaced(store, key, old
// envelope, new envelope): the row that the update retracts, if any.
template <Serde KS>
struct PlainKeys {
  using Key = typename KS::Type;
  template <class Store>
  std::optional<Key> Decode(Store& store, std::string_view bytes,
                            std::optional<std::string_view> /*envelope*/) const {
    return store.DecodeKey(bytes);
  }
};

// The part of a table-writing node that emits Change<V> records: per write without a
// cache, on the cache's flushes with one.
template <Serde KS, Serde VS, class Keys = PlainKeys<KS>>
class ChangeEmitter : public CacheFlushListener {
 public:
  using K = typename Keys::Key;
  using V = typename VS::Type;

  ChangeEmitter(TypedStore<KS, VS>& store, int32_t partition, Keys keys = {})
      : store_(store), keys_(std::move(keys)), caching_(store.bytes().caching()) {
    flush_context_.task_partition = partition;
    flush_context_.partition = partition;
    store.bytes().SetFlushListener(this);
  }

  bool caching() const { return caching_; }
  Output<K, Change<V>>& out() { return out_; }
  // The cache's flushes emit nothing (a node that emits final results itself).
  void Silence() { silent_ = true; }

  void Begin() { buffer_.Clear(); }
  void Add(const K& key, std::optional<V> new_value, std::optional<V> old_value,
           int64_t timestamp, int64_t offset, uint32_t seq) {
    Record<K, Change<V>>& r = buffer_.Next();
    r.key = key;
    r.value.new_value = std::move(new_value);
    r.value.old_value = std::move(old_value);
    r.timestamp = timestamp;
    r.offset = offset;
    r.seq = seq;
    r.headers = nullptr;
  }
  void End(const BatchContext* context) {
    out_.Emit(buffer_.View(), true, context != nullptr ? context : &flush_context_);
    buffer_.Clear();
  }

  // At commit: the cache writes down, and each entry it lets down is emitted.
  void FlushStore() {
    Begin();
    absl::Status s = store_.bytes().Flush();
    if (!s.ok()) throw TaskFailure(std::move(s));
    End(nullptr);
  }

  // CacheFlushListener: asked once the graph is wired. A session's old value tells which
  // session an update retracts, so those are always read.
  bool WantsOldValues() override {
    if (silent_) return false;
    if constexpr (requires { keys_.Replaced(store_, std::string_view(), std::nullopt, std::nullopt); }) {
      return true;
    } else {
      if (!wants_old_values_) wants_old_values_ = out_.ReadsOldValues();
      return *wants_old_values_;
    }
  }

  // CacheFlushListener: an entry left the cache (commit or eviction). Its values are
  // decoded straight into the buffer's records, whose strings keep their capacity.
  void OnFlush(std::string_view key, std::optional<std::string_view> envelope,
               std::optional<std::string_view> old_envelope) override {
    if (silent_) return;
    std::optional<K> table_key = keys_.Decode(store_, key, envelope ? envelope : old_envelope);
    if (!table_key) return;
    if constexpr (requires { keys_.Replaced(store_, key, old_envelope, envelope); }) {
      if (std::optional<K> retracted = keys_.Replaced(store_, key, old_envelope, envelope)) {
        Record<K, Change<V>>& gone = Next(std::move(*retracted));
        gone.value.new_value.reset();
        DecodeInto(old_envelope, gone.value.old_value, &gone.timestamp);
        old_envelope.reset();
      }
    }
    Record<K, Change<V>>& r = Next(std::move(*table_key));
    DecodeInto(envelope, r.value.new_value, &r.timestamp);
    int64_t old_timestamp = 0;
    DecodeInto(old_envelope, r.value.old_value, &old_timestamp);
  }

 private:
  Record<K, Change<V>>& Next(K key) {
    Record<K, Change<V>>& r = buffer_.Next();
    r.key = std::move(key);
    r.timestamp = 0;
    r.offset = -1;
    r.seq = 0;
    r.headers = nullptr;
    return r;
  }
  // `out` becomes the envelope's value (nullopt for none), `*timestamp` its timestamp.
  void DecodeInto(std::optional<std::string_view> envelope, std::optional<V>& out, int64_t* timestamp) {
    if (!envelope) {
      out.reset();
      return;
    }
    if (!DecodeStored(*envelope, &stored_)) {
      throw TaskFailure(absl::DataLossError(
          Cat("state store '", store_.name(), "': a cached value has a malformed envelope")));
    }
    *timestamp = stored_.timestamp;
    if (!out) out.emplace();
    store_.DecodeValueInto(stored_.value, *out);
  }

  TypedStore<KS, VS>& store_;
  Keys keys_;
  bool caching_;
  bool silent_ = false;
  Output<K, Change<V>> out_;
  RecordBuffer<K, Change<V>> buffer_;
  BatchContext flush_context_;
  std::optional<bool> wants_old_values_;
  StoredValue stored_;
};

// The values a node wrote to its store last, still decoded, by store key, so that a key
// (or window) updated again soon is not decoded from its bytes at every record. For a
// node that alone writes its store, through a cache. Take moves a value out and leaves
// none kept, so a node that throws before it keeps the next value leaves nothing stale.
// Direct-mapped: `slots` slots (a power of two), a key's slot chosen by its hash, a new
// key evicting the one there. Slots keep their key's bytes and the value's buffers, so
// that once warm, keeping a value (even of a key never seen before) allocates nothing of
// its own.
//
// A value may be kept dirty: the node has not written it to the store yet (encoding an
// aggregate at every update is what a list of bids costs most). Its write is then owed:
// `write(key, value, absent)` is called when a new key evicts it, for one key or all
// (WriteDirty, in the order they were kept) when the store is read or flushed
// (PendingWrites), and `absent` says the store never held the key. A taken value's debt
// goes with it (Take's `*dirty`, `*absent`).
template <class Value>
class KeptDecoded {
 public:
  explicit KeptDecoded(size_t slots) : mask_(std::bit_ceil(slots) - 1) {}

  // `hash`: StringHash of the key (KeyFilter::Hash), when the caller has it already.
  bool Take(std::string_view key, Value* out, bool* dirty = nullptr, bool* absent = nullptr) {
    return Take(key, StringHash{}(key), out, dirty, absent);
  }
  bool Take(std::string_view key, uint64_t hash, Value* out, bool* dirty, bool* absent) {
    if (slots_.empty()) return false;
    Slot& slot = slots_[hash & mask_];
    if (!slot.held || !slot.key.Equals(key)) return false;
    *out = std::move(slot.value);
    if (dirty != nullptr) *dirty = slot.dirty;
    if (absent != nullptr) *absent = slot.absent;
    slot.held = slot.dirty = false;
    return true;
  }
  // Keeps a value the store holds already.
  void Keep(std::string_view key, Value value) {
    Keep(key, StringHash{}(key), std::move(value), false, false, [](std::string_view, const Value&, bool) {});
  }
  template <class Write>
  void Keep(std::string_view key, uint64_t hash, Value value, bool dirty, bool absent, Write&& write) {
    if (slots_.empty()) slots_.resize(mask_ + 1);
    Slot& slot = slots_[hash & mask_];
    if (slot.held && slot.dirty && !slot.key.Equals(key)) {
      slot.dirty = false;
      write(slot.key.view(), std::as_const(slot.value), slot.absent);
    }
    slot.key.Assign(key);
    slot.value = std::move(value);
    slot.held = true;
    slot.dirty = dirty;
    slot.absent = absent;
    if (dirty) slot.seq = ++seq_;
  }
  // Writes `key`'s value if it is owed; with no key, every owed value, in the order they
  // were kept (PendingWrites::WritePending).
  template <class Write>
  void WriteDirty(std::optional<std::string_view> key, Write&& write) {
    if (key) {
      if (slots_.empty()) return;
      Slot& slot = slots_[StringHash{}(*key) & mask_];
      if (!slot.held || !slot.dirty || !slot.key.Equals(*key)) return;
      slot.dirty = false;
      write(slot.key.view(), std::as_const(slot.value), slot.absent);
      return;
    }
    dirty_.clear();
    for (Slot& slot : slots_) {
      if (slot.held && slot.dirty) dirty_.push_back(&slot);
    }
    std::sort(dirty_.begin(), dirty_.end(), [](const Slot* a, const Slot* b) { return a->seq < b->seq; });
    for (Slot* slot : dirty_) {
      slot->dirty = false;
      write(slot->key.view(), std::as_const(slot->value), slot->absent);
    }
  }
  void Clear() { slots_.clear(); }

 private:
  // A slot's key, in place up to kInline bytes (a window's store key is 24): comparing
  // it touches no second cache line.
  class Key {
   public:
    std::string_view view() const {
      return size_ <= kInline ? std::string_view(inline_, size_) : std::string_view(long_);
    }
    bool Equals(std::string_view key) const {
      return key.size() == size_ &&
             (size_ == 0 || std::memcmp(key.data(), size_ <= kInline ? inline_ : long_.data(), size_) == 0);
    }
    void Assign(std::string_view key) {
      size_ = key.size();
      if (size_ <= kInline) {
        if (size_ != 0) std::memcpy(inline_, key.data(), size_);
      } else {
        long_.assign(key);
      }
    }

   private:
    static constexpr size_t kInline = 32;
    size_t size_ = 0;
    char inline_[kInline];
    std::string long_;
  };
  struct Slot {
    Key key;
    Value value{};
    bool held = false;
    bool dirty = false;   // its write to the store is owed
    bool absent = false;  // the store never held the key
    uint64_t seq = 0;     // when it was kept dirty
  };

  size_t mask_;
  std::vector<Slot> slots_;  // allocated at the first Keep
  uint64_t seq_ = 0;
  std::vector<Slot*> dirty_;
};

// The decoded contents of a stored entry: its value, timestamp and positions.
template <class V>
struct DecodedEntry {
  V value{};
  int64_t timestamp = 0;
  PositionSet positions;
  // While its write is owed (KeptDecoded): the input record that made it, for errors.
  int64_t offset = -1;
  int32_t partition = -1;
  uint32_t topic = 0;  // RecordOrigins::Intern
};

// Where the input records of a node's held-back writes (KeptDecoded) came from, so that
// a write that fails later (a value its serde refuses) still names the record's topic,
// partition and offset. Topics are interned: a task reads a few.
class RecordOrigins {
 public:
  uint32_t Intern(std::string_view topic) {
    if (last_ < topics_.size() && topics_[last_] == topic) return last_;
    for (last_ = 0; last_ < topics_.size(); ++last_) {
      if (topics_[last_] == topic) return last_;
    }
    topics_.emplace_back(topic);
    return last_;
  }
  // Runs `write` (a held-back write of an entry made by a record of `topic`, `partition`);
  // a TaskFailure it throws also names those.
  template <class F>
  void Write(uint32_t topic, int32_t partition, F&& write) {
    try {
      write();
    } catch (const TaskFailure& failure) {
      throw TaskFailure(absl::Status(
          failure.status().code(),
          Cat(failure.status().message(), " (a held-back write: the input record was from topic '",
              topic < topics_.size() ? topics_[topic] : std::string("?"), "' partition ", partition, ")")));
    }
  }

 private:
  std::vector<std::string> topics_;
  size_t last_ = 0;
};

// count / reduce / aggregate of a grouped stream (V: its values) or of a grouped table
// (V: Change<...>, the subtraction and addition of a row's old and new value).
// `Apply(key, value, std::optional<VA>&& current)` returns the new aggregate (current is
// nullopt for a key seen for the first time; Apply may move from it); a table aggregation
// may return std::optional, where nullopt deletes the key. `value` is an rvalue when the
// batch is movable (Apply may move from it too), a const lvalue otherwise.
//
// With a cache, the aggregates of the last kRecentKeys keys stay decoded in the node
// (KeptDecoded), and their writes are held back until the key is evicted from there or
// the store is read by anyone else, flushed or committed (PendingWrites).
template <class V, Serde KS, Serde VAS, class Apply>
class AggregateNode final : public Input<typename KS::Type, V>, PendingWrites {
 public:
  using K = typename KS::Type;
  using VA = typename VAS::Type;

  AggregateNode(std::string_view store, KS ks, VAS vas, Apply apply, TaskServices& services)
      : store_(RequireStore(services, store), std::move(ks), std::move(vas)),
        emitter_(store_, services.partition()), apply_(std::move(apply)) {
    if (emitter_.caching()) store_.bytes().SetPendingWrites(this);
  }
  ~AggregateNode() override {
    if (emitter_.caching()) store_.bytes().SetPendingWrites(nullptr);
  }

  absl::Status AddChild(NodeInstance* child) override { return emitter_.out().Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    emitter_.Begin();
    if (!held_.started()) {
      if (absl::Status s = held_.Start(store_.bytes()); !s.ok()) throw TaskFailure(std::move(s));
    }
    const uint32_t topic = origins_.Intern(batch.context->topic);
    const int32_t partition = batch.context->partition;
    StoredValue stored;
    for (Record<K, V>* r : batch.records) {
      // Kafka Streams' aggregations skip null keys and values.
      if constexpr (IsOptional<K>::value) {
        if (!r->key) continue;
      }
      if constexpr (IsOptional<V>::value) {
        if (!r->value) continue;
      }
      const WritePosition position = counter_.Next(*batch.context, r->offset);
      std::string_view key = store_.KeyBytes(r->key, r->offset);
      std::optional<VA> current;
      int64_t timestamp = r->timestamp;
      PositionSet positions;
      int64_t stored_timestamp = 0;
      bool never_held = false;  // the store has never held the key
      bool owed = false;        // the taken value's write is owed
      const uint64_t hash = KeyFilter::Hash(key);  // for the kept values and the filter
      if (DecodedEntry<VA> hot; recent_.Take(key, hash, &hot, &owed, &never_held)) {
        // What this node last wrote for the key, still decoded.
        if (!owed) never_held = false;
        stored_timestamp = hot.timestamp;
        positions = std::move(hot.positions);
        current = std::move(hot.value);
      } else {
        never_held = held_.NeverHeld(hash);
        if (!never_held && store_.Lookup(key, &stored)) {
          stored_timestamp = stored.timestamp;
          positions = std::move(stored.positions);
          current = store_.DecodeValue(stored.value);
        }
      }
      if (current) {
        timestamp = std::max(timestamp, stored_timestamp);
        if (positions.Covers(position)) {
          // Applied before: emit what the store holds (unless the cache will).
          if (!emitter_.caching()) {
            emitter_.Add(r->key, current, current, stored_timestamp, r->offset, r->seq);
          }
          Remember(key, hash, DecodedEntry<VA>{std::move(*current), stored_timestamp, std::move(positions),
                                         r->offset, partition, topic},
                   owed, never_held);
          continue;
        }
      }
      // The aggregate is handed over to be updated in place; a copy only when the old
      // value is emitted below (no cache). The record's value too, when the batch is this
      // node's alone (a reduce's first value becomes the aggregate).
      const bool existed = current.has_value();
      std::optional<VA> handed = emitter_.caching() ? std::move(current) : std::optional<VA>(current);
      std::optional<VA> next = batch.movable
                                   ? apply_(std::as_const(r->key), std::move(r->value), std::move(handed))
                                   : apply_(std::as_const(r->key), std::as_const(r->value), std::move(handed));
      positions.Advance(position);
      if (next) {
        if (!existed) held_.Added(hash);
        if (emitter_.caching()) {
          // Written when evicted from the kept values, or when the store is read or flushed.
          Remember(key, hash, DecodedEntry<VA>{std::move(*next), timestamp, std::move(positions), r->offset,
                                         partition, topic},
                   true, never_held);
        } else {
          store_.Put(key, *next, timestamp, positions, r->offset, never_held);
        }
      } else if (existed) {
        store_.Delete(key);
      }
      if (!emitter_.caching()) {
        emitter_.Add(r->key, std::move(next), std::move(current), timestamp, r->offset, r->seq);
      }
    }
    emitter_.End(batch.context);
  }

  void FlushCache() override { emitter_.FlushStore(); }
  void Reset() override {
    counter_.Reset();
    recent_.Clear();
  }

  // PendingWrites: the store is about to be read, flushed or scanned.
  void WritePending(std::optional<std::string_view> key) override {
    recent_.WriteDirty(key,
                       [this](std::string_view k, const DecodedEntry<VA>& e, bool a) { WriteOwed(k, e, a); });
  }

 private:
  // The aggregates this node updated last, decoded, in kRecentKeys slots (a hot auction's
  // top ten, a busy customer's totals); only when the store caches. `owed`: not written
  // to the store yet; `absent`: the store never held the key.
  static constexpr size_t kRecentKeys = 1024;
  void Remember(std::string_view key, uint64_t hash, DecodedEntry<VA> entry, bool owed, bool absent) {
    recent_.Keep(key, hash, std::move(entry), owed, absent,
                 [this](std::string_view k, const DecodedEntry<VA>& e, bool a) { WriteOwed(k, e, a); });
  }
  void WriteOwed(std::string_view key, const DecodedEntry<VA>& e, bool absent) {
    origins_.Write(e.topic, e.partition,
                   [&] { store_.Put(key, e.value, e.timestamp, e.positions, e.offset, absent); });
  }

  TypedStore<KS, VAS> store_;
  ChangeEmitter<KS, VAS> emitter_;
  Apply apply_;
  PositionCounter counter_;
  KeptDecoded<DecodedEntry<VA>> recent_{kRecentKeys};
  RecordOrigins origins_;
  StoreKeyFilter held_;
};

// Writes (key, new value or delete) into a table's store and emits the change.
template <Serde KS, Serde VS>
class TableWriter {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  TableWriter(std::string_view store, KS ks, VS vs, TaskServices& services)
      : store_(RequireStore(services, store), std::move(ks), std::move(vs)),
        emitter_(store_, services.partition()) {}

  ChangeEmitter<KS, VS>& emitter() { return emitter_; }

  void Upsert(const K& key, std::optional<V> value, int64_t timestamp, int64_t offset,
              uint32_t seq, const WritePosition& position) {
    std::string_view key_bytes = store_.KeyBytes(key, offset);
    StoredValue stored;
    std::optional<V> old;
    PositionSet positions;
    if (store_.Lookup(key_bytes, &stored)) {
      positions = std::move(stored.positions);
      if (positions.Covers(position)) {
        if (!emitter_.caching()) {
          std::optional<V> current = store_.DecodeValue(stored.value);
          emitter_.Add(key, current, current, stored.timestamp, offset, seq);
        }
        return;
      }
      if (!emitter_.caching()) old = store_.DecodeValue(stored.value);
    } else if (!value) {
      return;  // deleting what is not there changes nothing
    }
    if (value) {
      positions.Advance(position);
      store_.Put(key_bytes, *value, timestamp, positions, offset);
    } else {
      store_.Delete(key_bytes);
    }
    if (!emitter_.caching()) emitter_.Add(key, std::move(value), std::move(old), timestamp, offset, seq);
  }

 private:
  TypedStore<KS, VS> store_;
  ChangeEmitter<KS, VS> emitter_;
};

// StreamsBuilder::Table: reads a topic as a table. A null value deletes the key; a record
// with a null key is skipped (and counted).
template <Serde KS, Serde VS>
class TableSourceNode final : public SourceInput {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  TableSourceNode(std::string_view store, KS ks, VS vs, TimestampExtractorFn<K, V> extractor,
                  std::optional<InvalidTimestampPolicy> policy, TaskServices& services)
      : key_serde_(ks), value_serde_(vs), services_(services),
        writer_(store, std::move(ks), std::move(vs), services), extractor_(std::move(extractor)),
        stamper_(policy, static_cast<bool>(extractor_), services) {}

  absl::Status AddChild(NodeInstance* child) override {
    return writer_.emitter().out().Wire(child);
  }

  void ProcessRaw(std::span<const RawRecord> raw, const BatchContext& context) override {
    writer_.emitter().Begin();
    stamper_.Begin(context);
    for (size_t i = 0; i < raw.size(); ++i) {
      const RawRecord& in = raw[i];
      if (in.key.data() == nullptr) {
        services_.RecordSkipped(context, in.offset, absl::InvalidArgumentError(Cat(
            "a table record has a null key at topic '", context.topic, "' partition ",
            context.partition, " offset ", in.offset)));
        continue;
      }
      absl::Status status = key_serde_.Deserialize(in.key, key_);
      const char* part = "key";
      std::optional<V> value;
      if (status.ok() && in.value.data() != nullptr) {
        value.emplace();
        status = value_serde_.Deserialize(in.value, *value);
        part = "value";
      }
      if (!status.ok()) {
        absl::Status why = absl::InvalidArgumentError(Cat(
            "failed to deserialize the ", part, " of the record at topic '", context.topic,
            "' partition ", context.partition, " offset ", in.offset, ": ", status.message()));
        if (services_.deserialization_policy() == DeserializationErrorPolicy::kFail) {
          throw TaskFailure(std::move(why));
        }
        services_.RecordSkipped(context, in.offset,
                                absl::Status(why.code(), Cat(why.message(), " (default.deserialization."
                                                                            "exception.handler=continue)")));
        continue;
      }
      // A tombstone has no value to extract from: it keeps its record timestamp.
      int64_t timestamp = stamper_.Base(in.timestamp);
      if (extractor_ && value) {
        timestamp = extractor_(std::as_const(key_), std::as_const(*value), in.timestamp,
                               stamper_.partition_time());
      }
      std::optional<int64_t> stamped = stamper_.Stamp(timestamp, context, in.offset);
      if (!stamped) continue;
      writer_.Upsert(key_, std::move(value), *stamped, in.offset, static_cast<uint32_t>(i),
                     WritePosition{context.source_index, in.offset, 0});
    }
    stamper_.EndBatch(context);
    writer_.emitter().End(&context);
  }

  void FlushCache() override { writer_.emitter().FlushStore(); }

 private:
  KS key_serde_;
  VS value_serde_;
  TaskServices& services_;
  TableWriter<KS, VS> writer_;
  TimestampExtractorFn<K, V> extractor_;
  TimestampStamper stamper_;
  K key_{};
};

// KStream::ToTable: each record upserts its key; a stream of std::optional values deletes
// the key on nullopt.
template <class VIn, Serde KS, Serde VS>
class ToTableNode final : public Input<typename KS::Type, VIn> {
 public:
  using K = typename KS::Type;

  ToTableNode(std::string_view store, KS ks, VS vs, TaskServices& services)
      : writer_(store, std::move(ks), std::move(vs), services) {}

  absl::Status AddChild(NodeInstance* child) override {
    return writer_.emitter().out().Wire(child);
  }

  void Process(const Batch<K, VIn>& batch) override {
    writer_.emitter().Begin();
    for (Record<K, VIn>* r : batch.records) {
      const WritePosition position = counter_.Next(*batch.context, r->offset);
      std::optional<typename VS::Type> value;
      if constexpr (IsOptional<VIn>::value) {
        value = r->value;
      } else {
        value = r->value;
      }
      writer_.Upsert(r->key, std::move(value), r->timestamp, r->offset, r->seq, position);
    }
    writer_.emitter().End(batch.context);
  }

  void FlushCache() override { writer_.emitter().FlushStore(); }
  void Reset() override { counter_.Reset(); }

 private:
  TableWriter<KS, VS> writer_;
  PositionCounter counter_;
};

// A stateless node over a table's changes: each record's value becomes fn(key, change).
template <class K, class V, class VOut, class Fn>
class ChangeMapNode final : public Input<K, Change<V>> {
 public:
  explicit ChangeMapNode(Fn fn) : fn_(std::move(fn)) {}
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }
  bool ReadsOldValues() const override {
    if constexpr (requires { Fn::kOldValuesGoOn; }) {
      return out_.ReadsOldValues();
    } else if constexpr (requires { Fn::kIgnoresOldValues; }) {
      return false;
    } else {
      return true;
    }
  }
  void Process(const Batch<K, Change<V>>& batch) override {
    buffer_.Clear();
    for (Record<K, Change<V>>* r : batch.records) {
      Record<K, VOut>& out = buffer_.Next();
      if (batch.movable) {
        // The records are this node's alone: the key and the change are moved on.
        out.key = std::move(r->key);
        out.value = fn_(std::as_const(out.key), std::move(r->value));
      } else {
        out.key = r->key;
        out.value = fn_(std::as_const(r->key), std::as_const(r->value));
      }
      CopyMeta(*r, out);
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  Fn fn_;
  Output<K, VOut> out_;
  RecordBuffer<K, VOut> buffer_;
};

// KTable::ToStream: the new value of each change (nullopt for a delete).
struct NewValueOf {
  static constexpr bool kIgnoresOldValues = true;
  template <class K, class V>
  std::optional<V> operator()(const K&, const Change<V>& change) const {
    return change.new_value;
  }
  template <class K, class V>
  std::optional<V> operator()(const K&, Change<V>&& change) const {
    return std::move(change.new_value);
  }
};

// KTable::Filter / FilterNot: a value the predicate rejects becomes absent, so a change
// to a rejected value is a delete.
template <class P, bool kNegate>
struct FilterChange {
  static constexpr bool kOldValuesGoOn = true;  // mapped as the new ones
  P predicate;
  template <class K, class V>
  Change<V> operator()(const K& key, const Change<V>& change) {
    return Change<V>{Keep(key, change.new_value), Keep(key, change.old_value)};
  }
  template <class K, class V>
  std::optional<V> Keep(const K& key, const std::optional<V>& value) {
    if (!value) return std::nullopt;
    const bool pass = static_cast<bool>(predicate(key, *value)) != kNegate;
    return pass ? value : std::nullopt;
  }
};

// KTable::MapValues: maps both values of a change.
template <class V2, class F>
struct MapChange {
  static constexpr bool kOldValuesGoOn = true;
  F f;
  template <class K, class V>
  Change<V2> operator()(const K& key, const Change<V>& change) {
    return Change<V2>{Map(key, change.new_value), Map(key, change.old_value)};
  }
  template <class K, class V>
  std::optional<V2> Map(const K& key, const std::optional<V>& value) {
    if (!value) return std::nullopt;
    if constexpr (std::is_invocable_v<F&, const K&, const V&>) {
      return f(key, *value);
    } else {
      return f(*value);
    }
  }
};

// The value serde of a KTable::GroupBy repartition topic: a change as
//   flags (1 byte: 1 = new value present, 2 = old value present)
//   [varint length of the new value's bytes, the bytes] [the old value's bytes]
template <Serde VS>
class ChangeSerde {
 public:
  using Type = Change<typename VS::Type>;
  static constexpr std::string_view kName = "ChangeSerde";

  ChangeSerde() = default;
  explicit ChangeSerde(VS inner) : inner_(std::move(inner)) {}

  void Serialize(const Type& change, std::string& buf) const {
    buf.clear();
    buf.push_back(static_cast<char>((change.new_value ? 1 : 0) | (change.old_value ? 2 : 0)));
    if (change.new_value) {
      inner_.Serialize(*change.new_value, scratch_);
      uint64_t n = scratch_.size();
      while (n >= 0x80) {
        buf.push_back(static_cast<char>(n | 0x80));
        n >>= 7;
      }
      buf.push_back(static_cast<char>(n));
      buf += scratch_;
    }
    if (change.old_value) {
      inner_.Serialize(*change.old_value, scratch_);
      buf += scratch_;
    }
  }

  absl::Status Deserialize(std::string_view bytes, Type& out) const {
    if (bytes.empty()) return absl::InvalidArgumentError("ChangeSerde: no bytes");
    const auto flags = static_cast<uint8_t>(bytes[0]);
    bytes.remove_prefix(1);
    out.new_value.reset();
    out.old_value.reset();
    if (flags & 1) {
      uint64_t n = 0;
      int shift = 0;
      while (true) {
        if (bytes.empty() || shift > 63) return absl::InvalidArgumentError("ChangeSerde: truncated");
        const auto b = static_cast<uint8_t>(bytes[0]);
        bytes.remove_prefix(1);
        n |= static_cast<uint64_t>(b & 0x7f) << shift;
        shift += 7;
        if ((b & 0x80) == 0) break;
      }
      if (n > bytes.size()) return absl::InvalidArgumentError("ChangeSerde: truncated");
      out.new_value.emplace();
      if (absl::Status s = inner_.Deserialize(bytes.substr(0, n), *out.new_value); !s.ok()) return s;
      bytes.remove_prefix(n);
    }
    if (flags & 2) {
      out.old_value.emplace();
      if (absl::Status s = inner_.Deserialize(bytes, *out.old_value); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  VS inner_;
  mutable std::string scratch_;  // per-call scratch; serdes are used by one thread each
};

// KTable::GroupBy: each change of the table becomes a subtraction of the old value under
// its old group key and an addition of the new value under its new group key.
template <class K, class V, class K2, class V2, class F>
class TableSelectNode final : public Input<K, Change<V>> {
 public:
  explicit TableSelectNode(F selector) : selector_(std::move(selector)) {}
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }
  void Process(const Batch<K, Change<V>>& batch) override {
    buffer_.Clear();
    for (Record<K, Change<V>>* r : batch.records) {
      if (r->value.old_value) Add(*r, selector_(std::as_const(r->key), *r->value.old_value), false);
      if (r->value.new_value) Add(*r, selector_(std::as_const(r->key), *r->value.new_value), true);
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  template <class KV>
  void Add(const Record<K, Change<V>>& in, KV&& kv, bool is_new) {
    Record<K2, Change<V2>>& out = buffer_.Next();
    out.key = KeyOf(std::forward<KV>(kv));
    out.value.new_value.reset();
    out.value.old_value.reset();
    (is_new ? out.value.new_value : out.value.old_value) = ValueOf(std::forward<KV>(kv));
    out.timestamp = in.timestamp;
    out.offset = in.offset;
    out.seq = in.seq;
    out.headers = nullptr;
  }

  F selector_;
  Output<K2, Change<V2>> out_;
  RecordBuffer<K2, Change<V2>> buffer_;
};

}  // namespace sluice::internal
