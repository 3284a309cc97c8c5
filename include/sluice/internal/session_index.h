// The sessions of one session store in memory, without their aggregates: per key, the
// windows [start, end] the store holds. A session aggregation looks up the sessions a
// record may merge with here, then reads each by its store key (from the record cache,
// mostly), instead of a RocksDB range scan per record.
//
// The index holds every session of the store whose end is >= covers_from(). A lookup
// that needs older sessions returns nullopt and the caller scans the store. At a fresh
// start that is every session; after a restart, covers_from is the end of the last
// segment the store holds sessions in, so the store serves lookups for at most one
// segment interval of stream time. Expired segments leave
// the index with the store's; past its byte budget the index empties and covers_from
// moves past stream time, as after a restart.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "sluice/internal/str.h"
#include "sluice/windows.h"

namespace sluice::internal {

// The byte budget of one session index (one aggregation in one task). A variable only so
// that tests can make it small enough to exercise the overflow.
inline std::atomic<size_t> g_session_index_bytes{32u << 20};

class SessionIndex {
 public:
  static constexpr int64_t kAll = std::numeric_limits<int64_t>::min();
  static constexpr size_t kKeyOverhead = 64;

  int64_t covers_from() const { return covers_from_; }
  // Before the first write: what the store already holds ends before `t`.
  void StartCovering(int64_t t) { covers_from_ = t; }

  // Sets `found` to the sessions of `key` ending at or after `from` and starting at or
  // before `to`, in store order (segment of the end, then start; `segment_of` maps a time
  // to its segment). False if sessions ending before covers_from could be among them.
  template <class SegmentOf>
  bool Find(std::string_view key, int64_t from, int64_t to, SegmentOf&& segment_of,
            std::vector<Window>* found) const {
    found->clear();
    if (from < covers_from_) return false;
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return true;
    for (const Window& w : it->second) {
      if (w.end_ms >= from && w.start_ms <= to) found->push_back(w);
    }
    std::sort(found->begin(), found->end(), [&](const Window& a, const Window& b) {
      const int64_t sa = segment_of(a.end_ms), sb = segment_of(b.end_ms);
      return sa != sb ? sa < sb : a.start_ms < b.start_ms;
    });
    return true;
  }

  // The store now holds session `w` of `key` (replacing one with the same start).
  void Add(std::string_view key, const Window& w, int64_t stream_time) { Replace(key, {}, w, stream_time); }

  // The store no longer holds sessions `removed` of `key` and now holds `w` (replacing one
  // with the same start): a merge, with one lookup of the key.
  void Replace(std::string_view key, std::span<const Window> removed, const Window& w, int64_t stream_time) {
    const bool add = w.end_ms >= covers_from_;
    auto slot = by_key_.find(key);
    if (slot == by_key_.end()) {
      if (!add) return;
      slot = by_key_.emplace(std::string(key), Windows()).first;
      bytes_ += key.size() + kKeyOverhead;
    }
    Windows& windows = slot->second;
    for (const Window& gone : removed) {
      auto it = std::find(windows.begin(), windows.end(), gone);
      if (it == windows.end()) continue;
      windows.erase(it);
      bytes_ -= sizeof(Window);
    }
    if (add) {
      auto it = std::lower_bound(windows.begin(), windows.end(), w.start_ms,
                                 [](const Window& x, int64_t start) { return x.start_ms < start; });
      if (it != windows.end() && it->start_ms == w.start_ms) {
        it->end_ms = w.end_ms;
      } else {
        windows.insert(it, w);
        bytes_ += sizeof(Window);
      }
    } else if (windows.empty()) {
      bytes_ -= slot->first.size() + kKeyOverhead;
      by_key_.erase(slot);
    }
    if (bytes_ > g_session_index_bytes.load(std::memory_order_relaxed)) Overflow(stream_time);
  }

  // The store no longer holds session `w` of `key`.
  void Remove(std::string_view key, const Window& w) {
    auto slot = by_key_.find(key);
    if (slot == by_key_.end()) return;
    Windows& windows = slot->second;
    auto it = std::find(windows.begin(), windows.end(), w);
    if (it == windows.end()) return;
    windows.erase(it);
    bytes_ -= sizeof(Window);
    if (windows.empty()) {
      bytes_ -= slot->first.size() + kKeyOverhead;
      by_key_.erase(slot);
    }
  }

  // The store dropped every session ending before `t` (expired segments).
  void DropBefore(int64_t t) {
    if (t <= covers_from_) return;
    covers_from_ = t;
    for (auto slot = by_key_.begin(); slot != by_key_.end();) {
      Windows& windows = slot->second;
      const size_t before = windows.size();
      windows.erase(std::remove_if(windows.begin(), windows.end(),
                                   [&](const Window& w) { return w.end_ms < t; }),
                    windows.end());
      bytes_ -= (before - windows.size()) * sizeof(Window);
      if (windows.empty()) {
        bytes_ -= slot->first.size() + kKeyOverhead;
        by_key_.erase(slot++);
      } else {
        ++slot;
      }
    }
  }

  size_t bytes() const { return bytes_; }
  size_t keys() const { return by_key_.size(); }

 private:
  // Past the budget: forget everything; the store serves what ends up to stream time.
  void Overflow(int64_t stream_time) {
    by_key_.clear();
    bytes_ = 0;
    covers_from_ = std::max(covers_from_, stream_time + 1);
  }

  // Most keys have one or two live sessions: held in place, without an allocation.
  using Windows = absl::InlinedVector<Window, 2>;

  int64_t covers_from_ = kAll;
  absl::flat_hash_map<std::string, Windows, StringHash, StringEq> by_key_;
  size_t bytes_ = 0;
};

}  // namespace sluice::internal
