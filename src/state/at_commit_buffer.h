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
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "sluice/internal/str.h"
#include "sluice/serde.h"

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
    const Writes* writes = WritesOf(cf);
    if (writes == nullptr) return nullptr;
    auto it = writes->index.find(key);
    return it == writes->index.end() ? nullptr : &writes->writes[it->second].slot;
  }
  void Erase(Family cf, std::string_view key) {
    Writes* writes = WritesOf(cf);
    if (writes == nullptr) return;
    auto it = writes->index.find(key);
    if (it == writes->index.end()) return;
    writes->writes[it->second].erased = true;
    writes->index.erase(it);
  }

  // Calls f(key, slot) for each write of `cf`, sorted by key, and forgets them (their
  // bytes stay in the arena until Clear).
  template <class F>
  void TakeSorted(Family cf, F&& f) {
    auto family = families_.find(cf);
    if (family == families_.end()) return;
    const std::vector<Write>& writes = family->second.writes;
    // The thread's, kept from commit to commit: a large allocation at every commit made
    // malloc consolidate every small block freed since (3% of a windowed count's time).
    static thread_local std::vector<Sortable> sorted, scratch;
    sorted.clear();
    for (size_t i = 0; i < writes.size(); ++i) {
      if (!writes[i].erased) sorted.push_back(Sortable::Of(writes[i].key, static_cast<uint32_t>(i)));
    }
    if (scratch.size() < sorted.size()) scratch.resize(sorted.size());
    Sort(sorted.data(), scratch.data(), sorted.size(), 0);
    for (const Sortable& s : sorted) f(s.key, writes[s.write].slot);
    last_ = nullptr;
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
    last_ = nullptr;
    families_.clear();
    blocks_.clear();
    block_size_ = used_ = bytes_ = 0;
  }

 private:
  static constexpr size_t kBlockBytes = 1u << 20;

  // A family's writes in the order of their keys' first writes (the order their keys
  // were copied into the arena, so a commit reads the keys sequentially), with an index
  // by key. An erased write stays in place, skipped.
  struct Write {
    std::string_view key;
    Slot slot;
    bool erased = false;
  };
  struct Writes {
    absl::flat_hash_map<std::string_view, uint32_t, StringHash, StringEq> index;
    std::vector<Write> writes;
  };

  // A write to sort by key: its first 32 bytes (zero-padded) as big-endian integers
  // decide most comparisons without following the pointer to the key (a window store's
  // keys share their first 8 bytes, the segment); equal prefixes fall back to comparing
  // the keys, which keeps the order exactly bytewise.
  struct Sortable {
    static constexpr size_t kWords = 4;
    uint64_t prefix[kWords] = {};
    std::string_view key;
    uint32_t write = 0;  // its place in Writes::writes

    static Sortable Of(std::string_view key, uint32_t write) {
      char bytes[kWords * 8] = {};
      std::memcpy(bytes, key.data(), std::min(sizeof bytes, key.size()));
      Sortable s;
      for (size_t i = 0; i < kWords; ++i) s.prefix[i] = LoadBigEndian<uint64_t>(bytes + 8 * i);
      s.key = key;
      s.write = write;
      return s;
    }
    uint8_t Byte(size_t i) const { return static_cast<uint8_t>(prefix[i / 8] >> (56 - 8 * (i % 8))); }
    bool operator<(const Sortable& o) const {
      for (size_t i = 0; i < kWords; ++i) {
        if (prefix[i] != o.prefix[i]) return prefix[i] < o.prefix[i];
      }
      return key < o.key;
    }
  };

  // Sorts `n` writes whose prefixes agree before byte `byte`: a most-significant-byte-first
  // radix sort over the prefixes (a commit's keys mostly share their first bytes, which
  // cost one counting pass each), and a comparison sort for a few writes or for prefixes
  // that tie. A comparison sort of a large commit spent most of its time in mispredicted
  // branches.
  static void Sort(Sortable* writes, Sortable* scratch, size_t n, size_t byte) {
    static constexpr size_t kFewWrites = 64;
    while (n >= kFewWrites && byte < Sortable::kWords * 8) {
      size_t count[256] = {};
      for (size_t i = 0; i < n; ++i) ++count[writes[i].Byte(byte)];
      if (count[writes[0].Byte(byte)] == n) {  // all share this byte
        ++byte;
        continue;
      }
      size_t next[256];
      for (size_t b = 0, at = 0; b < 256; at += count[b], ++b) next[b] = at;
      for (size_t i = 0; i < n; ++i) scratch[next[writes[i].Byte(byte)]++] = writes[i];
      std::copy(scratch, scratch + n, writes);
      for (size_t b = 0, at = 0; b < 256; at += count[b], ++b) {
        if (count[b] > 1) Sort(writes + at, scratch + at, count[b], byte + 1);
      }
      return;
    }
    std::sort(writes, writes + n);
  }

  const Writes* WritesOf(Family cf) const {
    if (last_ != nullptr && last_cf_ == cf) return last_;
    auto family = families_.find(cf);
    return family == families_.end() ? nullptr : &family->second;
  }
  Writes* WritesOf(Family cf) { return const_cast<Writes*>(std::as_const(*this).WritesOf(cf)); }

  // The slot of `key`'s write: one hash and one probe, whether the key is new or not.
  Slot& SlotOf(Family cf, std::string_view key) {
    if (last_ == nullptr || last_cf_ != cf) {
      last_ = &families_[cf];  // std::map: the address stays until the family is taken
      last_cf_ = cf;
    }
    Writes& writes = *last_;
    auto it = writes.index.lazy_emplace(key, [&](const auto& construct) {
      const std::string_view copy = Copy(key);
      construct(copy, static_cast<uint32_t>(writes.writes.size()));
      writes.writes.push_back(Write{copy, Slot{}, false});
    });
    return writes.writes[it->second].slot;
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
  // The family written last, so that a run of writes to one store skips the map.
  Family last_cf_ = nullptr;
  Writes* last_ = nullptr;
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_size_ = 0;
  size_t used_ = 0;
  size_t bytes_ = 0;
};

}  // namespace sluice::internal
