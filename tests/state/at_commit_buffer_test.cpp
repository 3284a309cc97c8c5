// AtCommitBuffer: the last write of each key wins, reads see it, and TakeSorted hands the
// writes over in bytewise key order, the order RocksDB keeps, whatever the keys' lengths,
// shared prefixes, zero bytes or bytes above 0x7f.
#include "src/state/at_commit_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
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
  std::vector<std::string> expected = keys;
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());

  std::shuffle(keys.begin(), keys.end(), rng);
  AtCommitBuffer buffer;
  for (const std::string& key : keys) buffer.Put(FamilyA(), key, "v");
  EXPECT_EQ(TakeKeys(buffer, FamilyA()), expected);
  // Taken writes are forgotten.
  EXPECT_TRUE(TakeKeys(buffer, FamilyA()).empty());
  EXPECT_EQ(buffer.Find(FamilyA(), "a"), nullptr);
}

}  // namespace
}  // namespace sluice::internal
