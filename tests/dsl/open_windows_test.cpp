// OpenWindows (internal/open_windows.h): the index of windows awaiting their final result,
// taken by end, then key bytes.
#include "sluice/internal/open_windows.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sluice::internal {
namespace {

using Keys = std::vector<std::string_view>;

TEST(OpenWindowsTest, TakesTheEarliestEndFirstItsKeysInByteOrderAndOnlyOnceClosed) {
  OpenWindows open;
  open.Add(200, "b");
  open.Add(100, "zz");
  open.Add(200, "a");
  open.Add(100, "a");
  open.Add(300, "c");
  EXPECT_EQ(open.size(), 5u);
  Keys keys;
  EXPECT_FALSE(open.AnyEndingBy(99));
  EXPECT_EQ(open.TakeFirstEndingBy(99, &keys), std::nullopt);
  EXPECT_TRUE(keys.empty());

  EXPECT_EQ(open.TakeFirstEndingBy(250, &keys), 100);
  EXPECT_EQ(keys, (Keys{"a", "zz"}));
  EXPECT_EQ(open.TakeFirstEndingBy(250, &keys), 200);
  EXPECT_EQ(keys, (Keys{"a", "b"}));
  EXPECT_EQ(open.TakeFirstEndingBy(250, &keys), std::nullopt);  // 300 is still open
  EXPECT_EQ(open.size(), 1u);

  // A window added after an end was taken starts a new one.
  open.Add(200, "d");
  EXPECT_EQ(open.TakeFirstEndingBy(1000, &keys), 200);
  EXPECT_EQ(keys, (Keys{"d"}));
  EXPECT_EQ(open.TakeFirstEndingBy(1000, &keys), 300);
  EXPECT_EQ(keys, (Keys{"c"}));
  EXPECT_EQ(open.size(), 0u);
}

TEST(OpenWindowsTest, AWindowAddedTwiceIsTakenOnceAndKeysMayHoldAnyBytes) {
  OpenWindows open;
  const std::string binary("\0\xff\x01", 3);
  open.Add(10, binary);
  open.Add(10, "");
  open.Add(10, binary);
  Keys keys;
  EXPECT_EQ(open.TakeFirstEndingBy(10, &keys), 10);
  EXPECT_EQ(keys, (Keys{"", binary}));
  open.Add(20, "x");
  open.Clear();
  EXPECT_EQ(open.size(), 0u);
  EXPECT_FALSE(open.AnyEndingBy(1000));
}

}  // namespace
}  // namespace sluice::internal
