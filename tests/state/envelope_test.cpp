// The per-key positions (PositionSet), the stored-value envelope (EncodeStored /
// DecodeStored) and PrefixEnd.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/internal/state_store.h"
#include "tests/state/state_test_util.h"

namespace sluice::internal {

void PrintTo(const WritePosition& p, std::ostream* os) {
  *os << "{source " << p.source << ", offset " << p.offset << ", sub " << p.sub << "}";
}

namespace {

using testing::EncodedPositions;
using testing::Positions;

// --- PositionSet -------------------------------------------------------------------------

TEST(PositionSet, AnEmptySetCoversNothing) {
  PositionSet empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(empty.Covers({0, 0, 0}));
  EXPECT_FALSE(empty.Covers({0, -1, 0}));
}

TEST(PositionSet, CoversWritesAtOrBeforeItsEntryOfTheSameSource) {
  PositionSet set = Positions({{0, 10, 2}});
  EXPECT_TRUE(set.Covers({0, 10, 2})) << "the same write";
  EXPECT_TRUE(set.Covers({0, 10, 1})) << "an earlier record of the same fan-out";
  EXPECT_TRUE(set.Covers({0, 10, 0}));
  EXPECT_TRUE(set.Covers({0, 9, 7})) << "an earlier offset, whatever its sub index";
  EXPECT_TRUE(set.Covers({0, 0, 0}));
  EXPECT_FALSE(set.Covers({0, 10, 3})) << "a later record of the same fan-out";
  EXPECT_FALSE(set.Covers({0, 11, 0})) << "a later offset";
}

TEST(PositionSet, DoesNotCoverAnotherSource) {
  PositionSet set = Positions({{0, 100, 0}});
  EXPECT_FALSE(set.Covers({1, 0, 0}));
  EXPECT_FALSE(set.Covers({1, 100, 0}));
  set.Advance({1, 5, 0});
  EXPECT_TRUE(set.Covers({1, 5, 0}));
  EXPECT_TRUE(set.Covers({0, 100, 0}));
  EXPECT_FALSE(set.Covers({1, 6, 0}));
}

TEST(PositionSet, AdvanceReplacesTheEntryOfItsSourceAndAppendsANewSource) {
  PositionSet set;
  set.Advance({0, 5, 1});
  set.Advance({2, 7, 0});
  set.Advance({0, 6, 0});
  ASSERT_EQ(set.entries().size(), 2u);
  EXPECT_EQ(set.entries()[0], (WritePosition{0, 6, 0}));
  EXPECT_EQ(set.entries()[1], (WritePosition{2, 7, 0}));
  // Advance sets the entry, even backwards: callers check Covers first.
  set.Advance({2, 3, 0});
  EXPECT_EQ(set.entries()[1], (WritePosition{2, 3, 0}));
  EXPECT_FALSE(set.Covers({2, 4, 0}));
  set.clear();
  EXPECT_TRUE(set.empty());
}

TEST(PositionSet, CoversAllNeedsEveryEntryOfTheOtherSetCovered) {
  PositionSet held = Positions({{0, 10, 0}, {1, 20, 0}});
  EXPECT_TRUE(held.CoversAll(Positions({{0, 10, 0}})));
  EXPECT_TRUE(held.CoversAll(Positions({{0, 9, 0}, {1, 20, 0}})));
  EXPECT_TRUE(held.CoversAll(held));
  EXPECT_FALSE(held.CoversAll(Positions({{0, 9, 0}, {1, 21, 0}}))) << "one entry is newer";
  EXPECT_FALSE(held.CoversAll(Positions({{0, 10, 1}})));
  EXPECT_FALSE(held.CoversAll(Positions({{2, 0, 0}}))) << "a source the set lacks";
  EXPECT_FALSE(held.CoversAll(PositionSet())) << "a write without positions is never covered";
  EXPECT_FALSE(PositionSet().CoversAll(Positions({{0, 0, 0}})));
}

TEST(PositionSet, AppendToAndParseFromRoundTrip) {
  const PositionSet sets[] = {
      PositionSet(),
      Positions({{0, 0, 0}}),
      Positions({{0, -1, 0}}),
      Positions({{3, 123456789012345, 17}, {0, 1, 0}, {1, 127, 128}}),
      Positions({{std::numeric_limits<uint32_t>::max(), std::numeric_limits<int64_t>::max(),
                  std::numeric_limits<uint32_t>::max()},
                 {1, std::numeric_limits<int64_t>::min(), 0}}),
  };
  for (const PositionSet& set : sets) {
    std::string bytes = "prefix";
    set.AppendTo(&bytes);
    bytes += "tail";
    std::string_view in(bytes);
    in.remove_prefix(6);
    PositionSet parsed = Positions({{9, 9, 9}});  // ParseFrom replaces what was there
    ASSERT_TRUE(parsed.ParseFrom(&in));
    EXPECT_EQ(parsed.entries(), set.entries());
    EXPECT_EQ(in, "tail") << "ParseFrom consumes exactly what AppendTo wrote";
  }
}

TEST(PositionSet, ParseFromRejectsEveryTruncationOfAnEncoding) {
  const std::string bytes =
      EncodedPositions(Positions({{1, 300, 2}, {2, int64_t{1} << 50, 400}}));
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string_view in(bytes.data(), n);
    PositionSet parsed;
    EXPECT_FALSE(parsed.ParseFrom(&in)) << "truncated to " << n << " of " << bytes.size();
  }
  std::string_view whole(bytes);
  PositionSet parsed;
  EXPECT_TRUE(parsed.ParseFrom(&whole));
}

TEST(PositionSet, ParseFromRejectsAnAbsurdCountAndAnEndlessVarint) {
  std::string huge;
  huge.push_back(static_cast<char>(0x81));  // varint 2049: more entries than allowed
  huge.push_back(static_cast<char>(0x10));
  std::string_view in(huge);
  PositionSet parsed;
  EXPECT_FALSE(parsed.ParseFrom(&in));

  std::string endless(11, static_cast<char>(0xff));  // continuation bits without end
  std::string_view in2(endless);
  EXPECT_FALSE(parsed.ParseFrom(&in2));
}

// --- The envelope ---------------------------------------------------------------------

TEST(Envelope, EncodeThenDecodeGivesBackValueTimestampAndPositions) {
  struct Case {
    std::string value;
    int64_t timestamp;
    PositionSet positions;
  };
  const Case cases[] = {
      {"hello", 1700000000000, Positions({{0, 42, 1}})},
      {"", 5, Positions({{0, 1, 0}})},
      {"", 0, PositionSet()},
      {"v", -1, PositionSet()},
      {"negative", -1700000000000, Positions({{1, 7, 0}, {0, 3, 2}})},
      {std::string("\x00\xff\x00", 3), std::numeric_limits<int64_t>::min(), PositionSet()},
      {std::string(1000, 'x'), std::numeric_limits<int64_t>::max(), Positions({{2, 0, 0}})},
  };
  for (const Case& c : cases) {
    std::string bytes = "stale contents are replaced";
    EncodeStored(c.value, c.timestamp, c.positions, &bytes);
    StoredValue out;
    ASSERT_TRUE(DecodeStored(bytes, &out)) << c.value;
    EXPECT_EQ(out.value, c.value);
    EXPECT_EQ(out.timestamp, c.timestamp);
    EXPECT_EQ(out.positions.entries(), c.positions.entries());
    // The value is a view into the envelope: its tail.
    EXPECT_EQ(out.value.data() + out.value.size(), bytes.data() + bytes.size());
  }
}

TEST(Envelope, TheValueBytesFollowAFewBytesOfHeader) {
  std::string bytes;
  EncodeStored("value", 1, PositionSet(), &bytes);
  EXPECT_EQ(bytes, std::string("\x02\x00value", 7)) << "zigzag(1) = 2, then zero positions";
}

TEST(Envelope, DecodeRejectsEmptyAndTruncatedHeaders) {
  StoredValue out;
  EXPECT_FALSE(DecodeStored("", &out));
  std::string bytes;
  EncodeStored("", 1234567, Positions({{0, 99999, 3}}), &bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeStored(std::string_view(bytes.data(), n), &out)) << n;
  }
  EXPECT_TRUE(DecodeStored(bytes, &out));
  EXPECT_TRUE(out.value.empty());
}

// --- PrefixEnd ---------------------------------------------------------------------------

TEST(PrefixEnd, IncrementsTheLastByteThatIsNot0xff) {
  EXPECT_EQ(PrefixEnd("abc"), "abd");
  EXPECT_EQ(PrefixEnd("a"), "b");
  EXPECT_EQ(PrefixEnd(std::string("\x00", 1)), "\x01");
  EXPECT_EQ(PrefixEnd("\x7f"), "\x80");
  EXPECT_EQ(PrefixEnd("\xfe"), "\xff");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd("a\xff\xff"), "b");
  EXPECT_EQ(PrefixEnd("\xfe\xff"), "\xff");
}

TEST(PrefixEnd, IsNoneForAllFfBytesAndForTheEmptyPrefix) {
  EXPECT_EQ(PrefixEnd("\xff"), std::nullopt);
  EXPECT_EQ(PrefixEnd("\xff\xff\xff"), std::nullopt);
  EXPECT_EQ(PrefixEnd(""), std::nullopt);
}

}  // namespace
}  // namespace sluice::internal
