// KeyFilter: a blocked Bloom filter over keys. MayContain is false only for a key never
// added; a false positive costs its user an extra read, never a wrong answer. Sized once
// for an expected number of keys (about 10 bits per key, capped); past that its false
// positive rate grows gradually.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "sluice/internal/str.h"

namespace sluice::internal {

class KeyFilter {
 public:
  static constexpr size_t kMaxBytes = 8u << 20;

  explicit KeyFilter(size_t expected_keys) {
    size_t bytes = expected_keys * 10 / 8 + kBlockBytes;
    if (bytes > kMaxBytes) bytes = kMaxBytes;
    blocks_.resize(bytes / kBlockBytes);
  }

  // The hash Add and MayContain take: computed once for a key asked of several filters.
  static uint64_t Hash(std::string_view key) { return StringHash{}(key); }

  void Add(std::string_view key) { AddHash(Hash(key)); }
  bool MayContain(std::string_view key) const { return MayContainHash(Hash(key)); }

  void AddHash(uint64_t h) {
    Block& b = blocks_[BlockOf(h)];
    for (int i = 0; i < kProbes; ++i) {
      const uint32_t bit = Bit(h, i);
      b.words[bit / 64] |= uint64_t{1} << (bit % 64);
    }
  }

  bool MayContainHash(uint64_t h) const {
    const Block& b = blocks_[BlockOf(h)];
    for (int i = 0; i < kProbes; ++i) {
      const uint32_t bit = Bit(h, i);
      if ((b.words[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
    }
    return true;
  }

 private:
  // One cache line per key: all probes of a key land in one block.
  static constexpr size_t kBlockBytes = 64;
  static constexpr int kProbes = 6;
  struct alignas(64) Block {
    uint64_t words[8] = {};
  };

  // The low half of the hash, scaled to the number of blocks (a multiply, not a division).
  size_t BlockOf(uint64_t h) const {
    return static_cast<size_t>((uint64_t{static_cast<uint32_t>(h)} * blocks_.size()) >> 32);
  }
  // Double hashing on the high half of the hash, which BlockOf does not use.
  static uint32_t Bit(uint64_t h, int i) {
    const auto h1 = static_cast<uint32_t>(h >> 32);
    const uint32_t h2 = (h1 >> 17) | (h1 << 15) | 1;
    return (h1 + static_cast<uint32_t>(i) * h2) % 512;
  }

  std::vector<Block> blocks_;
};

// Bloom filters of growing size, for a number of keys not known in advance: it starts
// with a filter for `first_capacity` keys and adds one four times larger whenever the
// last is full. A key is added to the last; MayContain asks them all, the last (largest,
// and holding the newest keys) first.
class GrowingKeyFilter {
 public:
  explicit GrowingKeyFilter(size_t first_capacity) : first_capacity_(first_capacity) {}
  void Add(uint64_t hash) {
    if (filters_.empty() || added_ >= capacity_) {
      capacity_ = filters_.empty() ? first_capacity_ : capacity_ * 4;
      filters_.emplace_back(capacity_);
      added_ = 0;
    }
    filters_.back().AddHash(hash);
    ++added_;
    ++added_total_;
  }
  // The keys added (a key added twice counts twice).
  size_t added() const { return added_total_; }
  bool MayContain(uint64_t hash) const {
    for (auto f = filters_.rbegin(); f != filters_.rend(); ++f) {
      if (f->MayContainHash(hash)) return true;
    }
    return false;
  }

 private:
  std::vector<KeyFilter> filters_;
  size_t first_capacity_;
  size_t capacity_ = 0;
  size_t added_ = 0;  // to the last filter
  size_t added_total_ = 0;
};

}  // namespace sluice::internal
