// KStream-KStream windowed joins (docs/joins.md). Each side is a node that, per record:
//   1. drops it if a key or value is null, or if it is late: older than the window
//      stores keep records (before + after + grace behind stream time), counted;
//   2. emits the left/outer results of records whose window has closed (outer store);
//   3. puts it into its side's window store;
//   4. joins it with the other side's records in [t - before, t + after] that are not
//      older than the stores keep;
//   5. left/outer: without a partner, keeps it in the outer store until its window
//      closes (t + look-back + grace < stream time), then emits it with nullopt; a
//      later partner removes it from there, so no spurious nullopt result is emitted.
// Both sides share the task's stream time for the join (the largest timestamp either
// has seen).
//
// Window store keys: [segment][key bytes][timestamp][position], big-endian, so that a
// key's records of a time range are one range scan per segment, and expired segments
// are one range deletion (KeyValueBytesStore::DropBefore). The position (source topic,
// offset, index) makes a replayed record overwrite itself instead of adding a duplicate.
// Outer store keys: [timestamp][side][position][key bytes], in time order.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "sluice/internal/join.h"
#include "sluice/internal/node.h"
#include "sluice/internal/stateful.h"
#include "sluice/internal/stateless.h"
#include "sluice/internal/window_store.h"
#include "sluice/join_windows.h"

namespace sluice::internal {

inline void AppendBig32(uint32_t v, std::string* out) {
  char bytes[4];
  StoreBigEndian(v, bytes);
  out->append(bytes, sizeof bytes);
}
inline uint32_t ReadBig32(std::string_view in) { return LoadBigEndian<uint32_t>(in.data()); }

inline constexpr size_t kPositionBytes = 4 + 8 + 4;
inline void AppendPosition(const WritePosition& p, std::string* out) {
  AppendBig32(p.source, out);
  AppendOrdered64(p.offset, out);
  AppendBig32(p.sub, out);
}
inline WritePosition ReadPosition(std::string_view in) {
  return WritePosition{ReadBig32(in), ReadOrdered64(in.substr(4)), ReadBig32(in.substr(12))};
}

// One side's recent records in memory, so that a join reads its partners with a hash
// lookup instead of a RocksDB range scan. It holds every record of its window store
// with a timestamp >= covers_from (records below that are read from RocksDB): at a fresh
// start that is every record; after a restart, those newer than the stream time the
// store last recorded. Records expire with the store's retention; past its byte budget
// the oldest arrivals go and covers_from rises past them.
// The byte budget of one side's window index in one task. A variable only so that tests
// can make it small enough to exercise eviction.
inline std::atomic<size_t> g_window_index_bytes{32u << 20};

class WindowIndex {
 public:
  struct Entry {
    int64_t ts;
    WritePosition position;
    std::string value;  // the value's serialized bytes
  };
  static constexpr size_t kEntryOverhead = 64;

  int64_t covers_from() const { return covers_from_; }
  void set_covers_from(int64_t t) { covers_from_ = t; }

  // Adds a record (replacing one of the same timestamp and position). False (and nothing
  // added) for a record below covers_from.
  bool Add(std::string_view key, int64_t ts, const WritePosition& position, std::string_view value) {
    if (ts < covers_from_) return false;
    auto slot = by_key_.find(key);
    if (slot == by_key_.end()) slot = by_key_.emplace(std::string(key), std::vector<Entry>()).first;
    std::vector<Entry>& entries = slot->second;
    auto it = std::upper_bound(entries.begin(), entries.end(), std::make_pair(ts, position),
                               [](const std::pair<int64_t, WritePosition>& p, const Entry& e) {
                                 return Before(p.first, p.second, e.ts, e.position);
                               });
    if (it != entries.begin() && std::prev(it)->ts == ts && std::prev(it)->position == position) {
      bytes_ -= std::prev(it)->value.size();
      std::prev(it)->value.assign(value);
      bytes_ += value.size();
      return true;
    }
    entries.insert(it, Entry{ts, position, std::string(value)});
    arrivals_.push_back(Arrival{std::string(key), ts, position});
    bytes_ += key.size() + value.size() + kEntryOverhead;
    return true;
  }

  // Calls f(entry) for `key`'s records with timestamps in [from, to], in (timestamp,
  // position) order.
  template <class F>
  void Fetch(std::string_view key, int64_t from, int64_t to, F&& f) const {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return;
    for (const Entry& e : it->second) {
      if (e.ts > to) break;
      if (e.ts >= from) f(e);
    }
  }

  // Forgets records below `expired` (the store's retention), oldest arrivals first, and
  // evicts past the byte budget; true if covers_from rose (the caller must then make the
  // store's buffered writes visible to reads).
  bool Trim(int64_t expired) {
    bool rose = false;
    const size_t budget = g_window_index_bytes.load(std::memory_order_relaxed);
    while (!arrivals_.empty()) {
      const Arrival& a = arrivals_.front();
      if (a.ts >= expired && bytes_ <= budget) break;
      if (a.ts >= expired && a.ts + 1 > covers_from_) {
        covers_from_ = a.ts + 1;
        rose = true;
      }
      Remove(a);
      arrivals_.pop_front();
    }
    return rose;
  }

 private:
  struct Arrival {
    std::string key;
    int64_t ts;
    WritePosition position;
  };
  static bool Before(int64_t ts, const WritePosition& p, int64_t ts2, const WritePosition& p2) {
    if (ts != ts2) return ts < ts2;
    if (p.source != p2.source) return p.source < p2.source;
    if (p.offset != p2.offset) return p.offset < p2.offset;
    return p.sub < p2.sub;
  }

  void Remove(const Arrival& a) {
    auto it = by_key_.find(a.key);
    if (it == by_key_.end()) return;
    std::vector<Entry>& entries = it->second;
    for (auto e = entries.begin(); e != entries.end(); ++e) {
      if (e->ts == a.ts && e->position == a.position) {
        bytes_ -= a.key.size() + e->value.size() + kEntryOverhead;
        entries.erase(e);
        break;
      }
    }
    if (entries.empty()) by_key_.erase(it);
  }

  int64_t covers_from_ = std::numeric_limits<int64_t>::max();
  absl::flat_hash_map<std::string, std::vector<Entry>, StringHash, StringEq> by_key_;
  std::deque<Arrival> arrivals_;
  size_t bytes_ = 0;
};

// The stream time both sides of one join share within a task, and their window indexes.
struct JoinTime {
  int64_t stream_time = std::numeric_limits<int64_t>::min();
  // No outer-store record is older than this; min() when unknown (after a restart).
  int64_t outer_min_time = std::numeric_limits<int64_t>::min();
  WindowIndex left, right;
  bool indexes_ready = false;  // set once the stores are restored (the first record)
};

// Hands both side nodes of one task the same JoinTime. Captured by both factories;
// keyed by the task (its TaskServices), entries go when both nodes are gone.
class JoinTimeRegistry {
 public:
  std::shared_ptr<JoinTime> For(const TaskServices& task) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = times_.begin(); it != times_.end();) {
      it = it->second.expired() ? times_.erase(it) : std::next(it);
    }
    std::weak_ptr<JoinTime>& slot = times_[&task];
    std::shared_ptr<JoinTime> time = slot.lock();
    if (time == nullptr) {
      time = std::make_shared<JoinTime>();
      slot = time;
    }
    return time;
  }

 private:
  std::mutex mu_;
  std::map<const TaskServices*, std::weak_ptr<JoinTime>> times_;
};

// What a join side needs to know of its join.
struct StreamJoinSpec {
  JoinWindows windows = JoinWindows::OfTimeDifferenceWithNoGrace(std::chrono::milliseconds(0));
  std::string left_store, right_store, outer_store;  // outer_store empty: inner join
  std::string name;                                  // for messages
};

// One side of a KStream-KStream join. `windows` are seen from the left stream.
template <JoinKind kKind, bool kLeft, class K, class VL, class VR, class VOut, class J, Serde KS,
          Serde VLS, Serde VRS>
class StreamJoinSideNode final : public Input<K, std::conditional_t<kLeft, VL, VR>> {
 public:
  using VThis = std::conditional_t<kLeft, VL, VR>;
  using VOther = std::conditional_t<kLeft, VR, VL>;
  // Whether the other side's unmatched records wait in the outer store.
  static constexpr bool kOtherWaits = kKind == JoinKind::kOuter || (kKind == JoinKind::kLeft && !kLeft);

  StreamJoinSideNode(const StreamJoinSpec& spec, KS ks, VLS vls, VRS vrs, J joiner,
                     std::shared_ptr<JoinTime> time, TaskServices& services)
      : spec_(spec),
        segments_(spec.windows.retention_ms()),
        this_store_(RequireStore(services, kLeft ? spec.left_store : spec.right_store)),
        other_store_(RequireStore(services, kLeft ? spec.right_store : spec.left_store)),
        outer_store_(spec.outer_store.empty() ? nullptr : &RequireStore(services, spec.outer_store)),
        key_serde_(std::move(ks)),
        left_serde_(std::move(vls)),
        right_serde_(std::move(vrs)),
        fn_{std::move(joiner)},
        time_(std::move(time)),
        services_(services) {}

  static constexpr std::string_view kMetaKey = kStreamTimeKey;

  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, VThis>& batch) override {
    buffer_.Clear();
    const JoinWindows& w = spec_.windows;
    // From this side: the other side's records in [t - before, t + after].
    const int64_t before = kLeft ? w.before_ms() : w.after_ms();
    const int64_t after = kLeft ? w.after_ms() : w.before_ms();
    if (!time_->indexes_ready) {
      // Not in the constructor: the stores are restored after the nodes are built.
      StartIndex(this_store_, Index(kLeft));
      StartIndex(other_store_, Index(!kLeft));
      time_->indexes_ready = true;
    }
    for (Record<K, VThis>* r : batch.records) {
      if constexpr (IsOptional<K>::value) {
        if (!r->key) continue;
      }
      if constexpr (IsOptional<VThis>::value) {
        if (!r->value) continue;
      }
      const int64_t t = r->timestamp;
      JoinTime& time = *time_;
      time.stream_time = std::max(time.stream_time, t);
      if (t < time.stream_time - w.retention_ms()) {
        services_.RecordLate(*batch.context, r->offset, t,
                             Cat("stream-stream join '", spec_.name, "': its window closed ",
                                 "(stream time ", time.stream_time, ", retention ",
                                 w.retention_ms(), " ms)"));
        continue;
      }
      if (outer_store_ != nullptr && t == time.stream_time) EmitClosed(r->offset, r->seq);
      const WritePosition position = counter_.Next(*batch.context, r->offset);
      const std::string key = KeyBytes(r->key, r->offset);
      Put(key, t, position, r->value, r->offset);
      // Records older than the stores keep count as gone, whether or not their segment
      // has been dropped yet, so that results do not depend on segment boundaries.
      const int64_t from = std::max(t - before, time.stream_time - w.retention_ms());
      const bool matched = JoinWithOther(*r, key, from, t + after);
      if constexpr (kKind == JoinKind::kOuter || (kKind == JoinKind::kLeft && kLeft)) {
        if (!matched) {
          if (t + after + w.grace_ms() < time.stream_time) {
            EmitUnmatched(r->key, std::optional<VThis>(r->value), t, r->offset, r->seq);
          } else {
            KeepUnmatched(key, t, position, r->value, r->offset);
          }
        }
      }
      DropExpired();
    }
    if (!batch.records.empty()) {
      JoinTime& time = *time_;
      // The stream time this store has seen, for the index after a restart.
      if (time.stream_time != recorded_time_) {
        recorded_time_ = time.stream_time;
        EncodeStored("", recorded_time_, PositionSet(), &envelope_);
        Check(this_store_.Put(kMetaKey, envelope_), this_store_.name(), "writing");
      }
      if (Index(kLeft).Trim(time.stream_time - w.retention_ms())) {
        // Records below the index's new start are read from RocksDB from now on.
        Check(this_store_.ShowBlindWrites(), this_store_.name(), "writing");
      }
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

  void Reset() override { counter_.Reset(); }

 private:
  std::string KeyBytes(const K& key, int64_t offset) {
    try {
      std::string_view bytes = SerializeInto(key_serde_, key, key_buf_);
      return std::string(bytes);
    } catch (const std::exception& e) {
      throw TaskFailure(absl::InvalidArgumentError(
          Cat("stream-stream join '", spec_.name, "': cannot serialize the key (input record at "
              "offset ", offset, ", serde ", SerdeName<KS>(), "): ", e.what())));
    }
  }

  template <Serde S>
  std::string_view ValueBytes(const S& serde, const typename S::Type& value, int64_t offset) {
    try {
      return SerializeInto(serde, value, value_buf_);
    } catch (const std::exception& e) {
      throw TaskFailure(absl::InvalidArgumentError(
          Cat("stream-stream join '", spec_.name, "': cannot serialize a value (input record at "
              "offset ", offset, ", serde ", SerdeName<S>(), "): ", e.what())));
    }
  }

  template <Serde S>
  typename S::Type Decode(const S& serde, std::string_view envelope, const std::string& store) {
    StoredValue stored;
    typename S::Type value{};
    if (!DecodeStored(envelope, &stored) || !serde.Deserialize(stored.value, value).ok()) {
      throw TaskFailure(absl::DataLossError(
          Cat("state store '", store, "': a stored record does not decode (serde ",
              SerdeName<S>(), ")")));
    }
    return value;
  }

  void Check(const absl::Status& s, const std::string& store, std::string_view what) {
    if (!s.ok()) {
      throw TaskFailure(absl::Status(s.code(), Cat(what, " state store '", store, "': ", s.message())));
    }
  }

  void Put(const std::string& key, int64_t t, const WritePosition& position, const VThis& value,
           int64_t offset) {
    std::string& k = scratch_key_;
    OrderedKey(segments_.Of(t), key, t, &k);
    AppendPosition(position, &k);
    std::string_view bytes;
    if constexpr (kLeft) {
      bytes = ValueBytes(left_serde_, value, offset);
    } else {
      bytes = ValueBytes(right_serde_, value, offset);
    }
    EncodeStored(bytes, t, PositionSet(), &envelope_);
    // A record the index holds is read from there: RocksDB may learn of it at commit.
    if (Index(kLeft).Add(key, t, position, bytes)) {
      Check(this_store_.PutBlind(k, envelope_), this_store_.name(), "writing");
    } else {
      Check(this_store_.Put(k, envelope_), this_store_.name(), "writing");
    }
  }

  WindowIndex& Index(bool left) { return left ? time_->left : time_->right; }

  // What a window index can answer for: everything of a fresh store; after a restart,
  // what is newer than the stream time the store last recorded.
  void StartIndex(KeyValueBytesStore& store, WindowIndex& index) {
    std::string meta;
    bool found = false;
    Check(store.Get(kMetaKey, &meta, &found), store.name(), "reading");
    StoredValue stored;
    index.set_covers_from(found && DecodeStored(meta, &stored) ? stored.timestamp + 1
                                                              : std::numeric_limits<int64_t>::min());
  }

  // Joins with the other side's records of `key` in [from, to]: those below the other
  // side's index start from RocksDB, the rest from the index. True if any matched.
  bool JoinWithOther(const Record<K, VThis>& r, const std::string& key, int64_t from, int64_t to) {
    const WindowIndex& index = Index(!kLeft);
    bool matched = false;
    if (from < index.covers_from()) {
      matched = ScanOther(r, key, from, std::min(to, index.covers_from() - 1));
    }
    if (to >= index.covers_from()) {
      index.Fetch(key, std::max(from, index.covers_from()), to, [&](const WindowIndex::Entry& e) {
        typename std::remove_cvref_t<decltype(OtherSerde())>::Type other{};
        if (!OtherSerde().Deserialize(e.value, other).ok()) {
          throw TaskFailure(absl::DataLossError(Cat("stream-stream join '", spec_.name,
                                                    "': a buffered record does not decode")));
        }
        matched = true;
        Matched(r, key, std::move(other), e.ts, e.position);
      });
    }
    FlushOuterDeletes();
    return matched;
  }

  // One partner: the joined record, and the partner's wait in the outer store ends.
  void Matched(const Record<K, VThis>& r, const std::string& key, VOther other, int64_t other_t,
               const WritePosition& other_position) {
    std::optional<VOut> joined;
    if constexpr (kLeft) {
      joined = fn_(r.key, std::optional<VL>(r.value), std::optional<VR>(std::move(other)));
    } else {
      joined = fn_(r.key, std::optional<VL>(std::move(other)), std::optional<VR>(r.value));
    }
    Emit(r.key, std::move(*joined), std::max(r.timestamp, other_t), r.offset, r.seq, r.headers);
    if (kOtherWaits && outer_store_ != nullptr) {
      std::string outer_key;
      AppendOrdered64(other_t, &outer_key);
      outer_key.push_back(kLeft ? 'R' : 'L');
      AppendPosition(other_position, &outer_key);
      outer_key += key;
      pending_outer_deletes_.push_back(std::move(outer_key));
    }
  }

  void FlushOuterDeletes() {
    for (const std::string& k : pending_outer_deletes_) {
      // Most partners were matched before and are gone: read before writing a delete.
      bool found = false;
      Check(outer_store_->Get(k, &get_buf_, &found), outer_store_->name(), "reading");
      if (found) Check(outer_store_->Delete(k), outer_store_->name(), "deleting from");
    }
    pending_outer_deletes_.clear();
  }

  // The other side's records of `key` in [from, to] from its window store.
  bool ScanOther(const Record<K, VThis>& r, const std::string& key, int64_t from, int64_t to) {
    bool matched = false;
    for (int64_t segment = segments_.Of(from); segment <= segments_.Of(to); ++segment) {
      std::string lo, hi;
      AppendOrdered64(segment, &lo);
      lo += key;
      hi = lo;
      AppendOrdered64(from, &lo);
      AppendOrdered64(to, &hi);
      hi.append(kPositionBytes + 1, '\xff');
      absl::StatusOr<std::unique_ptr<StoreIterator>> it = other_store_.Range(lo, hi);
      Check(it.status(), other_store_.name(), "reading");
      for (; (*it)->Valid(); (*it)->Next()) {
        std::string_view stored_key = (*it)->key();
        // Another key that starts with this one's bytes has another length.
        if (stored_key.size() != 8 + key.size() + 8 + kPositionBytes) continue;
        const int64_t other_t = ReadOrdered64(stored_key.substr(8 + key.size()));
        if (other_t < from || other_t > to) continue;
        VOther other = Decode(OtherSerde(), (*it)->value(), other_store_.name());
        matched = true;
        Matched(r, key, std::move(other), other_t,
                ReadPosition(stored_key.substr(8 + key.size() + 8, kPositionBytes)));
      }
      Check((*it)->status(), other_store_.name(), "reading");
    }
    return matched;
  }

  const auto& OtherSerde() const {
    if constexpr (kLeft) {
      return right_serde_;
    } else {
      return left_serde_;
    }
  }

  void KeepUnmatched(const std::string& key, int64_t t, const WritePosition& position,
                     const VThis& value, int64_t offset) {
    std::string k;
    AppendOrdered64(t, &k);
    k.push_back(kLeft ? 'L' : 'R');
    AppendPosition(position, &k);
    k += key;
    if constexpr (kLeft) {
      EncodeStored(ValueBytes(left_serde_, value, offset), t, PositionSet(), &envelope_);
    } else {
      EncodeStored(ValueBytes(right_serde_, value, offset), t, PositionSet(), &envelope_);
    }
    Check(outer_store_->Put(k, envelope_), outer_store_->name(), "writing");
    time_->outer_min_time = std::min(time_->outer_min_time, t);
  }

  void EmitUnmatched(const K& key, std::optional<VThis> value, int64_t t, int64_t offset,
                     uint32_t seq) {
    std::optional<VOut> joined;
    if constexpr (kLeft) {
      joined = fn_(key, std::move(value), std::optional<VR>());
    } else {
      joined = fn_(key, std::optional<VL>(), std::move(value));
    }
    if (joined) Emit(key, std::move(*joined), t, offset, seq, nullptr);
  }

  // Emits and forgets the outer store's records whose window has closed, oldest first,
  // ahead of the outputs of the input record (at `offset`, `seq`) that closed them.
  void EmitClosed(int64_t offset, uint32_t seq) {
    JoinTime& time = *time_;
    const JoinWindows& w = spec_.windows;
    // A left record waits for right records up to t + after, a right one for left
    // records up to t + before.
    const int64_t min_look = std::min(w.after_ms(), w.before_ms());
    if (time.outer_min_time != std::numeric_limits<int64_t>::min() &&
        time.outer_min_time + min_look + w.grace_ms() >= time.stream_time) {
      return;
    }
    absl::StatusOr<std::unique_ptr<StoreIterator>> it = outer_store_->Range(std::nullopt, std::nullopt);
    Check(it.status(), outer_store_->name(), "reading");
    std::vector<std::string> done;
    int64_t oldest_open = std::numeric_limits<int64_t>::max();
    bool left_open = false, right_open = kKind != JoinKind::kOuter;
    for (; (*it)->Valid(); (*it)->Next()) {
      std::string_view k = (*it)->key();
      const int64_t t = ReadOrdered64(k);
      const bool left = k[8] == 'L';
      const int64_t look = left ? w.after_ms() : w.before_ms();
      if (t + look + w.grace_ms() >= time.stream_time) {
        oldest_open = std::min(oldest_open, t);
        (left ? left_open : right_open) = true;
        if (left_open && right_open) break;
        continue;
      }
      K key = DecodeKey(k.substr(8 + 1 + kPositionBytes));
      std::optional<VOut> joined;
      if (left) {
        joined = fn_(key, std::optional<VL>(Decode(left_serde_, (*it)->value(), outer_store_->name())),
                     std::optional<VR>());
      } else {
        if constexpr (kKind == JoinKind::kOuter) {
          joined = fn_(key, std::optional<VL>(),
                       std::optional<VR>(Decode(right_serde_, (*it)->value(), outer_store_->name())));
        }
      }
      if (joined) Emit(key, std::move(*joined), t, offset, seq, nullptr);
      done.emplace_back(k);
    }
    Check((*it)->status(), outer_store_->name(), "reading");
    it->reset();
    for (const std::string& k : done) Check(outer_store_->Delete(k), outer_store_->name(), "deleting from");
    time.outer_min_time = oldest_open;
  }

  K DecodeKey(std::string_view bytes) {
    K key{};
    if (!key_serde_.Deserialize(bytes, key).ok()) {
      throw TaskFailure(absl::DataLossError(Cat("state store '", outer_store_->name(),
                                                "': a stored key does not deserialize (serde ",
                                                SerdeName<KS>(), ")")));
    }
    return key;
  }

  // Drops this side's window store segments that stream time has left behind.
  void DropExpired() {
    const int64_t live = segments_.Of(time_->stream_time - spec_.windows.retention_ms());
    if (live <= dropped_below_) return;
    dropped_below_ = live;
    std::string end;
    AppendOrdered64(live, &end);
    Check(this_store_.DropBefore(end), this_store_.name(), "expiring");
  }

  void Emit(const K& key, VOut value, int64_t timestamp, int64_t offset, uint32_t seq,
            const void* headers) {
    Record<K, VOut>& out = buffer_.Next();
    out.key = key;
    out.value = std::move(value);
    out.timestamp = timestamp;
    out.offset = offset;
    out.seq = seq;
    out.headers = headers;
  }

  StreamJoinSpec spec_;
  Segments segments_;
  KeyValueBytesStore& this_store_;
  KeyValueBytesStore& other_store_;
  KeyValueBytesStore* outer_store_;
  KS key_serde_;
  VLS left_serde_;
  VRS right_serde_;
  TableJoinFn<kKind, K, VL, VR, VOut, J> fn_;
  std::shared_ptr<JoinTime> time_;
  TaskServices& services_;
  PositionCounter counter_;
  int64_t dropped_below_ = std::numeric_limits<int64_t>::min();
  int64_t recorded_time_ = std::numeric_limits<int64_t>::min();
  std::string key_buf_, value_buf_, scratch_key_, envelope_, get_buf_;
  std::vector<std::string> pending_outer_deletes_;
  Output<K, VOut> out_;
  RecordBuffer<K, VOut> buffer_;
};

}  // namespace sluice::internal
