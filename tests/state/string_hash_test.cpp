// StringHash: the hash of store keys for the caches, the at-commit writes, the kept
// values and the key filters. What those need of it: equal bytes hash equal; keys that
// differ only in length or in one byte hash apart; and every bit of the hash varies
// evenly over the keys a store really holds (big-endian numbers; a key and a window
// start), since absl's tables take the low 7 bits and the rest apart and the filters
// take the low and high halves apart.
#include "sluice/internal/str.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "sluice/internal/key_filter.h"

namespace sluice::internal {
namespace {

std::string BigEndian(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
  return out;
}

// The kinds of keys stores hold, `n` of each length class.
std::vector<std::string> StoreKeys(size_t n) {
  std::vector<std::string> keys;
  for (uint64_t i = 0; i < n; ++i) keys.push_back(BigEndian(i));                        // a number
  for (uint64_t i = 0; i < n; ++i) keys.push_back(BigEndian(i % 997) + BigEndian(i / 997 * 2000));  // key, window
  for (uint64_t i = 0; i < n; ++i) keys.push_back(BigEndian(i % 97) + BigEndian(i) + "seq!");  // 20 bytes
  for (uint64_t i = 0; i < n; ++i) keys.push_back("customer-" + std::to_string(i));     // text
  for (uint64_t i = 0; i < n; ++i) keys.push_back(std::string(40, 'x') + BigEndian(i));  // long
  return keys;
}

TEST(StringHashTest, EqualBytesHashEqualWhateverHoldsThem) {
  const std::string owned = "order-42";
  EXPECT_EQ(StringHash{}(owned), StringHash{}(std::string_view("order-42")));
  EXPECT_EQ(StringHash{}(owned.substr(0, 5)), StringHash{}(std::string_view("order")));
}

TEST(StringHashTest, LengthAndEachByteCount) {
  absl::flat_hash_set<size_t> seen;
  for (size_t n = 0; n <= 80; ++n) {
    EXPECT_TRUE(seen.insert(StringHash{}(std::string(n, '\0'))).second) << n << " zero bytes";
  }
  const std::string base(33, 'a');
  const size_t h = StringHash{}(base);
  for (size_t i = 0; i < base.size(); ++i) {
    std::string one = base;
    one[i] = 'b';
    EXPECT_NE(StringHash{}(one), h) << "byte " << i;
  }
}

// With public constants alone in the multiply, 16-byte keys whose bytes 0-3 and 8-11
// spell the constant would zero it and all hash alike, whatever their other bytes.
TEST(StringHashTest, KeysBuiltToZeroTheMultiplyStillSpread) {
  constexpr uint64_t kSecret = hash_internal::kSecret1;
  absl::flat_hash_set<size_t> seen;
  constexpr int kKeys = 1000;
  for (uint32_t i = 0; i < kKeys; ++i) {
    unsigned char bytes[16];
    const uint32_t high = static_cast<uint32_t>(kSecret >> 32), low = static_cast<uint32_t>(kSecret);
    std::memcpy(bytes, &high, 4);
    std::memcpy(bytes + 4, &i, 4);
    std::memcpy(bytes + 8, &low, 4);
    const uint32_t other = i * 2654435761u;
    std::memcpy(bytes + 12, &other, 4);
    seen.insert(StringHash{}(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes)));
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kKeys));
}

TEST(StringHashTest, EveryBitVariesEvenlyOverStoreKeys) {
  const std::vector<std::string> keys = StoreKeys(40000);
  std::array<size_t, 64> ones{};
  std::vector<size_t> low7(128, 0), high(1024, 0);
  absl::flat_hash_set<size_t> distinct;
  for (const std::string& k : keys) {
    const uint64_t h = StringHash{}(k);
    distinct.insert(h);
    for (int b = 0; b < 64; ++b) ones[static_cast<size_t>(b)] += (h >> b) & 1;
    ++low7[h & 127];
    ++high[h >> 54];
  }
  EXPECT_EQ(distinct.size(), keys.size()) << "a 64-bit collision among " << keys.size() << " keys";
  for (int b = 0; b < 64; ++b) {
    const double share = static_cast<double>(ones[static_cast<size_t>(b)]) / static_cast<double>(keys.size());
    EXPECT_NEAR(share, 0.5, 0.01) << "bit " << b;
  }
  // Chi-square over the buckets: a uniform spread stays well under twice its degrees of
  // freedom; a hash that ignored some bytes would be far above.
  auto chi_square = [&](const std::vector<size_t>& buckets) {
    const double expected = static_cast<double>(keys.size()) / static_cast<double>(buckets.size());
    double sum = 0;
    for (size_t c : buckets) sum += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
    return sum;
  };
  EXPECT_LT(chi_square(low7), 2.0 * 127);
  EXPECT_LT(chi_square(high), 2.0 * 1023);
}

TEST(StringHashTest, AKeyFilterOverNumbersKeepsItsFalsePositiveRate) {
  constexpr uint64_t kKeys = 100000;
  KeyFilter filter(kKeys);
  for (uint64_t i = 0; i < kKeys; ++i) filter.Add(BigEndian(i));
  int positives = 0;
  for (uint64_t i = kKeys; i < 2 * kKeys; ++i) positives += filter.MayContain(BigEndian(i)) ? 1 : 0;
  EXPECT_LT(static_cast<double>(positives) / kKeys, 0.03);
}

}  // namespace
}  // namespace sluice::internal
