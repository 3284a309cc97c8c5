// OpenWindows: the windows of a time-windowed aggregation with EmitStrategy::OnWindowClose
// that have not been emitted yet, by end. The aggregation adds a window when it creates
// it and takes the windows whose end stream time has passed by the grace; it then reads
// each from its own store and emits it once (Kafka Streams, KIP-825, finds them by
// scanning a time-ordered store). The index lives in memory: a few bytes per window (its
// key's bytes), no store writes, no changelog. A task rebuilds it from its store when it
// starts (TimeWindowAggregateNode::LoadOpenWindows).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::internal {

class OpenWindows {
 public:
  // A window ending at `end` of the key with these bytes (a window added twice is taken
  // once).
  void Add(int64_t end, std::string_view key) {
    if (last_ == nullptr || last_end_ != end) {
      last_ = &by_end_[end];
      last_end_ = end;
    }
    last_->spans.emplace_back(static_cast<uint32_t>(last_->bytes.size()), static_cast<uint32_t>(key.size()));
    last_->bytes.append(key);
    ++size_;
  }

  // Whether a window ends at or before `close`.
  bool AnyEndingBy(int64_t close) const { return !by_end_.empty() && by_end_.begin()->first <= close; }

  // Takes the windows with the earliest end, if it is at or before `close`: their keys,
  // in byte order, into `keys` (views valid until the next call). Returns that end.
  std::optional<int64_t> TakeFirstEndingBy(int64_t close, std::vector<std::string_view>* keys) {
    keys->clear();
    if (!AnyEndingBy(close)) return std::nullopt;
    auto first = by_end_.begin();
    const int64_t end = first->first;
    taken_ = std::move(first->second);
    if (last_ == &first->second) last_ = nullptr;
    by_end_.erase(first);
    size_ -= taken_.spans.size();
    keys->reserve(taken_.spans.size());
    for (const auto& [offset, length] : taken_.spans) keys->emplace_back(taken_.bytes.data() + offset, length);
    std::sort(keys->begin(), keys->end());
    keys->erase(std::unique(keys->begin(), keys->end()), keys->end());
    return end;
  }

  size_t size() const { return size_; }
  void Clear() {
    by_end_.clear();
    last_ = nullptr;
    size_ = 0;
  }

 private:
  // The keys of the windows with one end, back to back.
  struct Ending {
    std::string bytes;
    std::vector<std::pair<uint32_t, uint32_t>> spans;  // (offset, length) in bytes
  };
  std::map<int64_t, Ending> by_end_;
  Ending* last_ = nullptr;  // the Ending of the last Add (a record's windows often share it)
  int64_t last_end_ = 0;
  Ending taken_;
  size_t size_ = 0;
};

}  // namespace sluice::internal
