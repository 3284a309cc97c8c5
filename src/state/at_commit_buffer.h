// The at-commit writes of a task's RocksDB (TaskDb::PutAtCommit): per column family, the
// last write of each key, readable by key, written sorted at the commit. Keys and values
// are copied into an arena of large blocks that a commit empties at once, so a write
// costs a hash insert and a copy, not two allocations. The memory a commit used is kept
// for the next one (new pages cost a page fault each).
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
    if (family == families_.end() || family->second.writes.empty()) return;
    Writes& w = family->second;
    sorted_.clear();
    for (size_t i = 0; i < w.writes.size(); ++i) {
      if (!w.writes[i].erased) sorted_.push_back(Sortable::Of(w.writes[i].key, static_cast<uint32_t>(i)));
    }
    scratch_.resize(sorted_.size());
    Sort(sorted_.data(), scratch_.data(), sorted_.size(), 0);
    for (const Sortable& s : sorted_) f(s.key, w.writes[s.write].slot);
    w.Take();
    Trim(sorted_);
    Trim(scratch_);
  }
  // The families holding writes.
  std::vector<Family> families() const {
    std::vector<Family> out;
    for (const auto& [cf, writes] : families_) {
      if (!writes.writes.empty()) out.push_back(cf);
    }
    return out;
  }

  // Forgets every write. The arena's blocks that this commit used stay for the next one.
  void Clear() {
    for (auto& [cf, writes] : families_) writes.Take();
    blocks_.resize(std::min(blocks_.size(), block_ + 1));
    std::erase_if(blocks_, [](const Block& b) { return b.size != kBlockBytes; });  // one large value's
    block_ = 0;
    used_ = 0;
    bytes_ = 0;
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
    // Empties the writes, keeping their memory for a commit of the same size: a commit
    // that used a quarter of it or less lets it go. (A large map frees its array when
    // cleared; it is reserved again at the first write, at the size it last reached.)
    void Take() {
      if (writes.empty()) return;
      last_size = writes.size();
      index.clear();
      Trim(writes);
    }
    size_t last_size = 0;
  };
  // Clears a vector, and frees it when the last use took a quarter of it or less.
  template <class T>
  static void Trim(std::vector<T>& v) {
    if (v.size() * 4 <= v.capacity() && v.capacity() > 1024) {
      std::vector<T>().swap(v);
    } else {
      v.clear();
    }
  }

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
      unsigned char bytes[kWords * 8] = {};
      std::memcpy(bytes, key.data(), std::min(sizeof bytes, key.size()));
      Sortable s;
      for (size_t i = 0; i < sizeof bytes; ++i) s.prefix[i / 8] = (s.prefix[i / 8] << 8) | bytes[i];
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
    if (writes.writes.empty()) {
      writes.index.reserve(writes.last_size);
      writes.writes.reserve(writes.last_size);
    }
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
    if (blocks_.empty() || used_ + bytes.size() > blocks_[block_].size) {
      // The next block: one kept from the last commit if it fits, else a new one.
      if (!blocks_.empty()) ++block_;
      if (block_ < blocks_.size() && bytes.size() > blocks_[block_].size) blocks_.resize(block_);
      if (block_ == blocks_.size()) {
        const size_t size = std::max(kBlockBytes, bytes.size());
        blocks_.push_back(Block{std::unique_ptr<char[]>(new char[size]), size});  // uninitialized
      }
      used_ = 0;
    }
    char* at = blocks_[block_].bytes.get() + used_;
    std::memcpy(at, bytes.data(), bytes.size());
    used_ += bytes.size();
    return std::string_view(at, bytes.size());
  }

  struct Block {
    std::unique_ptr<char[]> bytes;
    size_t size = 0;
  };

  std::map<Family, Writes> families_;
  // The family written last, so that a run of writes to one store skips the map.
  Family last_cf_ = nullptr;
  Writes* last_ = nullptr;
  std::vector<Block> blocks_;
  size_t block_ = 0;  // the block being filled
  size_t used_ = 0;   // its bytes used
  size_t bytes_ = 0;
  // The sort's buffers, kept between commits.
  std::vector<Sortable> sorted_;
  std::vector<Sortable> scratch_;
};

}  // namespace sluice::internal
