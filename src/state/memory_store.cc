#include "src/state/memory_store.h"

#include <mutex>

namespace sluice::internal {
namespace {

// Merges the overlay over the committed map, both ordered, skipping deletions.
class MergedIterator final : public StoreIterator {
 public:
  using Map = std::map<std::string, std::optional<std::string>, std::less<>>;

  MergedIterator(const Map& overlay, const Map& base, std::optional<std::string_view> from,
                 std::optional<std::string_view> to)
      : o_(from ? overlay.lower_bound(*from) : overlay.begin()),
        o_end_(to ? overlay.lower_bound(*to) : overlay.end()),
        b_(from ? base.lower_bound(*from) : base.begin()),
        b_end_(to ? base.lower_bound(*to) : base.end()) {
    if (from && to && *from >= *to) {  // an empty range
      o_ = o_end_ = overlay.end();
      b_ = b_end_ = base.end();
    }
    Settle();
  }
  bool Valid() const override { return from_overlay_ ? o_ != o_end_ : b_ != b_end_; }
  void Next() override {
    if (from_overlay_) {
      if (b_ != b_end_ && b_->first == o_->first) ++b_;
      ++o_;
    } else {
      ++b_;
    }
    Settle();
  }
  std::string_view key() const override { return from_overlay_ ? o_->first : b_->first; }
  std::string_view value() const override { return from_overlay_ ? *o_->second : *b_->second; }
  absl::Status status() const override { return absl::OkStatus(); }

 private:
  // Positions on the smaller key of the two sides; an overlay deletion hides its key.
  void Settle() {
    while (true) {
      const bool o_ok = o_ != o_end_, b_ok = b_ != b_end_;
      if (!o_ok) {
        from_overlay_ = false;
        return;
      }
      if (b_ok && b_->first < o_->first) {
        from_overlay_ = false;
        return;
      }
      if (o_->second.has_value()) {
        from_overlay_ = true;
        return;
      }
      if (b_ok && b_->first == o_->first) ++b_;
      ++o_;
    }
  }

  Map::const_iterator o_, o_end_;
  Map::const_iterator b_, b_end_;
  bool from_overlay_ = false;
};

class CopyIterator final : public StoreIterator {
 public:
  explicit CopyIterator(std::map<std::string, std::string> entries)
      : entries_(std::move(entries)), it_(entries_.begin()) {}
  bool Valid() const override { return it_ != entries_.end(); }
  void Next() override { ++it_; }
  std::string_view key() const override { return it_->first; }
  std::string_view value() const override { return it_->second; }
  absl::Status status() const override { return absl::OkStatus(); }

 private:
  std::map<std::string, std::string> entries_;
  std::map<std::string, std::string>::const_iterator it_;
};

}  // namespace

absl::Status MemoryStore::Get(std::string_view key, std::string* value, bool* found) {
  auto o = overlay_.find(key);
  if (o != overlay_.end()) {
    *found = o->second.has_value();
    if (*found) *value = *o->second;
    return absl::OkStatus();
  }
  auto b = committed_.find(key);
  *found = b != committed_.end();
  if (*found) *value = *b->second;
  return absl::OkStatus();
}

absl::Status MemoryStore::Put(std::string_view key, std::string_view value) {
  auto it = overlay_.lower_bound(key);
  if (it != overlay_.end() && it->first == key) {
    if (it->second) {
      it->second->assign(value);  // in place, in the string's own buffer when it fits
    } else {
      it->second.emplace(value);
    }
  } else {
    overlay_.emplace_hint(it, std::string(key), std::string(value));
  }
  pending_bytes_ += key.size() + value.size();
  return absl::OkStatus();
}

absl::Status MemoryStore::Delete(std::string_view key) {
  pending_bytes_ += key.size();
  auto it = overlay_.lower_bound(key);
  const bool in_overlay = it != overlay_.end() && it->first == key;
  if (!committed_.contains(key)) {
    // Nothing committed to delete: an uncommitted write is simply forgotten (a buffer
    // that holds a record for less than a commit interval never reaches the map).
    if (in_overlay) overlay_.erase(it);
    return absl::OkStatus();
  }
  if (in_overlay) {
    it->second.reset();
  } else {
    overlay_.emplace_hint(it, std::string(key), std::nullopt);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StoreIterator>> MemoryStore::Range(
    std::optional<std::string_view> from, std::optional<std::string_view> to) {
  return std::unique_ptr<StoreIterator>(new MergedIterator(overlay_, committed_, from, to));
}

absl::StatusOr<uint64_t> MemoryStore::ApproximateNumEntries() {
  return committed_.size() + overlay_.size();
}

void MemoryStore::Commit() {
  if (overlay_.empty()) return;
  std::unique_lock<std::shared_mutex> lock(mu_);
  while (!overlay_.empty()) {
    auto next = overlay_.begin();
    auto at = committed_.lower_bound(next->first);
    if (at != committed_.end() && at->first == next->first) {
      if (next->second) {
        at->second = std::move(next->second);
      } else {
        committed_.erase(at);
      }
      overlay_.erase(next);
    } else if (next->second) {
      committed_.insert(at, overlay_.extract(next));  // the node itself moves
    } else {
      overlay_.erase(next);  // deleted what was never committed
    }
  }
  lock.unlock();
  pending_bytes_ = 0;
}

void MemoryStore::Clear() {
  DiscardPending();
  std::unique_lock<std::shared_mutex> lock(mu_);
  committed_.clear();
}

absl::Status MemoryStore::ReadCommitted(std::string_view key, std::string* value,
                                        bool* found) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = committed_.find(key);
  *found = it != committed_.end();
  if (*found) *value = *it->second;
  return absl::OkStatus();
}

std::map<std::string, std::string> MemoryStore::CopyCommitted(
    std::optional<std::string_view> from, std::optional<std::string_view> to) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto begin = from ? committed_.lower_bound(*from) : committed_.begin();
  std::map<std::string, std::string> out;
  for (auto it = begin; it != committed_.end() && (!to || it->first < *to); ++it) {
    out.emplace(it->first, *it->second);
  }
  return out;
}

uint64_t MemoryStore::CommittedCount() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return committed_.size();
}

}  // namespace sluice::internal
