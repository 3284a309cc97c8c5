// Murmur2 and the default partitioner against the values Kafka's Java client computes
// (Kafka's UtilsTest.testMurmur2), so keyed records land where a JVM producer puts them.
#include "src/partitioner.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::internal {
namespace {

TEST(Murmur2, MatchesKafkasJavaImplementation) {
  // clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
  EXPECT_EQ(Murmur2("21"), -973932308);
  EXPECT_EQ(Murmur2("foobar"), -790332482);
  EXPECT_EQ(Murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(Murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(Murmur2("abc"), 479470107);
}

TEST(Murmur2, CoversEmptyInputTailOneAndHighBytes) {
  // Kafka's cases cover tails of 0 ("a-little-bit-long-string"), 2 ("21", "foobar",
  // "a-little-bit-longer-string") and 3 ("abc", the 47-byte string). These add the empty
  // input, a tail of 1 and bytes >= 0x80 (Java masks each byte with 0xff), with values
  // from an independent transcription of Utils.murmur2 that reproduces the cases above.
  EXPECT_EQ(Murmur2(""), 275646681);
  EXPECT_EQ(Murmur2("a"), -1563381124);
  EXPECT_EQ(Murmur2("abcde"), 461995741);
  EXPECT_EQ(Murmur2(std::string("\xff\xfe\x80\x81\x90", 5)), 338919950);
}

TEST(DefaultPartition, IsToPositiveOfMurmur2ModuloPartitions) {
  // Kafka: Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions.
  const char* keys[] = {"21", "foobar", "a-little-bit-long-string", "abc", "", "key-1"};
  for (const char* key : keys) {
    const uint32_t positive = static_cast<uint32_t>(Murmur2(key)) & 0x7fffffffu;
    for (int32_t n : {1, 2, 3, 7, 12, 100}) {
      EXPECT_EQ(DefaultPartition(key, n), static_cast<int32_t>(positive % n)) << key << " " << n;
      EXPECT_GE(DefaultPartition(key, n), 0);
      EXPECT_LT(DefaultPartition(key, n), n);
    }
  }
  // Worked values: murmur2("21") = -973932308 -> toPositive = 1173551340.
  EXPECT_EQ(DefaultPartition("21", 10), 1173551340 % 10);
  // murmur2("foobar") = -790332482 -> toPositive = 1357151166.
  EXPECT_EQ(DefaultPartition("foobar", 7), 1357151166 % 7);
  // A positive hash is used as is.
  EXPECT_EQ(DefaultPartition("abc", 6), 479470107 % 6);
  EXPECT_EQ(DefaultPartition("abc", 1), 0);
}

}  // namespace
}  // namespace sluice::internal
