// AtCommitBuffer: the last write of each key wins, reads see it, and TakeSorted hands the
// writes over in bytewise key order, the order RocksDB keeps, whatever the keys' lengths,
// shared prefixes, zero bytes or bytes above 0x7f.
#include "src/state/at_commit_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <utility>
#include <random>
#include <string>
#include <vector>

namespace sluice::internal {
namespace {

AtCommitBuffer::Family FamilyA() { return reinterpret_cast<AtCommitBuffer::Family>(0x10); }
AtCommitBuffer::Family FamilyB() { return reinterpret_cast<AtCommitBuffer::Family>(0x20); }

std::vector<std::string> TakeKeys(AtCommitBuffer& buffer, AtCommitBuffer::Family cf) {
  std::vector<std::string> keys;
  buffer.TakeSorted(cf, [&](std::string_view key, const AtCommitBuffer::Slot&) { keys.emplace_back(key); });
  return keys;
}

// Writes `keys` (duplicates included) in a random order and expects them taken once each,
// in bytewise order.
void ExpectTakenInBytewiseOrder(AtCommitBuffer& buffer, std::vector<std::string> keys,
                                std::mt19937_64& rng) {
  std::vector<std::string> expected = keys;
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  std::shuffle(keys.begin(), keys.end(), rng);
  for (const std::string& key : keys) buffer.Put(FamilyA(), key, "v");
  EXPECT_EQ(TakeKeys(buffer, FamilyA()), expected);
}

TEST(AtCommitBufferTest, TheLastWriteOfAKeyWinsAndReadsSeeIt) {
  AtCommitBuffer buffer;
  buffer.Put(FamilyA(), "k", "one");
  buffer.Put(FamilyA(), "k", "two");
  buffer.Put(FamilyB(), "k", "other family");
  ASSERT_NE(buffer.Find(FamilyA(), "k"), nullptr);
  EXPECT_EQ(buffer.Find(FamilyA(), "k")->value, "two");
  buffer.Delete(FamilyA(), "k");
  EXPECT_TRUE(buffer.Find(FamilyA(), "k")->deleted);
  EXPECT_EQ(buffer.Find(FamilyB(), "k")->value, "other family");
  buffer.Erase(FamilyB(), "k");
  EXPECT_EQ(buffer.Find(FamilyB(), "k"), nullptr);
  EXPECT_EQ(buffer.Find(FamilyA(), "absent"), nullptr);
}

TEST(AtCommitBufferTest, TakeSortedOrdersKeysBytewise) {
  // Keys that a comparison of fixed-width prefixes gets wrong unless it falls back to the
  // whole key: equal 32-byte prefixes, a key that is a prefix of another, trailing zero
  // bytes (which zero padding makes look like a shorter key), and high bytes (unsigned).
  std::vector<std::string> keys = {
      "",
      std::string(1, '\0'),
      std::string(2, '\0'),
      "a",
      std::string("a\0", 2),
      std::string("a\0b", 3),
      "ab",
      std::string(32, 'x'),
      std::string(32, 'x') + std::string(1, '\0'),
      std::string(32, 'x') + "a",
      std::string(32, 'x') + "b",
      std::string(32, 'x') + "ab",
      std::string(31, 'x') + "\xff",
      "\x7f",
      "\x80",
      "\xff\xff",
  };
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string key(rng() % 24, '\0');
    for (char& c : key) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng() % 256);
    if (i % 3 == 0) key = std::string(28, 'y') + key;  // shared prefixes around 32 bytes
    keys.push_back(key);
  }
  AtCommitBuffer buffer;
  ExpectTakenInBytewiseOrder(buffer, keys, rng);
  // Taken writes are forgotten.
  EXPECT_TRUE(TakeKeys(buffer, FamilyA()).empty());
  EXPECT_EQ(buffer.Find(FamilyA(), "a"), nullptr);
}

TEST(AtCommitBufferTest, TakeSortedOrdersALargeCommitOfWindowKeysBytewise) {
  // A commit's worth of window-store keys ([segment][key][start], big-endian): thousands
  // that share their first bytes, as many that tie on all 32 prefix bytes and differ
  // after them, and groups of every size around the point where the radix passes hand
  // over to comparisons.
  auto big_endian = [](uint64_t v) {
    std::string out(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
    return out;
  };
  std::vector<std::string> keys;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20000; ++i) {
    const uint64_t segment = 0x8000000000000000ull + rng() % 3;
    const std::string key = "key-" + std::to_string(1000000 + rng() % 5000);
    keys.push_back(big_endian(segment) + key + big_endian(0x8000000000000000ull + rng() % 4 * 12000));
  }
  for (int i = 0; i < 3000; ++i) keys.push_back(std::string(40, 'p') + big_endian(rng() % 1000));
  for (int group = 1; group < 130; ++group) {
    for (int i = 0; i < group; ++i) keys.push_back("g" + std::to_string(group) + "-" + big_endian(rng()));
  }
  AtCommitBuffer buffer;
  ExpectTakenInBytewiseOrder(buffer, keys, rng);
}

TEST(AtCommitBufferTest, AnErasedKeyWrittenAgainIsTakenOnceWithItsLastValue) {
  AtCommitBuffer buffer;
  buffer.Put(FamilyA(), "k", "first");
  buffer.Put(FamilyA(), "j", "other");
  buffer.Erase(FamilyA(), "k");
  EXPECT_EQ(buffer.Find(FamilyA(), "k"), nullptr);
  buffer.Put(FamilyA(), "k", "second");
  buffer.Put(FamilyA(), "k", "third");
  std::vector<std::pair<std::string, std::string>> taken;
  buffer.TakeSorted(FamilyA(), [&](std::string_view key, const AtCommitBuffer::Slot& slot) {
    taken.emplace_back(key, slot.value);
  });
  EXPECT_EQ(taken, (std::vector<std::pair<std::string, std::string>>{{"j", "other"}, {"k", "third"}}));
}

TEST(AtCommitBufferTest, ACommitAfterAClearSeesOnlyItsOwnWrites) {
  // Several arena blocks of values and one value larger than a block, then commits of
  // other keys, large and small in turn.
  AtCommitBuffer buffer;
  for (int round = 0; round < 4; ++round) {
    const int keys = round % 2 == 0 ? 4000 : 300;
    std::map<std::string, std::string> expected;
    for (int i = 0; i < keys; ++i) {
      std::string key = "r" + std::to_string(round) + "-" + std::to_string(i);
      std::string value(1000 + i % 7, static_cast<char>('a' + (i + round) % 26));
      buffer.Put(i % 2 == 0 ? FamilyA() : FamilyB(), key, value);
      if (i % 2 == 0) expected[key] = value;
    }
    const std::string large(3u << 20, static_cast<char>('A' + round));
    buffer.Put(FamilyA(), "large", large);
    expected["large"] = large;
    EXPECT_GE(buffer.bytes(), large.size());
    EXPECT_EQ(buffer.Find(FamilyA(), "r" + std::to_string(round - 1) + "-0"), nullptr) << round;
    ASSERT_NE(buffer.Find(FamilyA(), "r" + std::to_string(round) + "-0"), nullptr);
    EXPECT_EQ(buffer.Find(FamilyA(), "r" + std::to_string(round) + "-0")->value,
              expected["r" + std::to_string(round) + "-0"]);
    std::map<std::string, std::string> taken;
    std::vector<std::string> order;
    buffer.TakeSorted(FamilyA(), [&](std::string_view key, const AtCommitBuffer::Slot& slot) {
      taken.emplace(key, slot.value);
      order.emplace_back(key);
    });
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << round;
    EXPECT_EQ(taken, expected) << round;
    EXPECT_EQ(buffer.families().size(), 1u);  // family B still holds its writes
    buffer.Clear();
    EXPECT_TRUE(buffer.families().empty());
    EXPECT_EQ(buffer.bytes(), 0u);
  }
}

}  // namespace
}  // namespace sluice::internal
