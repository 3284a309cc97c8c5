// Windowed aggregations of a grouped stream (docs/time.md): count / reduce / aggregate
// over time windows (tumbling, hopping), sliding windows and session windows. Each
// writes its windows into a window or session store (internal/window_store.h) and emits
// the updates as Change<VA> records keyed by Windowed<K>: per update without a cache, on
// the cache's flushes with one.
//
// Stream time is per aggregation, as in Kafka Streams (observedStreamTime): the largest
// timestamp it has seen. A window closes when stream time passes its end by the grace
// period; a record for a closed window is dropped and counted (TaskServices::RecordLate).
// The stream time is written to the store at each commit, so a restarted task closes
// windows where it left off. Segments wholly older than the retention are dropped.
//
// Exactness is per window, as for other aggregations (docs/state.md): a window whose
// positions already cover a record's position is not updated by it again.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/internal/node.h"
#include "sluice/internal/open_windows.h"
#include "sluice/internal/session_index.h"
#include "sluice/internal/stateful.h"
#include "sluice/internal/str.h"
#include "sluice/internal/window_store.h"
#include "sluice/windows.h"

namespace sluice::internal {

// Store keys of a window store as Windowed<K>: [segment][key][start]; the window ends
// `size_ms` after its start.
template <Serde KS>
struct WindowKeys {
  using Key = Windowed<typename KS::Type>;
  int64_t size_ms = 0;
  template <class Store>
  std::optional<Key> Decode(Store& store, std::string_view bytes,
                            std::optional<std::string_view> /*envelope*/) const {
    if (bytes == kStreamTimeKey || bytes.size() < 16) return std::nullopt;
    const int64_t start = ReadOrdered64(bytes.substr(bytes.size() - 8));
    return Key{store.DecodeKey(bytes.substr(8, bytes.size() - 16)), Window{start, start + size_ms}};
  }
};

// Store keys of a session store as Windowed<K>: [segment][key][start], the session's end
// in the envelope's timestamp.
template <Serde KS>
struct SessionKeys {
  using Key = Windowed<typename KS::Type>;
  template <class Store>
  std::optional<Key> Decode(Store& store, std::string_view bytes,
                            std::optional<std::string_view> envelope) const {
    std::optional<int64_t> end = EndOf(envelope);
    if (bytes == kStreamTimeKey || bytes.size() < 16 || !end) return std::nullopt;
    const int64_t start = ReadOrdered64(bytes.substr(bytes.size() - 8));
    return Key{store.DecodeKey(bytes.substr(8, bytes.size() - 16)), Window{start, *end}};
  }
  // A session that grew at its end kept its store key: the update retracts the session
  // with the old end (the cache let only the last write of the key down).
  template <class Store>
  std::optional<Key> Replaced(Store& store, std::string_view bytes,
                              std::optional<std::string_view> old_envelope,
                              std::optional<std::string_view> envelope) const {
    std::optional<int64_t> old_end = EndOf(old_envelope);
    std::optional<int64_t> end = EndOf(envelope);
    if (!old_end || !end || *old_end == *end) return std::nullopt;
    return Decode(store, bytes, old_envelope);
  }
  static std::optional<int64_t> EndOf(std::optional<std::string_view> envelope) {
    StoredValue stored;
    if (!envelope || !DecodeStored(*envelope, &stored)) return std::nullopt;
    return stored.timestamp;
  }
};

// A windowed aggregation's stream time, recorded in its store, and the retention of the
// store's segments.
class WindowClock {
 public:
  WindowClock(KeyValueBytesStore& store, int64_t retention_ms)
      : store_(store), segments_(retention_ms), retention_ms_(retention_ms) {}

  const Segments& segments() const { return segments_; }
  WrittenFilter& written() { return written_; }
  // The stream time after seeing `timestamp`.
  int64_t Observe(int64_t timestamp) {
    if (!loaded_) {
      // Not in the constructor: the store is restored after the nodes are built.
      loaded_ = true;
      now_ = recorded_ = ReadStreamTime(store_).value_or(kNone);
      const std::optional<int64_t> last = LastSegment(store_);
      written_.Start(last);
      // Every window the store held at start ends before the end of its last segment.
      // (Not the recorded stream time: a changelog tail restored after a crash in the
      // middle of a flush may hold windows written after the last recorded time.)
      held_before_ = last ? (*last + 1) * segments_.interval() : kNone;
    }
    now_ = std::max(now_, timestamp);
    return now_;
  }
  int64_t now() const { return now_; }
  // After the first Observe: every window the store held when the aggregation started
  // ends before this (std::numeric_limits<int64_t>::min() for an empty store).
  int64_t held_before() const { return held_before_; }
  // Every window ending before this has been dropped with its segment.
  int64_t expired_before() const {
    return dropped_ == std::numeric_limits<int64_t>::min() ? kNone : dropped_ * segments_.interval();
  }

  // Idle close (IdleAdvance): called when a batch is done, and at wall-clock
  // punctuations; true if stream time moved.
  void Touch(int64_t wall) { idle_.Touch(wall, now_); }
  bool AdvanceIdle(int64_t wall, int64_t idle_ms) {
    std::optional<int64_t> t = idle_.At(wall, idle_ms, now_);
    if (t) now_ = *t;
    return t.has_value();
  }

  // Drops the segments whose windows are all older than the retention (rarely: once per
  // segment interval of stream time).
  void DropExpired() {
    if (now_ == kNone) return;
    const int64_t segment = segments_.Of(now_ - retention_ms_);
    if (segment <= dropped_) return;
    dropped_ = segment;
    written_.DropBefore(segment);
    std::string end;
    AppendOrdered64(segment, &end);
    if (absl::Status s = store_.DropBefore(end); !s.ok()) {
      throw TaskFailure(absl::Status(s.code(), Cat("dropping expired windows of state store '",
                                                   store_.name(), "': ", s.message())));
    }
  }

  // At commit: writes the stream time down if it moved.
  void Record() {
    if (!loaded_ || now_ == recorded_) return;
    WriteStreamTime(store_, now_);
    recorded_ = now_;
  }

 private:
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  KeyValueBytesStore& store_;
  Segments segments_;
  int64_t retention_ms_;
  WrittenFilter written_;
  bool loaded_ = false;
  int64_t now_ = kNone;
  int64_t recorded_ = kNone;
  int64_t held_before_ = kNone;
  int64_t dropped_ = std::numeric_limits<int64_t>::min();
  IdleAdvance idle_;
};

// What a windowed aggregation node is told at build time.
struct WindowAggregateSpec {
  std::string name;    // the processor's name, for logs
  std::string store;
  int64_t retention_ms = 0;
  // EmitStrategy::OnWindowClose (time windows): emit each window once, when it closes,
  // instead of its updates.
  bool emit_final = false;
};

// The parts every windowed aggregation node shares: typed store, emitter, clock, and the
// write of one window.
template <Serde KS, Serde VAS, class Keys>
class WindowedAggregation {
 public:
  using K = typename KS::Type;
  using VA = typename VAS::Type;
  using WK = Windowed<K>;

  WindowedAggregation(const WindowAggregateSpec& spec, KS ks, VAS vas, Keys keys,
                      TaskServices& services)
      : spec_(spec), services_(services),
        store_(RequireStore(services, spec.store), std::move(ks), std::move(vas)),
        emitter_(store_, services.partition(), std::move(keys)),
        clock_(store_.bytes(), spec.retention_ms) {
    if (spec.emit_final) emitter_.Silence();
  }

  const WindowAggregateSpec& spec() const { return spec_; }
  // Whether this node emits each update itself (no cache, not final results).
  bool EmitsUpdates() const { return !emitter_.caching() && !spec_.emit_final; }
  TypedStore<KS, VAS>& store() { return store_; }
  ChangeEmitter<KS, VAS, Keys>& emitter() { return emitter_; }
  WindowClock& clock() { return clock_; }

  // The current record's key bytes (valid until the next record).
  std::string_view KeyBytes(const K& key, int64_t offset) {
    key_bytes_.assign(store_.KeyBytes(key, offset));
    return key_bytes_;
  }

  // Reads the window under `store_key`; nullopt if absent.
  using Current = DecodedEntry<VA>;
  std::optional<Current> Read(std::string_view store_key) {
    if (!store_.Lookup(store_key, &stored_)) return std::nullopt;
    return Current{store_.DecodeValue(stored_.value), stored_.timestamp, std::move(stored_.positions)};
  }

  // Decodes a window's envelope as the store returned it.
  Current Decode(std::string_view envelope) {
    StoredValue stored;
    if (!DecodeStored(envelope, &stored)) {
      throw TaskFailure(absl::DataLossError(
          Cat("state store '", spec_.store, "': a stored window has a malformed envelope")));
    }
    return Current{store_.DecodeValue(stored.value), stored.timestamp, std::move(stored.positions)};
  }

  // Writes `next` to `key`'s window `w` and emits the change (unless the cache will: the
  // Windowed<K> key, a copy of `key`, is made only for an emission). `absent`: the
  // aggregation knows the store does not hold this window.
  void Write(std::string_view store_key, const K& key, const Window& w, VA next,
             std::optional<VA> old, int64_t timestamp, const PositionSet& positions,
             int64_t offset, uint32_t seq, bool absent = false) {
    store_.Put(store_key, next, timestamp, positions, offset, absent);
    if (EmitsUpdates()) {
      emitter_.Add(WK{key, w}, std::optional<VA>(std::move(next)), std::move(old), timestamp,
                   offset, seq);
    }
  }

  // Removes a window and emits its deletion (unless the cache will).
  void Remove(std::string_view store_key, const K& key, const Window& w, std::optional<VA> old,
              int64_t timestamp, int64_t offset, uint32_t seq) {
    store_.Delete(store_key);
    if (EmitsUpdates()) emitter_.Add(WK{key, w}, std::nullopt, std::move(old), timestamp, offset, seq);
  }

  // A replayed record already in this window: emit the window as it is (unless the cache
  // will), since the first emission may have been lost.
  void Replayed(const K& key, const Window& w, const Current& current, int64_t offset, uint32_t seq) {
    if (EmitsUpdates()) {
      emitter_.Add(WK{key, w}, current.value, current.value, current.timestamp, offset, seq);
    }
  }

  void Late(const BatchContext& context, int64_t offset, int64_t timestamp, std::string_view why) {
    services_.RecordLate(context, offset, timestamp,
                         Cat("windowed aggregation '", spec_.name, "' (store '", spec_.store,
                             "'): ", why, "; stream time ", clock_.now()));
  }

  // At commit. Recording the stream time is a write that can make the cache evict (and
  // emit) a window, so it happens inside the flush's emission.
  void FlushCache() {
    emitter_.Begin();
    clock_.Record();
    if (absl::Status s = store_.bytes().Flush(); !s.ok()) throw TaskFailure(std::move(s));
    emitter_.End(nullptr);
  }

  // The end of a batch: drops expired segments, emits, and notes the wall clock.
  void EndBatch(const BatchContext* context) {
    clock_.DropExpired();
    emitter_.End(context);
    clock_.Touch(services_.wall_clock_time());
  }
  // A wall-clock punctuation: idle close moves stream time on (later records may then
  // be late), `closed()` emits what closed (final results), and what expired is dropped.
  template <class Closed>
  void PunctuateWallClock(int64_t wall, Closed&& closed) {
    if (!clock_.AdvanceIdle(wall, services_.idle_window_close_ms())) return;
    emitter_.Begin();
    closed();
    clock_.DropExpired();
    emitter_.End(nullptr);
  }

 private:
  const WindowAggregateSpec spec_;
  TaskServices& services_;
  TypedStore<KS, VAS> store_;
  ChangeEmitter<KS, VAS, Keys> emitter_;
  WindowClock clock_;
  std::string key_bytes_;
  StoredValue stored_;
};

// Skips null keys and values, as Kafka Streams' aggregations do.
template <class K, class V>
bool HasNullKeyOrValue(const Record<K, V>& r) {
  if constexpr (IsOptional<K>::value) {
    if (!r.key) return true;
  }
  if constexpr (IsOptional<V>::value) {
    if (!r.value) return true;
  }
  return false;
}

// What the three windowed aggregation nodes share: the aggregation, the position counter,
// and the node interface around them.
template <class V, Serde KS, Serde VAS, class Keys>
class WindowedAggregateNode : public Input<typename KS::Type, V> {
 public:
  absl::Status AddChild(NodeInstance* child) override { return agg_.emitter().out().Wire(child); }
  void FlushCache() override { agg_.FlushCache(); }
  void Punctuate(bool stream_time, int64_t time) override {
    if (!stream_time) agg_.PunctuateWallClock(time, [this] { EmitClosed(-1, 0); });
  }
  void Reset() override { counter_.Reset(); }

 protected:
  // Final results: emits the windows that closed by the stream time (as of a record at
  // `offset`, or -1 for a punctuation).
  virtual void EmitClosed(int64_t offset, uint32_t seq) {}

  using Agg = WindowedAggregation<KS, VAS, Keys>;
  WindowedAggregateNode(const WindowAggregateSpec& spec, KS ks, VAS vas, Keys keys,
                        TaskServices& services)
      : agg_(spec, std::move(ks), std::move(vas), std::move(keys), services) {}

  Agg agg_;
  PositionCounter counter_;
};

// Time windows (tumbling, hopping): a record at t updates every window
// [start, start + size) with start a multiple of the advance and start <= t < start + size.
// `Apply(key, value, optional<VA> current) -> VA`, as for KGroupedStream aggregations.
template <class V, Serde KS, Serde VAS, class Apply>
class TimeWindowAggregateNode final : public WindowedAggregateNode<V, KS, VAS, WindowKeys<KS>>,
                                      PendingWrites {
  using Base = WindowedAggregateNode<V, KS, VAS, WindowKeys<KS>>;
  using Base::agg_;
  using Base::counter_;

 public:
  using K = typename KS::Type;
  using VA = typename VAS::Type;

  TimeWindowAggregateNode(const WindowAggregateSpec& spec, const TimeWindows& windows, KS ks,
                          VAS vas, Apply apply, TaskServices& services)
      : Base(spec, std::move(ks), std::move(vas), WindowKeys<KS>{windows.size_ms()}, services),
        windows_(windows), apply_(std::move(apply)) {
    if (agg_.emitter().caching()) agg_.store().bytes().SetPendingWrites(this);
  }
  ~TimeWindowAggregateNode() override {
    if (agg_.emitter().caching()) agg_.store().bytes().SetPendingWrites(nullptr);
  }

  void Process(const Batch<K, V>& batch) override {
    agg_.emitter().Begin();
    if (final_ && !open_loaded_) LoadOpenWindows();
    const uint32_t topic = origins_.Intern(batch.context->topic);
    const int32_t partition = batch.context->partition;
    const int64_t size = windows_.size_ms();
    const int64_t advance = windows_.advance_ms();
    for (Record<K, V>* r : batch.records) {
      if (HasNullKeyOrValue(*r)) continue;
      const int64_t t = r->timestamp;
      const int64_t close = agg_.clock().Observe(t) - windows_.grace_ms();
      if (final_ && open_.AnyEndingBy(close)) EmitClosed(r->offset, r->seq);
      if (t < 0) {
        agg_.Late(*batch.context, r->offset, t, "a negative timestamp falls into no window");
        continue;
      }
      const WritePosition position = counter_.Next(*batch.context, r->offset);
      std::string_view key = agg_.KeyBytes(r->key, r->offset);
      bool late = false;
      int64_t key_segment = 0;  // the segment store_key_ was built for
      bool key_built = false;
      // The windows holding t: starts from the first multiple of the advance above t - size.
      for (int64_t start = std::max<int64_t>(0, t - size + advance) / advance * advance; start <= t;
           start += advance) {
        if (start + size <= close) {
          late = true;
          continue;
        }
        WindowClock& clock = agg_.clock();
        const int64_t segment = clock.segments().Of(start);
        if (key_built && segment == key_segment) {
          // The record's previous window in the same segment: only the start differs.
          StoreOrdered64(start, store_key_.data() + store_key_.size() - 8);
        } else {
          WindowStoreKey(clock.segments(), key, start, &store_key_);
          key_segment = segment;
          key_built = true;
        }
        const Window window{start, start + size};
        // A window the aggregation knows it never wrote is not read.
        std::optional<typename Agg::Current> current;
        const uint64_t hash = KeyFilter::Hash(store_key_);
        bool known_new = false;  // the store never held the window
        bool owed = false;       // the kept window's write is owed
        if (typename Agg::Current hot; recent_.Take(store_key_, hash, &hot, &owed, &known_new)) {
          if (!owed) known_new = false;
          current = std::move(hot);
        } else {
          known_new = !clock.written().MayHave(segment, hash);
          if (!known_new) current = agg_.Read(store_key_);
        }
        PositionSet positions;
        int64_t timestamp = t;
        std::optional<VA> old;
        if (current) {
          if (current->positions.Covers(position)) {
            agg_.Replayed(r->key, window, *current, r->offset, r->seq);
            Remember(store_key_, hash, std::move(*current), owed, known_new);
            continue;
          }
          timestamp = std::max(t, current->timestamp);
          positions = std::move(current->positions);
          old = std::move(current->value);
        }
        // Updated in place; a copy only when the old value is emitted (no cache).
        VA next = apply_(std::as_const(r->key), std::as_const(r->value),
                         agg_.EmitsUpdates() ? std::optional<VA>(old) : std::move(old));
        positions.Advance(position);
        // A window the store held is in the filter already (or in a segment it does not
        // answer for).
        if (!current) {
          clock.written().Written(segment, hash);
          if (final_) open_.Add(start + size, key);
        }
        if (agg_.emitter().caching()) {
          // Written when evicted from the kept windows, or when the store is read or flushed.
          Remember(store_key_, hash,
                   typename Agg::Current{std::move(next), timestamp, std::move(positions), r->offset,
                                         partition, topic},
                   true, known_new);
          continue;
        }
        agg_.Write(store_key_, r->key, window, std::move(next), std::move(old), timestamp,
                   positions, r->offset, r->seq, known_new);
      }
      if (late) {
        agg_.Late(*batch.context, r->offset, t,
                  Cat("a window of size ", size, " ms closed (grace ", windows_.grace_ms(), " ms)"));
      }
    }
    agg_.EndBatch(batch.context);
  }


  void Reset() override {
    Base::Reset();
    recent_.Clear();
    open_.Clear();
    open_loaded_ = false;
  }

 private:
  using Agg = typename Base::Agg;

  // Final results: emits each window that stream time has passed by the grace, as the
  // store holds it, and takes it from the index (later records for it are late).
  void EmitClosed(int64_t offset, uint32_t seq) override {
    if (!final_ || !open_loaded_) return;
    const int64_t close = agg_.clock().now() - windows_.grace_ms();
    const Segments& segments = agg_.clock().segments();
    while (std::optional<int64_t> end = open_.TakeFirstEndingBy(close, &closing_)) {
      const Window window{*end - windows_.size_ms(), *end};
      for (std::string_view key : closing_) {
        WindowStoreKey(segments, key, window.start_ms, &store_key_);
        typename Agg::Current current;
        bool owed = false;
        bool absent = false;
        if (recent_.Take(store_key_, &current, &owed, &absent)) {
          // Its final value goes to the store too (a windowed table is read by window).
          if (owed) WriteKept(store_key_, current, absent);
        } else {
          std::optional<typename Agg::Current> stored = agg_.Read(store_key_);
          if (!stored) continue;  // written by a batch whose state was discarded
          current = std::move(*stored);
        }
        agg_.emitter().Add(Windowed<K>{agg_.store().DecodeKey(key), window},
                           std::optional<VA>(std::move(current.value)), std::nullopt,
                           current.timestamp, offset, seq);
      }
    }
  }

  // Final results, when the task starts: the index of open windows from the store (the
  // windows not closed by the stream time it recorded at its last commit; those closed
  // were emitted before that commit).
  void LoadOpenWindows() {
    open_loaded_ = true;
    open_.Clear();
    KeyValueBytesStore& store = agg_.store().bytes();
    const std::optional<int64_t> recorded = ReadStreamTime(store);
    const int64_t size = windows_.size_ms();
    std::string from;
    if (recorded) AppendOrdered64(agg_.clock().segments().Of(*recorded - windows_.grace_ms() - size), &from);
    absl::StatusOr<std::unique_ptr<StoreIterator>> it =
        store.Range(from.empty() ? std::nullopt : std::optional<std::string_view>(from), kStreamTimeKey);
    for (; it.ok() && (*it)->Valid(); (*it)->Next()) {
      const std::string_view store_key = (*it)->key();
      if (store_key.size() < 16) continue;
      const int64_t end = ReadOrdered64(store_key.substr(store_key.size() - 8)) + size;
      if (!recorded || end > *recorded - windows_.grace_ms()) {
        open_.Add(end, store_key.substr(8, store_key.size() - 16));
      }
    }
    absl::Status s = it.ok() ? (*it)->status() : it.status();
    if (!s.ok()) {
      throw TaskFailure(absl::Status(s.code(), Cat("windowed aggregation '", agg_.spec().name,
                                                   "': reading its open windows from state store '",
                                                   store.name(), "': ", s.message())));
    }
  }

  // The windows this node wrote last, still decoded (KeptDecoded), with their writes held
  // back (`owed`) until evicted from there, or until the store is read by anyone else,
  // flushed or scanned (PendingWrites): a window updated again soon is neither decoded
  // nor encoded, nor looked up in the cache, at every record. For a list of bids that
  // encoding was most of what a window cost; for a hopping count the two cache lookups
  // and the envelope were (measured: q5 0.40-0.44 -> 0.50-0.53 of its hash-map
  // baseline once counts were kept too). `absent`: the store never held the window.
  // Segment drops remove only windows older than any a record can still reach, so a
  // kept window is never one the store no longer holds.
  static constexpr size_t kRecentWindows = 4096;
  void Remember(std::string_view store_key, uint64_t hash, typename Agg::Current current, bool owed,
                bool absent) {
    if (agg_.emitter().caching()) {
      recent_.Keep(store_key, hash, std::move(current), owed, absent,
                   [this](std::string_view k, const typename Agg::Current& c, bool a) { WriteKept(k, c, a); });
    }
  }
  void WriteKept(std::string_view store_key, const typename Agg::Current& c, bool absent) {
    origins_.Write(c.topic, c.partition,
                   [&] { agg_.store().Put(store_key, c.value, c.timestamp, c.positions, c.offset, absent); });
  }

 public:
  // PendingWrites: the store is about to be read, flushed or scanned.
  void WritePending(std::optional<std::string_view> key) override {
    recent_.WriteDirty(
        key, [this](std::string_view k, const typename Agg::Current& c, bool a) { WriteKept(k, c, a); });
  }

 private:
  TimeWindows windows_;
  Apply apply_;
  std::string store_key_;
  KeptDecoded<typename Agg::Current> recent_{kRecentWindows};
  RecordOrigins origins_;
  // Final results (EmitStrategy::OnWindowClose).
  const bool final_ = agg_.spec().emit_final;
  bool open_loaded_ = false;
  OpenWindows open_;
  std::vector<std::string_view> closing_;
};

// Adds to `into` every position of `from` it does not cover (the positions of merged
// windows).
inline void MergePositions(PositionSet& into, const PositionSet& from) {
  for (const WritePosition& p : from.entries()) {
    if (!into.Covers(p)) into.Advance(p);
  }
}

// Sliding windows (KIP-450): windows [start, start + d], both ends included, created at
// record boundaries: each record's left window [t - d, t], and its right window
// [t + 1, t + 1 + d] once a later record falls into it. Each window holds the aggregate
// of exactly the records within it, built incrementally, and its timestamp is the
// largest record timestamp in it. The algorithm is Kafka Streams' (forward iteration):
// a record reads the key's windows starting in [t - 2d, t + 1], updates those holding t,
// and creates its own left and right windows and the previous record's right window
// from the aggregates it found. Records before d (whose left window would start below 0)
// share the window [0, d].
template <class V, Serde KS, Serde VAS, class Apply>
class SlidingWindowAggregateNode final : public WindowedAggregateNode<V, KS, VAS, WindowKeys<KS>> {
  using Base = WindowedAggregateNode<V, KS, VAS, WindowKeys<KS>>;
  using Base::agg_;
  using Base::counter_;

 public:
  using K = typename KS::Type;
  using VA = typename VAS::Type;

  SlidingWindowAggregateNode(const WindowAggregateSpec& spec, const SlidingWindows& windows,
                             KS ks, VAS vas, Apply apply, TaskServices& services)
      : Base(spec, std::move(ks), std::move(vas), WindowKeys<KS>{windows.time_difference_ms()},
             services),
        d_(windows.time_difference_ms()), grace_(windows.grace_ms()), apply_(std::move(apply)) {}

  void Process(const Batch<K, V>& batch) override {
    agg_.emitter().Begin();
    for (Record<K, V>* r : batch.records) {
      if (HasNullKeyOrValue(*r)) continue;
      const int64_t t = r->timestamp;
      close_ = agg_.clock().Observe(t) - grace_;
      if (t < 0) {
        agg_.Late(*batch.context, r->offset, t, "a negative timestamp falls into no window");
        continue;
      }
      if (t + 1 + d_ <= close_) {
        agg_.Late(*batch.context, r->offset, t,
                  Cat("its windows closed (time difference ", d_, " ms, grace ", grace_, " ms)"));
        continue;
      }
      record_ = r;
      position_ = counter_.Next(*batch.context, r->offset);
      key_ = agg_.KeyBytes(r->key, r->offset);
      dropped_ = false;
      Fetch(std::max<int64_t>(0, t - 2 * d_), t + 1);
      if (t < d_) {
        ProcessEarly(t);
      } else {
        ProcessInOrder(t);
      }
      if (dropped_) {
        agg_.Late(*batch.context, r->offset, t,
                  Cat("some of its windows closed (time difference ", d_, " ms, grace ", grace_, " ms)"));
      }
    }
    record_ = nullptr;
    agg_.EndBatch(batch.context);
  }


 private:
  using Current = typename Base::Agg::Current;
  struct Found {
    int64_t start;
    Current current;
  };

  // The key's windows starting in [from, to], by start.
  void Fetch(int64_t from, int64_t to) {
    found_.clear();
    ScanTimeRange(agg_.store().bytes(), agg_.clock().segments(), key_, from, to, 0,
                  [&](std::string_view store_key, std::string_view envelope) {
                    found_.push_back(Found{ReadOrdered64(store_key.substr(store_key.size() - 8)),
                                           agg_.Decode(envelope)});
                  });
  }
  bool Exists(int64_t start) const {
    return std::any_of(found_.begin(), found_.end(), [&](const Found& f) { return f.start == start; });
  }

  void ProcessInOrder(int64_t t) {
    const Current* left_agg = nullptr;
    const Current* right_agg = nullptr;
    bool left_exists = false;
    bool right_exists = false;
    std::optional<int64_t> previous;  // the timestamp of the key's record before t
    for (const Found& w : found_) {
      const int64_t end = w.start + d_;
      if (end < t) {
        left_agg = &w.current;
        previous = w.current.timestamp;
      } else if (end == t) {
        left_exists = true;
        if (w.current.timestamp < t) previous = w.current.timestamp;
        Update(w.start, &w.current, false);
      } else if (w.start <= t) {
        right_agg = &w.current;  // before this record: its right window excludes it
        Update(w.start, &w.current, false);
      } else if (w.start == t + 1) {
        right_exists = true;
      } else {
        Unexpected(w.start, t);
      }
    }
    if (previous && !Exists(*previous + 1) && *previous + 1 + d_ >= t) {
      // The previous record's right window, which holds only this record so far.
      Update(*previous + 1, nullptr, false);
      if (*previous + 1 == t - d_) left_exists = true;
    }
    if (!left_exists) {
      // The left window holds the records in [t - d, t): those of the last window ending
      // before t, if the previous record is within d.
      const bool has_records = previous && t - d_ <= *previous;
      Update(t - d_, has_records ? left_agg : nullptr, true);
    }
    if (!right_exists && right_agg != nullptr && right_agg->timestamp > t) CreateRight(t, *right_agg);
  }

  // A record before d: its left window would start below 0, so [0, d] holds it.
  void ProcessEarly(int64_t t) {
    const Current* combined = nullptr;
    const Current* right_agg = nullptr;
    bool right_exists = false;
    std::optional<int64_t> previous;
    for (const Found& w : found_) {
      if (w.start == 0) {
        combined = &w.current;
        if (w.current.timestamp < t) previous = w.current.timestamp;
      } else if (w.start <= t) {
        right_agg = &w.current;
        Update(w.start, &w.current, false);
      } else if (w.start == t + 1) {
        right_exists = true;
      } else {
        Unexpected(w.start, t);
      }
    }
    // With no window starting in (0, t], [0, d] holds only records after t, if its
    // timestamp says there are any.
    if (right_agg == nullptr && combined != nullptr && combined->timestamp > t) right_agg = combined;
    if (!right_exists && right_agg != nullptr && right_agg->timestamp > t) CreateRight(t, *right_agg);
    if (previous && !Exists(*previous + 1)) Update(*previous + 1, nullptr, false);
    Update(0, combined, false);
  }

  // Adds the record to the window at `start`, whose aggregate so far is `base` (null:
  // a new, empty window). `fresh`: a new window built from another's aggregate.
  void Update(int64_t start, const Current* base, bool fresh) {
    const Record<K, V>& r = *record_;
    const int64_t end = start + d_;
    if (end < close_) {
      dropped_ = true;
      return;
    }
    WindowStoreKey(agg_.clock().segments(), key_, start, &store_key_);
    const Window window{start, end};
    if (base != nullptr && !fresh && base->positions.Covers(position_)) {
      agg_.Replayed(r.key, window, *base, r.offset, r.seq);
      return;
    }
    std::optional<VA> current;
    PositionSet positions;
    int64_t timestamp = r.timestamp;
    if (base != nullptr) {
      current = base->value;
      positions = base->positions;
      timestamp = std::max(timestamp, base->timestamp);
    }
    VA next = apply_(std::as_const(r.key), std::as_const(r.value), std::optional<VA>(current));
    positions.Advance(position_);
    agg_.Write(store_key_, r.key, window, std::move(next), fresh ? std::nullopt : std::move(current),
               timestamp, positions, r.offset, r.seq);
  }

  // The record's right window [t + 1, t + 1 + d]: the records after t within d, which
  // `right` (a window holding t and them) aggregated before this record.
  void CreateRight(int64_t t, const Current& right) {
    const Record<K, V>& r = *record_;
    WindowStoreKey(agg_.clock().segments(), key_, t + 1, &store_key_);
    agg_.Write(store_key_, r.key, Window{t + 1, t + 1 + d_}, right.value, std::nullopt,
               right.timestamp, right.positions, r.offset, r.seq);
  }

  [[noreturn]] void Unexpected(int64_t start, int64_t t) {
    throw TaskFailure(absl::DataLossError(
        Cat("sliding windows: state store '", agg_.store().name(), "' holds a window starting at ",
            start, ", which cannot exist beside a record at ", t, " (time difference ", d_, " ms)")));
  }

  int64_t d_;
  int64_t grace_;
  Apply apply_;
  // The record being processed.
  const Record<K, V>* record_ = nullptr;
  WritePosition position_;
  std::string key_;
  int64_t close_ = 0;
  bool dropped_ = false;
  std::vector<Found> found_;
  std::string store_key_;
};

// Session windows: a record at t joins the key's sessions that end at or after t - gap
// and start at or before t + gap; they merge into one session (the old ones are deleted,
// and their deletions emitted). A SessionIndex says which sessions those are; the store
// is scanned only for what the index does not cover (after a restart, for one gap). `Apply(key, value, optional<VA>)` adds a record,
// `Merge(key, a, b)` merges two sessions' aggregates, and `initial()` is where merging
// starts (nullopt for reduce: the first session's aggregate).
template <class V, Serde KS, Serde VAS, class Apply, class Merge, class Initial>
class SessionWindowAggregateNode final : public WindowedAggregateNode<V, KS, VAS, SessionKeys<KS>> {
  using Base = WindowedAggregateNode<V, KS, VAS, SessionKeys<KS>>;
  using Base::agg_;
  using Base::counter_;

 public:
  using K = typename KS::Type;
  using VA = typename VAS::Type;

  SessionWindowAggregateNode(const WindowAggregateSpec& spec, const SessionWindows& windows,
                             KS ks, VAS vas, Apply apply, Merge merge, Initial initial,
                             TaskServices& services)
      : Base(spec, std::move(ks), std::move(vas), SessionKeys<KS>{}, services),
        gap_(windows.inactivity_gap_ms()), grace_(windows.grace_ms()), apply_(std::move(apply)),
        merge_(std::move(merge)), initial_(std::move(initial)) {}

  void Process(const Batch<K, V>& batch) override {
    agg_.emitter().Begin();
    for (Record<K, V>* r : batch.records) {
      if (!HasNullKeyOrValue(*r)) Add(*r, *batch.context);
    }
    agg_.EndBatch(batch.context);
  }


 private:
  using Current = typename Base::Agg::Current;
  struct Session {
    Window window;
    Current current;
  };

  void Add(const Record<K, V>& r, const BatchContext& context) {
    const int64_t t = r.timestamp;
    const int64_t now = agg_.clock().Observe(t);
    if (t < 0) {
      agg_.Late(context, r.offset, t, "a negative timestamp falls into no session");
      return;
    }
    const WritePosition position = counter_.Next(context, r.offset);
    std::string_view key = agg_.KeyBytes(r.key, r.offset);
    Find(key, t, now);
    Window merged{t, t};
    std::optional<VA> aggregate = initial_();
    PositionSet positions;
    for (const Session& s : found_) {
      if (s.current.positions.Covers(position)) {
        agg_.Replayed(r.key, s.window, s.current, r.offset, r.seq);
        return;
      }
      merged.start_ms = std::min(merged.start_ms, s.window.start_ms);
      merged.end_ms = std::max(merged.end_ms, s.window.end_ms);
      aggregate = aggregate ? merge_(std::as_const(r.key), std::as_const(*aggregate), s.current.value)
                            : s.current.value;
      MergePositions(positions, s.current.positions);
    }
    // A session closes when stream time passes its end by the gap plus grace: until the
    // gap has passed, an in-order record could still extend it (Kafka Streams 3.0 on,
    // KAFKA-12718; suppression waits as long).
    if (merged.end_ms < now - gap_ - grace_) {
      agg_.Late(context, r.offset, t,
                Cat("its session [", merged.start_ms, ", ", merged.end_ms, "] closed (gap ", gap_,
                    " ms + grace ", grace_, " ms)"));
      return;
    }
    removed_.clear();
    if (merged != Window{t, t}) {
      // Kafka Streams deletes every merged session, the grown one too, and emits the
      // deletions; a store key the merged session reuses is simply overwritten below.
      for (Session& s : found_) {
        SessionStoreKey(agg_.clock().segments(), key, s.window.start_ms, s.window.end_ms, &store_key_);
        agg_.Remove(store_key_, r.key, s.window, std::move(s.current.value),
                    s.window.end_ms, r.offset, r.seq);
        removed_.push_back(s.window);
      }
    }
    VA next = apply_(std::as_const(r.key), std::as_const(r.value), std::optional<VA>(aggregate));
    positions.Advance(position);
    const Segments& segments = agg_.clock().segments();
    SessionStoreKey(segments, key, merged.start_ms, merged.end_ms, &store_key_);
    // A session the key had ending in the same segment put the key in that segment's
    // filter already; the filter sizes new segments by what was added.
    const int64_t segment = segments.Of(merged.end_ms);
    if (std::none_of(found_.begin(), found_.end(),
                     [&](const Session& s) { return segments.Of(s.window.end_ms) == segment; })) {
      agg_.clock().written().Written(segment, key);
    }
    // found_ holds every session of the key the record reaches, so a store key none of
    // them has (a session's store key is its end's segment and its start) is not in the
    // store: its write need not ask what it replaces.
    const bool absent = std::none_of(found_.begin(), found_.end(), [&](const Session& s) {
      return s.window.start_ms == merged.start_ms && segments.Of(s.window.end_ms) == segment;
    });
    agg_.Write(store_key_, r.key, merged, std::move(next), std::nullopt, merged.end_ms,
               positions, r.offset, r.seq, absent);
    index_.Replace(key, removed_, merged, now);
  }

  // found_: the key's sessions a record at t may merge with (ending at or after t - gap,
  // starting at or before t + gap), from the index, else from the store.
  void Find(std::string_view key, int64_t t, int64_t now) {
    found_.clear();
    WindowClock& clock = agg_.clock();
    const Segments& segments = clock.segments();
    if (!index_started_) {
      index_started_ = true;
      index_.StartCovering(clock.held_before());
    }
    index_.DropBefore(clock.expired_before());
    if (index_.Find(key, t - gap_, t + gap_, [&](int64_t x) { return segments.Of(x); }, &indexed_)) {
      for (const Window& w : indexed_) {
        SessionStoreKey(segments, key, w.start_ms, w.end_ms, &store_key_);
        std::optional<Current> current = agg_.Read(store_key_);
        if (!current || current->timestamp != w.end_ms) {
          throw TaskFailure(absl::DataLossError(
              Cat("session windows: state store '", agg_.store().name(), "' lacks the session [",
                  w.start_ms, ", ", w.end_ms, "] its index holds")));
        }
        found_.push_back(Session{w, std::move(*current)});
      }
      return;
    }
    // Sessions ending at or after t - gap: in the segments of t - gap up to stream time.
    const WrittenFilter& written = clock.written();
    ScanKeySegments(agg_.store().bytes(), key, segments.Of(t - gap_), segments.Of(std::max(now, t)),
                    [&](int64_t segment) { return written.MayHave(segment, key); },
                    [&](std::string_view store_key, std::string_view envelope) {
                      const int64_t start = ReadOrdered64(store_key.substr(store_key.size() - 8));
                      if (start > t + gap_) return;
                      Current current = agg_.Decode(envelope);
                      const int64_t end = current.timestamp;
                      if (end < t - gap_) return;
                      found_.push_back(Session{Window{start, end}, std::move(current)});
                    });
  }

  int64_t gap_;
  int64_t grace_;
  Apply apply_;
  Merge merge_;
  Initial initial_;
  SessionIndex index_;
  bool index_started_ = false;
  std::vector<Window> indexed_;  // Find's lookup, reused from record to record
  std::vector<Session> found_;
  std::vector<Window> removed_;  // the sessions a record merged away
  std::string store_key_;
};

}  // namespace sluice::internal
