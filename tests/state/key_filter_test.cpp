// KeyFilter: never a false negative; a false-positive rate near its design (~1% at 10
// bits per key), and a graceful rise, not a failure, past the keys it was sized for.
#include "sluice/internal/key_filter.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::internal {
namespace {

double FalsePositiveRate(const KeyFilter& filter, int probes) {
  int positives = 0;
  for (int i = 0; i < probes; ++i) {
    if (filter.MayContain("absent-" + std::to_string(i))) ++positives;
  }
  return static_cast<double>(positives) / probes;
}

TEST(KeyFilterTest, AnEmptyFilterContainsNothing) {
  KeyFilter filter(1000);
  EXPECT_EQ(FalsePositiveRate(filter, 10000), 0.0);
  EXPECT_FALSE(filter.MayContain(""));
}

TEST(KeyFilterTest, EveryAddedKeyIsContainedAndFewOthersAre) {
  constexpr int kKeys = 100000;
  KeyFilter filter(kKeys);
  for (int i = 0; i < kKeys; ++i) filter.Add("key-" + std::to_string(i));
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(filter.MayContain("key-" + std::to_string(i))) << i;
  EXPECT_LT(FalsePositiveRate(filter, 100000), 0.03);
}

TEST(KeyFilterTest, BeyondItsSizeItHasMoreFalsePositivesButNoFalseNegatives) {
  KeyFilter filter(100);
  for (int i = 0; i < 10000; ++i) filter.Add("key-" + std::to_string(i));
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(filter.MayContain("key-" + std::to_string(i))) << i;
  EXPECT_GT(FalsePositiveRate(filter, 1000), 0.5);
}

}  // namespace
}  // namespace sluice::internal
