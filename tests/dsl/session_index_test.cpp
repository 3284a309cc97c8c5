// SessionIndex (internal/session_index.h): which sessions of a key a record may merge
// with, what it covers, and how it forgets (expired segments, overflow).
#include "sluice/internal/session_index.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace sluice::internal {
namespace {

using Windows = std::vector<Window>;

// Segments of 100 ms.
int64_t SegmentOf(int64_t t) { return t / 100; }

std::optional<Windows> Find(const SessionIndex& index, std::string_view key, int64_t from, int64_t to) {
  Windows found;
  if (!index.Find(key, from, to, SegmentOf, &found)) return std::nullopt;
  return found;
}

class SessionIndexTest : public ::testing::Test {
 protected:
  void TearDown() override { g_session_index_bytes = 32u << 20; }
  SessionIndex index_;
};

TEST_F(SessionIndexTest, FindsTheSessionsEndingAtOrAfterFromAndStartingAtOrBeforeTo) {
  index_.Add("k", Window{10, 20}, 20);
  index_.Add("k", Window{50, 60}, 60);
  index_.Add("k", Window{90, 95}, 95);
  index_.Add("other", Window{50, 60}, 95);
  EXPECT_EQ(Find(index_, "k", 20, 49), (Windows{{10, 20}}));
  EXPECT_EQ(Find(index_, "k", 21, 50), (Windows{{50, 60}}));
  EXPECT_EQ(Find(index_, "k", 15, 90), (Windows{{10, 20}, {50, 60}, {90, 95}}));
  EXPECT_EQ(Find(index_, "k", 96, 200), Windows{});
  EXPECT_EQ(Find(index_, "absent", 0, 200), Windows{});
}

TEST_F(SessionIndexTest, ResultsComeInStoreOrderBySegmentOfTheEndThenStart) {
  // [90, 150] ends in segment 1, [120, 130] in segment 1, [80, 99] in segment 0.
  index_.Add("k", Window{120, 130}, 150);
  index_.Add("k", Window{90, 150}, 150);
  index_.Add("k", Window{80, 99}, 150);
  EXPECT_EQ(Find(index_, "k", 0, 200), (Windows{{80, 99}, {90, 150}, {120, 130}}));
}

TEST_F(SessionIndexTest, AddingTheSameStartReplacesTheEndAndRemoveForgetsExactlyThatSession) {
  index_.Add("k", Window{10, 20}, 20);
  index_.Add("k", Window{10, 40}, 40);
  EXPECT_EQ(Find(index_, "k", 0, 100), (Windows{{10, 40}}));
  index_.Remove("k", Window{10, 20});  // not held: nothing changes
  EXPECT_EQ(Find(index_, "k", 0, 100), (Windows{{10, 40}}));
  index_.Remove("k", Window{10, 40});
  EXPECT_EQ(Find(index_, "k", 0, 100), Windows{});
  EXPECT_EQ(index_.keys(), 0u);
  EXPECT_EQ(index_.bytes(), 0u);
}

TEST_F(SessionIndexTest, AMergeReplacesItsSessionsWithTheMergedOneAndKeepsTheOthers) {
  index_.Add("k", Window{10, 20}, 20);
  index_.Add("k", Window{30, 40}, 40);
  index_.Add("k", Window{90, 95}, 95);
  const size_t bytes = index_.bytes();
  // [10, 20] and [30, 40] merge into [10, 40], which keeps the first one's start;
  // [50, 55] was never held and is ignored.
  const Windows merged_away = {{10, 20}, {30, 40}, {50, 55}};
  index_.Replace("k", merged_away, Window{10, 40}, 95);
  EXPECT_EQ(Find(index_, "k", 0, 200), (Windows{{10, 40}, {90, 95}}));
  EXPECT_EQ(index_.bytes(), bytes - sizeof(Window));
  // A merged session before what the index covers is not held; what it replaced goes.
  index_.StartCovering(0);
  index_.DropBefore(60);
  index_.Replace("k", Windows{{90, 95}}, Window{40, 50}, 95);
  EXPECT_EQ(Find(index_, "k", 60, 200), Windows{});
  EXPECT_EQ(index_.keys(), 0u);
  EXPECT_EQ(index_.bytes(), 0u);
  // A key seen first in a merge is added as by Add.
  index_.Replace("new", Windows{{1, 2}}, Window{70, 80}, 95);
  EXPECT_EQ(Find(index_, "new", 60, 200), (Windows{{70, 80}}));
}

TEST_F(SessionIndexTest, BeforeWhatItCoversItAnswersNothing) {
  index_.StartCovering(100);  // the store holds sessions ending before 100
  index_.Add("k", Window{90, 99}, 120);  // ends before what it covers: not held
  index_.Add("k", Window{110, 120}, 120);
  EXPECT_EQ(Find(index_, "k", 99, 200), std::nullopt);
  EXPECT_EQ(Find(index_, "k", 100, 200), (Windows{{110, 120}}));
}

TEST_F(SessionIndexTest, DroppingExpiredSessionsRaisesWhatItCovers) {
  index_.Add("a", Window{10, 20}, 300);
  index_.Add("a", Window{150, 250}, 300);
  index_.Add("b", Window{30, 40}, 300);
  index_.DropBefore(100);
  EXPECT_EQ(index_.covers_from(), 100);
  EXPECT_EQ(index_.keys(), 1u);
  EXPECT_EQ(Find(index_, "a", 100, 300), (Windows{{150, 250}}));
  EXPECT_EQ(Find(index_, "b", 100, 300), Windows{});
  EXPECT_EQ(Find(index_, "a", 50, 300), std::nullopt);
  index_.DropBefore(50);  // never lowers
  EXPECT_EQ(index_.covers_from(), 100);
}

TEST_F(SessionIndexTest, PastItsBudgetItForgetsEverythingAndCoversOnlyAfterStreamTime) {
  g_session_index_bytes = 150;
  index_.Add("a", Window{10, 20}, 20);
  EXPECT_EQ(Find(index_, "a", 0, 100), (Windows{{10, 20}}));
  index_.Add("bb", Window{30, 40}, 40);  // over 150 bytes
  EXPECT_EQ(index_.keys(), 0u);
  EXPECT_EQ(index_.covers_from(), 41);
  EXPECT_EQ(Find(index_, "a", 0, 100), std::nullopt);
  index_.Add("a", Window{50, 60}, 60);
  EXPECT_EQ(Find(index_, "a", 41, 100), (Windows{{50, 60}}));
}

}  // namespace
}  // namespace sluice::internal
