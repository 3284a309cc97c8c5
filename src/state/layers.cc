#include "src/state/layers.h"

namespace sluice::internal {

absl::Status ChangeLoggingStore::Put(std::string_view key, std::string_view value) {
  if (absl::Status s = inner_->Put(key, value); !s.ok()) return s;
  return Log(key, value);
}

absl::Status ChangeLoggingStore::PutBlind(std::string_view key, std::string_view value) {
  if (absl::Status s = inner_->PutBlind(key, value); !s.ok()) return s;
  return Log(key, value);
}

absl::Status ChangeLoggingStore::PutAtCommit(std::string_view key, std::string_view value) {
  if (absl::Status s = inner_->PutAtCommit(key, value); !s.ok()) return s;
  return Log(key, value);
}

absl::Status ChangeLoggingStore::Log(std::string_view key, std::string_view value) {
  if (!DecodeStored(value, &decoded_)) {
    return absl::DataLossError(Cat("store '", name(), "': a value has a malformed envelope"));
  }
  positions_.clear();
  if (!decoded_.positions.empty()) decoded_.positions.AppendTo(&positions_);
  OutRecord out;
  out.topic = topic_;
  out.partition = partition_;
  out.key = key;
  // A present value is never a Kafka null, even when empty.
  out.value = decoded_.value.data() != nullptr ? decoded_.value : std::string_view("", 0);
  out.timestamp = decoded_.timestamp;
  out.positions = positions_;
  out.changelog = true;
  return collector_.Send(out);
}

absl::Status ChangeLoggingStore::Delete(std::string_view key) {
  if (absl::Status s = inner_->Delete(key); !s.ok()) return s;
  return LogDelete(key);
}

absl::Status ChangeLoggingStore::DeleteAtCommit(std::string_view key) {
  if (absl::Status s = inner_->DeleteAtCommit(key); !s.ok()) return s;
  return LogDelete(key);
}

absl::Status ChangeLoggingStore::LogDelete(std::string_view key) {
  OutRecord out;
  out.topic = topic_;
  out.partition = partition_;
  out.key = key;
  out.changelog = true;
  return collector_.Send(out);
}

CachingStore::~CachingStore() { Discard(); }

void CachingStore::Account(size_t before, size_t after) {
  bytes_ = bytes_ - before + after;
  budget_.used_bytes = budget_.used_bytes - before + after;
}

void CachingStore::MarkDirty(Entry& e) {
  if (e.is_dirty && dirty_tail_ == &e) return;
  MarkClean(e);
  e.is_dirty = true;
  e.dirty_prev = dirty_tail_;
  if (dirty_tail_ != nullptr) {
    dirty_tail_->dirty_next = &e;
  } else {
    dirty_head_ = &e;
  }
  dirty_tail_ = &e;
}

void CachingStore::MarkClean(Entry& e) {
  if (!e.is_dirty) return;
  (e.dirty_prev != nullptr ? e.dirty_prev->dirty_next : dirty_head_) = e.dirty_next;
  (e.dirty_next != nullptr ? e.dirty_next->dirty_prev : dirty_tail_) = e.dirty_prev;
  e.is_dirty = false;
  e.dirty_prev = e.dirty_next = nullptr;
}

CachingStore::Entry& CachingStore::Upsert(std::string_view key, bool* added) {
  if (last_ && (*last_)->key.view() == key) {
    lru_.splice(lru_.end(), lru_, *last_);
    return **last_;
  }
  auto it = index_.find(key);
  if (it != index_.end()) {
    lru_.splice(lru_.end(), lru_, it->second);
    return *it->second;
  }
  if (added != nullptr) *added = true;
  held_.Added(key);
  lru_.emplace_back().key.assign(key);
  Lru::iterator entry = std::prev(lru_.end());
  index_.emplace(entry->key.view(), entry);
  if (ordered_) ordered_->emplace(entry->key.view(), &*entry);
  Account(0, entry->Bytes());
  return *entry;
}

absl::Status CachingStore::Get(std::string_view key, std::string* value, bool* found) {
  if (pending_ != nullptr) pending_->WritePending(key);
  auto it = index_.find(key);
  if (it != index_.end()) {
    lru_.splice(lru_.end(), lru_, it->second);
    last_ = it->second;
    *found = !it->second->deleted;
    if (*found) value->assign(it->second->value.view());
    return absl::OkStatus();
  }
  if (NeverHeld(key)) {
    *found = false;
    return absl::OkStatus();
  }
  if (absl::Status s = inner_->Get(key, value, found); !s.ok() || !*found) return s;
  Entry& e = Upsert(key);
  const size_t before = e.Bytes();
  e.value.assign(*value);
  if (KeepsBase()) {
    e.base_known = true;
    e.base = *value;
  }
  Account(before, e.Bytes());
  last_ = std::prev(lru_.end());
  return EvictIfNeeded();
}

absl::Status CachingStore::Put(std::string_view key, std::string_view value) {
  return Write(Upsert(key), value);
}

absl::Status CachingStore::PutAbsent(std::string_view key, std::string_view value) {
  bool added = false;
  Entry& e = Upsert(key, &added);
  if (added) {
    // The caller knows the store below holds nothing here: no read at write-down.
    e.base_known = true;
    e.base.reset();
    e.below_empty = true;
  }
  return Write(e, value);
}

absl::Status CachingStore::Write(Entry& e, std::string_view value) {
  const size_t before = e.Bytes();
  e.value.assign(value);
  e.deleted = false;
  MarkDirty(e);
  Account(before, e.Bytes());
  return EvictIfNeeded();
}

absl::Status CachingStore::Delete(std::string_view key) {
  Entry& e = Upsert(key);
  const size_t before = e.Bytes();
  e.value.clear();
  e.deleted = true;
  MarkDirty(e);
  Account(before, e.Bytes());
  return EvictIfNeeded();
}

bool CachingStore::NeverHeld(std::string_view key) {
  if (!held_.started()) {
    // A read that fails leaves the filter off: every miss reads below, as without it.
    if (held_.Start(*inner_).ok()) {
      for (const auto& [k, entry] : index_) held_.Added(k);
    }
  }
  return held_.NeverHeld(KeyFilter::Hash(key));
}

bool CachingStore::KeepsBase() {
  if (!keeps_base_) keeps_base_ = listener_ != nullptr && listener_->WantsOldValues();
  return *keeps_base_;
}

absl::Status CachingStore::WriteDown(Entry& e, bool keep) {
  if (e.deleted && e.below_empty) {
    // Deleted before the store below ever held it (a session merged into a longer one
    // within a commit interval): as in Kafka Streams' caching stores, neither the store
    // nor the listener hears of it; nothing was written, so nothing was emitted.
    return absl::OkStatus();
  }
  if (KeepsBase() && !e.base_known) {
    // Written without being read first: what it replaces is only known below.
    std::string old;
    bool found = false;
    if (absl::Status s = inner_->Get(e.key, &old, &found); !s.ok()) return s;
    if (found) e.base = std::move(old);
    e.base_known = true;
  }
  absl::Status s = e.deleted ? inner_->DeleteAtCommit(e.key) : inner_->PutAtCommit(e.key, e.value);
  if (!s.ok()) return s;
  e.below_empty = e.deleted;
  if (listener_ != nullptr) {
    listener_->OnFlush(e.key, e.deleted ? std::nullopt : std::optional<std::string_view>(e.value.view()),
                       e.base ? std::optional<std::string_view>(*e.base) : std::nullopt);
  }
  if (!keep || !KeepsBase()) return absl::OkStatus();
  // The store below now holds this entry's value.
  const size_t before = e.Bytes();
  if (e.deleted) {
    e.base.reset();
  } else {
    if (!e.base) e.base.emplace();
    e.base->assign(e.value.view());
  }
  e.base_known = true;
  Account(before, e.Bytes());
  return absl::OkStatus();
}

void CachingStore::Forget(Lru::iterator entry) {
  if (last_ && *last_ == entry) last_.reset();
  Account(entry->Bytes(), 0);
  index_.erase(entry->key.view());
  if (ordered_) ordered_->erase(entry->key.view());
  lru_.erase(entry);
}

absl::Status CachingStore::EvictIfNeeded() {
  // Like Kafka Streams, a store evicts only its own entries, and keeps the newest one.
  while (budget_.used_bytes > budget_.max_bytes && lru_.size() > 1) {
    Entry& victim = lru_.front();
    if (victim.dirty()) {
      if (absl::Status s = WriteDown(victim, /*keep=*/false); !s.ok()) return s;
      MarkClean(victim);
    }
    Forget(lru_.begin());
  }
  return absl::OkStatus();
}

absl::Status CachingStore::Flush() {
  if (pending_ != nullptr) pending_->WritePending(std::nullopt);
  while (dirty_head_ != nullptr) {
    Entry& e = *dirty_head_;
    MarkClean(e);
    if (absl::Status s = WriteDown(e, /*keep=*/true); !s.ok()) return s;
  }
  return inner_->Flush();
}

namespace {

// The cached entries of a range (views) merged over the store below's iterator.
class CacheMergedIterator final : public StoreIterator {
 public:
  struct Cached {
    std::string_view key;
    std::string_view value;
    bool deleted;
  };
  CacheMergedIterator(std::vector<Cached> cached, std::unique_ptr<StoreIterator> below)
      : cached_(std::move(cached)), below_(std::move(below)) {
    Settle();
  }
  bool Valid() const override { return on_ != On::kNone; }
  void Next() override {
    if (on_ == On::kCache) {
      ++next_;
    } else {
      below_->Next();
    }
    Settle();
  }
  std::string_view key() const override { return on_ == On::kCache ? cached_[next_].key : below_->key(); }
  std::string_view value() const override {
    return on_ == On::kCache ? cached_[next_].value : below_->value();
  }
  absl::Status status() const override { return below_->status(); }

 private:
  enum class On { kNone, kCache, kBelow };
  // Points at the smaller key of the two sides; a cached key hides the same key below,
  // and a cached delete is skipped.
  void Settle() {
    while (true) {
      const bool cache = next_ < cached_.size();
      const bool below = below_->Valid();
      if (!cache && !below) {
        on_ = On::kNone;
        return;
      }
      if (cache && (!below || cached_[next_].key <= below_->key())) {
        if (below && cached_[next_].key == below_->key()) below_->Next();
        if (cached_[next_].deleted) {
          ++next_;
          continue;
        }
        on_ = On::kCache;
        return;
      }
      on_ = On::kBelow;
      return;
    }
  }

  std::vector<Cached> cached_;
  size_t next_ = 0;
  std::unique_ptr<StoreIterator> below_;
  On on_ = On::kNone;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StoreIterator>> CachingStore::Range(
    std::optional<std::string_view> from, std::optional<std::string_view> to) {
  if (pending_ != nullptr) pending_->WritePending(std::nullopt);
  absl::StatusOr<std::unique_ptr<StoreIterator>> below = inner_->Range(from, to);
  if (!below.ok() || lru_.empty()) return below;
  if (!ordered_) {
    ordered_.emplace();
    for (const Entry& e : lru_) ordered_->emplace(e.key.view(), &e);
  }
  std::vector<CacheMergedIterator::Cached> cached;
  for (auto it = from ? ordered_->lower_bound(*from) : ordered_->begin();
       it != ordered_->end() && (!to || it->first < *to); ++it) {
    cached.push_back({it->first, it->second->value.view(), it->second->deleted});
  }
  if (cached.empty()) return below;
  return std::unique_ptr<StoreIterator>(
      std::make_unique<CacheMergedIterator>(std::move(cached), std::move(*below)));
}

absl::StatusOr<uint64_t> CachingStore::ApproximateNumEntries() {
  return inner_->ApproximateNumEntries();
}

absl::Status CachingStore::DropBefore(std::string_view end) {
  if (pending_ != nullptr) pending_->WritePending(std::nullopt);
  // The dropped entries are written down (the listener emits them; the range deletion
  // at commit comes after), the others stay as they are.
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto entry = it++;
    if (entry->key.view() >= end) continue;
    if (entry->dirty()) {
      if (absl::Status s = WriteDown(*entry, /*keep=*/false); !s.ok()) return s;
      MarkClean(*entry);
    }
    Forget(entry);
  }
  return inner_->DropBefore(end);
}

void CachingStore::ForgetHeldKeys() {
  held_.Reset();
  for (Entry& e : lru_) e.below_empty = false;
}

void CachingStore::Discard() {
  ForgetHeldKeys();
  dirty_head_ = dirty_tail_ = nullptr;
  last_.reset();
  Account(bytes_, 0);
  index_.clear();
  if (ordered_) ordered_->clear();
  lru_.clear();
}

}  // namespace sluice::internal
