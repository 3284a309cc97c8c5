// java.util.Random, bit for bit: the 48-bit linear congruential generator Beam's Nexmark
// generator seeds once per event with the event id. Porting it exactly lets our events
// equal Beam's for the same configuration (see generator.h).
#pragma once

#include <cstdint>
#include <cstdlib>

namespace sluice::nexmark {

class JavaRandom {
 public:
  explicit JavaRandom(int64_t seed)
      : state_((static_cast<uint64_t>(seed) ^ kMultiplier) & kMask) {}

  // The next `bits` (<= 32) pseudo-random bits, as Java's `next(bits)`.
  int32_t Next(int bits) {
    state_ = (state_ * kMultiplier + kAddend) & kMask;
    return static_cast<int32_t>(static_cast<uint32_t>(state_ >> (48 - bits)));
  }
  int32_t NextInt() { return Next(32); }
  // Uniform in [0, bound), bound > 0, with Java's rejection of the biased top range.
  int32_t NextInt(int32_t bound) {
    int32_t r = Next(31);
    const int32_t m = bound - 1;
    if ((bound & m) == 0) return static_cast<int32_t>((static_cast<int64_t>(bound) * r) >> 31);
    // Java tests `u - r + m < 0` in int32, i.e. whether the sum overflows.
    for (int32_t u = r; static_cast<int64_t>(u) - (r = u % bound) + m > INT32_MAX; u = Next(31)) {
    }
    return r;
  }
  int64_t NextLong() {
    const uint64_t high = static_cast<uint64_t>(static_cast<int64_t>(Next(32))) << 32;
    return static_cast<int64_t>(high + static_cast<uint64_t>(static_cast<int64_t>(Next(32))));
  }
  double NextDouble() {
    const int64_t high = static_cast<int64_t>(Next(26)) << 27;
    return static_cast<double>(high + Next(27)) * 0x1.0p-53;
  }
  // Beam's LongGenerator.nextLong(random, n): uniform in [0, n).
  int64_t NextLong(int64_t n) {
    if (n < INT32_MAX) return NextInt(static_cast<int32_t>(n));
    return std::llabs(NextLong() % n);
  }

 private:
  static constexpr uint64_t kMultiplier = 0x5DEECE66DULL;
  static constexpr uint64_t kAddend = 0xBULL;
  static constexpr uint64_t kMask = (uint64_t{1} << 48) - 1;
  uint64_t state_;
};

}  // namespace sluice::nexmark
