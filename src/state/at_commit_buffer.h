// The at-commit writes of a task's RocksDB (TaskDb::PutAtCommit): per column family, the
// last write of each key, readable by key, written sorted at the commit. Keys and values
// are copied into an arena of large blocks that a commit empties at once, so a write
// costs a hash insert and a copy, not two allocations.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "sluice/internal/str.h"

namespace rocksdb {
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace sluice::internal {

class AtCommitBuffer {
 public:
  struct Slot {
    std::string_view value;
    bool deleted = false;
  };
  using Family = rocksdb::ColumnFamilyHandle*;

  bool empty() const { return families_.empty(); }
  // The bytes of keys and values held (overwritten values included until the commit).
  size_t bytes() const { return bytes_; }

  void Put(Family cf, std::string_view key, std::string_view value) {
    Slot& slot = SlotOf(cf, key);
    slot.value = Copy(value);
    slot.deleted = false;
  }
  void Delete(Family cf, std::string_view key) {
    Slot& slot = SlotOf(cf, key);
    slot.value = {};
    slot.deleted = true;
  }
  // The last write of `key`, or null.
  const Slot* Find(Family cf, std::string_view key) const {
    if (families_.empty()) return nullptr;
    auto family = families_.find(cf);
    if (family == families_.end()) return nullptr;
    auto it = family->second.find(key);
    return it == family->second.end() ? nullptr : &it->second;
  }
  void Erase(Family cf, std::string_view key) {
    if (families_.empty()) return;
    auto family = families_.find(cf);
    if (family != families_.end()) family->second.erase(key);
  }

  // Calls f(key, slot) for each write of `cf`, sorted by key, and forgets them (their
  // bytes stay in the arena until Clear).
  template <class F>
  void TakeSorted(Family cf, F&& f) {
    auto family = families_.find(cf);
    if (family == families_.end()) return;
    std::vector<Sortable> sorted;
    sorted.reserve(family->second.size());
    for (const auto& entry : family->second) sorted.push_back(Sortable::Of(entry));
    std::sort(sorted.begin(), sorted.end());
    for (const Sortable& s : sorted) f(s.entry->first, s.entry->second);
    families_.erase(family);
  }
  // The families holding writes.
  std::vector<Family> families() const {
    std::vector<Family> out;
    for (const auto& [cf, writes] : families_) out.push_back(cf);
    return out;
  }

  // Forgets everything and frees the arena.
  void Clear() {
    families_.clear();
    blocks_.clear();
    block_size_ = used_ = bytes_ = 0;
  }

 private:
  static constexpr size_t kBlockBytes = 1u << 20;
  using Writes = absl::flat_hash_map<std::string_view, Slot, StringHash, StringEq>;

  // A write to sort by key: its first 32 bytes (zero-padded) as big-endian integers
  // decide most comparisons without following the pointer to the key (a window store's
  // keys share their first 8 bytes, the segment); equal prefixes fall back to comparing
  // the keys, which keeps the order exactly bytewise.
  struct Sortable {
    static constexpr size_t kWords = 4;
    uint64_t prefix[kWords] = {};
    const std::pair<const std::string_view, Slot>* entry = nullptr;

    static Sortable Of(const std::pair<const std::string_view, Slot>& entry) {
      unsigned char bytes[kWords * 8] = {};
      std::memcpy(bytes, entry.first.data(), std::min(sizeof bytes, entry.first.size()));
      Sortable s;
      for (size_t i = 0; i < sizeof bytes; ++i) s.prefix[i / 8] = (s.prefix[i / 8] << 8) | bytes[i];
      s.entry = &entry;
      return s;
    }
    bool operator<(const Sortable& o) const {
      for (size_t i = 0; i < kWords; ++i) {
        if (prefix[i] != o.prefix[i]) return prefix[i] < o.prefix[i];
      }
      return entry->first < o.entry->first;
    }
  };

  Slot& SlotOf(Family cf, std::string_view key) {
    Writes& writes = families_[cf];
    auto it = writes.find(key);
    if (it == writes.end()) it = writes.emplace(Copy(key), Slot{}).first;
    return it->second;
  }

  std::string_view Copy(std::string_view bytes) {
    bytes_ += bytes.size();
    if (bytes.empty()) return std::string_view("", 0);
    if (blocks_.empty() || used_ + bytes.size() > block_size_) {
      block_size_ = std::max(kBlockBytes, bytes.size());
      blocks_.emplace_back(new char[block_size_]);  // uninitialized: written before read
      used_ = 0;
    }
    char* at = blocks_.back().get() + used_;
    std::memcpy(at, bytes.data(), bytes.size());
    used_ += bytes.size();
    return std::string_view(at, bytes.size());
  }

  std::map<Family, Writes> families_;
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_size_ = 0;
  size_t used_ = 0;
  size_t bytes_ = 0;
};

}  // namespace sluice::internal
