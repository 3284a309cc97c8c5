// Byte layouts of the stores that hold windows (windowed aggregations, stream-stream
// joins), their time segments, and the stream time a store records.
//
// Keys begin with the segment of a time (8 bytes), so that a store drops expired windows
// a segment at a time with one range deletion (KeyValueBytesStore::DropBefore), and
// scans one key's windows of a time range with one range scan per segment:
//   window store:  [segment of start][key bytes][start]
//   session store: [segment of end][key bytes][start], the end in the value's envelope
//                  timestamp: a session that grows at its end (the common case) keeps its
//                  key, and is overwritten instead of deleted and written anew, until its
//                  end crosses into the next segment.
// Times are big-endian with the sign bit flipped, so bytes sort as numbers. A range scan
// over [segment][key][from..to] can also meet longer keys that start with the same
// bytes; the scans below keep only keys of the exact length.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/internal/key_filter.h"
#include "sluice/internal/node.h"
#include "sluice/internal/state_store.h"
#include "sluice/internal/str.h"

namespace sluice::internal {

// Big-endian, with the sign bit flipped so that negative numbers sort first.
inline void StoreOrdered64(int64_t v, char* out) {
  StoreBigEndian(static_cast<uint64_t>(v) ^ (uint64_t{1} << 63), out);
}
inline void AppendOrdered64(int64_t v, std::string* out) {
  char bytes[8];
  StoreOrdered64(v, bytes);
  out->append(bytes, sizeof bytes);  // one append, not eight
}
// [first][key][second], written in place: a window's store key is built at every update,
// and three appends cost several times one resize.
inline void OrderedKey(int64_t first, std::string_view key, int64_t second, std::string* out) {
  out->resize(8 + key.size() + 8);
  char* p = out->data();
  StoreOrdered64(first, p);
  if (!key.empty()) std::memcpy(p + 8, key.data(), key.size());
  StoreOrdered64(second, p + 8 + key.size());
}
inline int64_t ReadOrdered64(std::string_view in) {
  return static_cast<int64_t>(LoadBigEndian<uint64_t>(in.data()) ^ (uint64_t{1} << 63));
}

// The time segments of a store that keeps `retention_ms`: Kafka Streams' interval,
// max(retention / 2, 60 s).
class Segments {
 public:
  explicit Segments(int64_t retention_ms)
      : interval_(std::max<int64_t>(retention_ms / 2, 60000)) {}
  int64_t Of(int64_t timestamp) const {
    return timestamp >= 0 ? timestamp / interval_ : -((-timestamp + interval_ - 1) / interval_);
  }
  int64_t interval() const { return interval_; }

 private:
  int64_t interval_;
};

// Where a windowed store records the stream time it has seen: sorts after every
// segmented key (whose first byte is 0x80 for any real time).
inline constexpr std::string_view kStreamTimeKey = "\xff\xff\xff\xff\xff\xff\xff\xff\xff";

// Idle close (`idle.window.close.ms`, TaskServices::idle_window_close_ms): once a node
// has had no record for `idle_ms` of wall clock, its stream time runs on with the wall
// clock from where the last record left it, so windows close on idle keys and
// partitions. `Touch` notes the wall clock and stream time after a batch.
class IdleAdvance {
 public:
  void Touch(int64_t wall, int64_t stream_time) {
    last_wall_ = wall;
    last_time_ = stream_time;
  }
  // The stream time at `wall`, if idle close moves it past `stream_time`.
  std::optional<int64_t> At(int64_t wall, int64_t idle_ms, int64_t stream_time) const {
    if (idle_ms < 0 || last_wall_ < 0 || last_time_ == std::numeric_limits<int64_t>::min() ||
        wall - last_wall_ < idle_ms) {
      return std::nullopt;
    }
    const int64_t t = last_time_ + (wall - last_wall_);
    if (t <= stream_time) return std::nullopt;
    return t;
  }

 private:
  int64_t last_wall_ = -1;
  int64_t last_time_ = std::numeric_limits<int64_t>::min();
};

// Which windows a windowed aggregation has written since it started, per segment, so that
// it can skip the store read for a window it knows is new. Segments after the last one
// the store held when the aggregation started (LastSegment) hold only what was written
// since; for those, a Bloom filter per segment answers "never written" without a false
// negative (a false positive costs one read). A segment's filter grows with what is
// written into it: it starts at the number of keys the fullest live segment holds (at
// least 1,000, about 1.3 KiB) and adds a filter four times larger whenever the last one
// is full, so a task with few windows pays little, and a steady stream fills one filter
// per segment (each filter asked is a cache miss). This holds however the store was
// filled (local state, or a changelog that also had writes after the last commit).
class WrittenFilter {
 public:
  static constexpr size_t kFirstCapacity = 1000;

  // Segments after `last` (nullopt: every segment) start empty.
  void Start(std::optional<int64_t> last) {
    after_ = last ? *last : std::numeric_limits<int64_t>::min();
  }
  // False only if nothing was written under `key` in `segment` since the start. `hash`:
  // KeyFilter::Hash(key), computed once for the MayHave and Written of one key.
  bool MayHave(int64_t segment, uint64_t hash) const {
    if (segment <= after_) return true;
    const GrowingKeyFilter* filter = Find(segment);
    return filter != nullptr && filter->MayContain(hash);
  }
  bool MayHave(int64_t segment, std::string_view key) const {
    return MayHave(segment, KeyFilter::Hash(key));
  }
  void Written(int64_t segment, uint64_t hash) {
    GrowingKeyFilter* filter = Find(segment);
    if (filter == nullptr) {
      size_t fullest = kFirstCapacity;
      for (const auto& [s, f] : filters_) fullest = std::max(fullest, f.added());
      filter = &filters_.emplace(segment, GrowingKeyFilter(fullest)).first->second;
      last_segment_ = segment;
      last_ = filter;
    }
    filter->Add(hash);
  }
  void Written(int64_t segment, std::string_view key) { Written(segment, KeyFilter::Hash(key)); }
  // The segments before `segment` were dropped.
  void DropBefore(int64_t segment) {
    filters_.erase(filters_.begin(), filters_.lower_bound(segment));
    last_ = nullptr;
  }

 private:
  // The filter of `segment`, if it has one (the last one asked for is remembered: a
  // record's windows are mostly in one segment).
  GrowingKeyFilter* Find(int64_t segment) const {
    if (last_ != nullptr && last_segment_ == segment) return last_;
    auto it = filters_.find(segment);
    if (it == filters_.end()) return nullptr;
    last_segment_ = segment;
    last_ = &it->second;
    return last_;
  }

  int64_t after_ = std::numeric_limits<int64_t>::max();  // until Start: no answers
  mutable std::map<int64_t, GrowingKeyFilter> filters_;
  mutable int64_t last_segment_ = 0;
  mutable GrowingKeyFilter* last_ = nullptr;
};

// The last segment holding a key in a segmented store (nullopt: none), walking from the
// first key from one non-empty segment to the next (a store holds a few live segments).
inline std::optional<int64_t> LastSegment(KeyValueBytesStore& store) {
  std::optional<int64_t> last;
  std::string from;
  while (true) {
    absl::StatusOr<std::unique_ptr<StoreIterator>> it =
        store.Range(from.empty() ? std::nullopt : std::optional<std::string_view>(from), kStreamTimeKey);
    if (!it.ok()) {
      throw TaskFailure(absl::Status(it.status().code(), Cat("reading state store '", store.name(),
                                                             "': ", it.status().message())));
    }
    if (!(*it)->Valid() || (*it)->key().size() < 8) return last;
    last = ReadOrdered64((*it)->key());
    from.clear();
    AppendOrdered64(*last + 1, &from);
  }
}

// [segment of start][key][start]
inline void WindowStoreKey(const Segments& segments, std::string_view key, int64_t start,
                           std::string* out) {
  OrderedKey(segments.Of(start), key, start, out);
}

// [segment of end][key][start]
inline void SessionStoreKey(const Segments& segments, std::string_view key, int64_t start,
                            int64_t end, std::string* out) {
  OrderedKey(segments.Of(end), key, start, out);
}

// Calls f(key, envelope) for the keys of exactly `size` bytes in [lo, hi); a store
// error is a TaskFailure naming the store.
template <class F>
void ForEachInRange(KeyValueBytesStore& store, std::string_view lo, std::string_view hi,
                    size_t size, F&& f) {
  absl::StatusOr<std::unique_ptr<StoreIterator>> it = store.Range(lo, hi);
  absl::Status status = it.ok() ? absl::OkStatus() : it.status();
  if (status.ok()) {
    for (StoreIterator& i = **it; i.Valid(); i.Next()) {
      if (i.key().size() == size) f(i.key(), i.value());
    }
    status = (*it)->status();
  }
  if (!status.ok()) {
    throw TaskFailure(absl::Status(status.code(), Cat("reading state store '", store.name(), "': ",
                                                      status.message())));
  }
}

// Calls f(store key, envelope) for the keys [segment][`key`][t][suffix of `suffix_size`
// bytes] with t in [from, to], in (t, suffix) order. Views are valid during the call.
template <class F>
void ScanTimeRange(KeyValueBytesStore& store, const Segments& segments, std::string_view key,
                   int64_t from, int64_t to, size_t suffix_size, F&& f) {
  if (from > to) return;
  std::string lo, hi;
  for (int64_t segment = segments.Of(from); segment <= segments.Of(to); ++segment) {
    lo.clear();
    AppendOrdered64(segment, &lo);
    lo.append(key);
    hi = lo;
    AppendOrdered64(from, &lo);
    if (to < std::numeric_limits<int64_t>::max()) {
      AppendOrdered64(to + 1, &hi);
    } else {
      hi = *PrefixEnd(hi);
    }
    ForEachInRange(store, lo, hi, 8 + key.size() + 8 + suffix_size, f);
  }
}

// Calls f(store key, envelope) for every key [segment][`key`][8 bytes] of the segments
// from_segment..to_segment for which may_have(segment) is true, in order.
template <class M, class F>
void ScanKeySegments(KeyValueBytesStore& store, std::string_view key, int64_t from_segment,
                     int64_t to_segment, M&& may_have, F&& f) {
  std::string lo;
  for (int64_t segment = from_segment; segment <= to_segment; ++segment) {
    if (!may_have(segment)) continue;
    lo.clear();
    AppendOrdered64(segment, &lo);
    lo.append(key);
    ForEachInRange(store, lo, *PrefixEnd(lo), 8 + key.size() + 8, f);
  }
}

// The stream time a windowed store recorded (kStreamTimeKey), if it has one.
inline std::optional<int64_t> ReadStreamTime(KeyValueBytesStore& store) {
  std::string bytes;
  bool found = false;
  absl::Status s = store.Get(kStreamTimeKey, &bytes, &found);
  if (!s.ok()) {
    throw TaskFailure(absl::Status(s.code(), Cat("reading state store '", store.name(), "': ",
                                                 s.message())));
  }
  StoredValue stored;
  if (!found || !DecodeStored(bytes, &stored)) return std::nullopt;
  return stored.timestamp;
}

inline void WriteStreamTime(KeyValueBytesStore& store, int64_t stream_time) {
  std::string envelope;
  EncodeStored("", stream_time, PositionSet(), &envelope);
  absl::Status s = store.Put(kStreamTimeKey, envelope);
  if (!s.ok()) {
    throw TaskFailure(absl::Status(s.code(), Cat("writing state store '", store.name(), "': ",
                                                 s.message())));
  }
}

}  // namespace sluice::internal
