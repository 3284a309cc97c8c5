// Cat(): string concatenation for error messages. Debian's Abseil is built with its own
// absl::string_view (not std::string_view), so absl::StrCat does not take a
// std::string_view; this helper takes both, plus numbers.
#pragma once

#include <concepts>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <functional>
#include <type_traits>

namespace sluice::internal {

template <class T>
void CatAppend(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, char>) {
    out += v;
  } else if constexpr (std::is_arithmetic_v<T>) {
    out += std::to_string(v);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out += std::string_view(v);
  } else {
    // absl::string_view and other views with data() and size().
    out.append(v.data(), v.size());
  }
}

template <class... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (CatAppend(out, args), ...);
  return out;
}

}  // namespace sluice::internal

namespace sluice::internal {

// The hash of a key's bytes for every map, filter and slot that holds store keys. Most
// store keys are short (a number; a window's key and start), and absl's hash of a string
// spends about 90 instructions on one of 17-32 bytes (a mix per part, a second function
// past 16 bytes): 8% of a windowed count's instructions. This is wyhash's construction (a
// 64x64->128 bit multiply folded to 64 bits, over 16 bytes at a time, the length mixed in
// last), seeded like absl's by an address that ASLR moves. The seed enters both operands
// of every multiply: with public constants alone, keys whose bytes equal a constant would
// zero the product and all collide (a flood a hostile producer could send); with the seed,
// such keys cannot be chosen from outside the process. Not for anything stored or sent.
namespace hash_internal {
inline constexpr char kSeedAnchor = 0;
inline constexpr uint64_t kSecret0 = 0xa0761d6478bd642full;
inline constexpr uint64_t kSecret1 = 0xe7037ed1a0b428dbull;
inline constexpr uint64_t kSecret2 = 0x8ebc6af09c88c6e3ull;

inline uint64_t Fold(uint64_t a, uint64_t b) {
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
}
inline uint64_t Load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint64_t Load32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The process's seed, mixed once (not at every hash: the multiply sat on every key's path).
inline uint64_t ProcessSeed() {
  static const uint64_t seed = Fold(reinterpret_cast<uintptr_t>(&kSeedAnchor) ^ kSecret0, kSecret1);
  return seed;
}

inline uint64_t HashBytes(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  uint64_t seed = ProcessSeed();
  uint64_t a = 0, b = 0;
  if (n <= 16) {
    if (n >= 4) {
      // Two overlapping loads from each end cover 4-16 bytes.
      const size_t quarter = (n >> 3) << 2;
      a = (Load32(p) << 32) | Load32(p + quarter);
      b = (Load32(p + n - 4) << 32) | Load32(p + n - 4 - quarter);
    } else if (n > 0) {
      a = (uint64_t{p[0]} << 16) | (uint64_t{p[n >> 1]} << 8) | p[n - 1];
    }
  } else {
    size_t left = n;
    while (left > 16) {
      seed = Fold(Load64(p) ^ kSecret1 ^ seed, Load64(p + 8) ^ seed);
      p += 16;
      left -= 16;
    }
    a = Load64(p + left - 16);
    b = Load64(p + left - 8);
  }
  a ^= kSecret1 ^ seed;
  b ^= seed;
  const unsigned __int128 m = static_cast<unsigned __int128>(a) * b;
  return Fold(static_cast<uint64_t>(m) ^ kSecret0 ^ n, static_cast<uint64_t>(m >> 64) ^ kSecret2);
}
}  // namespace hash_internal

// Transparent hashing for maps keyed by std::string and looked up by std::string_view
// (absl's own StringHash takes absl::string_view, which std::string_view does not
// convert to in Debian's Abseil).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return hash_internal::HashBytes(s); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

}  // namespace sluice::internal
