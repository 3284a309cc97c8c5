// KStream-KStream windowed joins through the TopologyTestDriver: windows either way
// round, before/after, out-of-order and late records, left/outer results only when the
// window closes, segment expiry, and an independent model on random input.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/join_test_util.h"

namespace sluice {
namespace {

using sluice::testing::kNoCache;
using sluice::testing::MakeDriver;
using sluice::testing::OptS;
using sluice::testing::Show;
using sluice::testing::SOKV;
using sluice::testing::SSKV;

using namespace std::chrono_literals;

struct Out {
  std::string key, value;
  int64_t timestamp;
  friend bool operator==(const Out&, const Out&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Out& o) {
    return os << "{" << o.key << ", " << o.value << " @" << o.timestamp << "}";
  }
};

std::vector<Out> ReadAll(TestOutputTopic<StringSerde, StringSerde>& topic) {
  std::vector<Out> out;
  auto records = topic.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  if (!records.ok()) return out;
  for (auto& r : *records) out.push_back({r.key, r.value, r.timestamp});
  return out;
}

// left and right streams of strings, joined by `build`, written to "out".
struct StreamJoinFixture {
  std::unique_ptr<TopologyTestDriver> driver;
  std::optional<TestInputTopic<StringSerde, StringSerde>> left, right;
  std::optional<TestOutputTopic<StringSerde, StringSerde>> out;
};

template <class BuildJoin>
StreamJoinFixture MakeStreamJoin(BuildJoin build, int partitions = 1) {
  StreamsBuilder builder;
  auto left = builder.Stream<std::string, std::string>("left");
  auto right = builder.Stream<std::string, std::string>("right");
  build(left, right).To("out");
  TopologyTestDriver::Options options;
  options.partitions["left"] = partitions;
  options.partitions["right"] = partitions;
  StreamJoinFixture f;
  f.driver = MakeDriver(builder, options);
  if (f.driver == nullptr) return f;
  f.left.emplace(f.driver->CreateInputTopic("left", StringSerde(), StringSerde()));
  f.right.emplace(f.driver->CreateInputTopic("right", StringSerde(), StringSerde()));
  f.out.emplace(f.driver->CreateOutputTopic("out", StringSerde(), StringSerde()));
  return f;
}

auto InnerJoin(JoinWindows windows) {
  return [windows](KStream<std::string, std::string> l, KStream<std::string, std::string> r) {
    return l.Join(r, [](const std::string& a, const std::string& b) { return a + "-" + b; }, windows);
  };
}
auto LeftJoin(JoinWindows windows) {
  return [windows](KStream<std::string, std::string> l, KStream<std::string, std::string> r) {
    return l.LeftJoin(r, [](const std::string& a, const OptS& b) { return a + "-" + Show(b); },
                      windows);
  };
}
auto OuterJoin(JoinWindows windows) {
  return [windows](KStream<std::string, std::string> l, KStream<std::string, std::string> r) {
    return l.OuterJoin(r, [](const OptS& a, const OptS& b) { return Show(a) + "-" + Show(b); },
                       windows);
  };
}

TEST(StreamStreamJoin, InnerJoinsRecordsWithinTheWindowEitherWayRoundAndOutOfOrder) {
  auto f = MakeStreamJoin(InnerJoin(JoinWindows::OfTimeDifferenceWithNoGrace(100ms)), 2);
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.left->PipeInput("k", "a", 1000).ok());
  ASSERT_TRUE(f.right->PipeInput("k", "x", 1050).ok());   // a-x, at the later timestamp
  ASSERT_TRUE(f.right->PipeInput("k", "y", 1200).ok());   // 200 ms after a: no
  ASSERT_TRUE(f.right->PipeInput("other", "z", 1200).ok());
  ASSERT_TRUE(f.left->PipeInput("k", "b", 1150).ok());    // b-x, b-y
  ASSERT_TRUE(f.left->PipeInput("k", "c", 1100).ok());    // out of order, not late: c-x, c-y
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "a-x", 1050},
                                               {"k", "b-x", 1150},
                                               {"k", "b-y", 1200},
                                               {"k", "c-x", 1100},
                                               {"k", "c-y", 1200}}));
  EXPECT_EQ(f.driver->late_records(), 0u);
}

TEST(StreamStreamJoin, ARecordOlderThanTheWindowsAndGraceIsDroppedAndCounted) {
  auto f = MakeStreamJoin(InnerJoin(JoinWindows::OfTimeDifferenceAndGrace(100ms, 50ms)));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.right->PipeInput("k", "x", 1000).ok());
  ASSERT_TRUE(f.left->PipeInput("k", "now", 1250).ok());  // stream time 1250; retention 250
  ASSERT_TRUE(f.left->PipeInput("k", "edge", 1000).ok()); // 1250 - 250 = 1000: still kept
  ASSERT_TRUE(f.left->PipeInput("k", "late", 999).ok());  // dropped, though x is in reach
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "edge-x", 1000}}));
  EXPECT_EQ(f.driver->late_records(), 1u);
}

TEST(StreamStreamJoin, BeforeAndAfterBoundTheOtherStreamsTimestampsOnEachSide) {
  // Right records may be at most 10 ms before and 100 ms after a left record.
  auto f = MakeStreamJoin(
      InnerJoin(JoinWindows::OfTimeDifferenceWithNoGrace(0ms).Before(10ms).After(100ms)));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.left->PipeInput("k", "a", 1000).ok());
  ASSERT_TRUE(f.right->PipeInput("k", "early", 989).ok());   // 11 ms before: no
  ASSERT_TRUE(f.right->PipeInput("k", "before", 990).ok());  // 10 ms before: yes
  ASSERT_TRUE(f.right->PipeInput("k", "after", 1100).ok());  // 100 ms after: yes
  ASSERT_TRUE(f.right->PipeInput("k", "later", 1101).ok());  // no
  // b at 1095 reaches right records in [1085, 1195].
  ASSERT_TRUE(f.left->PipeInput("k", "b", 1095).ok());
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "a-before", 1000},
                                               {"k", "a-after", 1100},
                                               {"k", "b-after", 1100},
                                               {"k", "b-later", 1101}}));
}

TEST(StreamStreamJoin, LeftJoinEmitsNulloptOnlyWhenTheWindowClosesNeverSpuriously) {
  auto f = MakeStreamJoin(LeftJoin(JoinWindows::OfTimeDifferenceAndGrace(100ms, 50ms)));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.left->PipeInput("k", "a", 1000).ok());       // no partner yet: waits
  ASSERT_TRUE(f.right->PipeInput("other", "o", 1120).ok());  // a's window closes at 1150
  ASSERT_TRUE(f.right->PipeInput("k", "x", 1090).ok());      // out of order, in grace: a-x
  ASSERT_TRUE(f.left->PipeInput("k", "b", 1300).ok());       // b waits (closes at 1450)
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "a-x", 1090}}));
  ASSERT_TRUE(f.right->PipeInput("other", "p", 1450).ok());  // 1450: b's window still open
  EXPECT_TRUE(ReadAll(*f.out).empty());
  ASSERT_TRUE(f.right->PipeInput("other", "q", 1451).ok());  // now it has closed
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "b-null", 1300}}));
  // A left record whose window closed already when it arrives is answered at once.
  ASSERT_TRUE(f.left->PipeInput("k", "c", 1290).ok());       // closes at 1440 < 1451
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "c-null", 1290}}));
}

TEST(StreamStreamJoin, OuterJoinEmitsUnmatchedRecordsOfBothSidesWhenTheirWindowsClose) {
  auto f = MakeStreamJoin(OuterJoin(JoinWindows::OfTimeDifferenceWithNoGrace(100ms)));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.left->PipeInput("k1", "a", 1000).ok());
  ASSERT_TRUE(f.right->PipeInput("k2", "x", 1000).ok());
  ASSERT_TRUE(f.right->PipeInput("k1", "y", 1100).ok());  // joins a: a-y; a no longer waits
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k1", "a-y", 1100}}));
  ASSERT_TRUE(f.left->PipeInput("k3", "b", 1201).ok());   // x (k2) closes at 1100 < 1201
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k2", "null-x", 1000}}));
  ASSERT_TRUE(f.left->PipeInput("k9", "c", 1500).ok());   // b closes; y found a, never waited
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k3", "b-null", 1201}}));
}

TEST(StreamStreamJoin, ExpiredSegmentsAreDroppedFromTheWindowStoresAtCommit) {
  StreamsBuilder builder;
  auto left = builder.Stream<std::string, std::string>("left");
  auto right = builder.Stream<std::string, std::string>("right");
  left.Join(right, [](const std::string& a, const std::string& b) { return a + b; },
            JoinWindows::OfTimeDifferenceWithNoGrace(100ms),
            StreamJoined<StringSerde, StringSerde, StringSerde>().WithStoreName("j"))
      .To("out");
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto l = driver->CreateInputTopic("left", StringSerde(), StringSerde());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(l.PipeInput("k" + std::to_string(i), "v", i).ok());
  auto store = driver->GetKeyValueStore<BytesSerde, BytesSerde>("j-this-join-store");
  ASSERT_TRUE(store.ok()) << store.status();
  // The records, not the key that records the store's stream time (all 0xff bytes).
  auto records = [&] {
    size_t n = 0;
    auto all = store->All();
    for (const auto& kv : *all) n += static_cast<uint8_t>(kv.key.view()[0]) != 0xff;
    return n;
  };
  ASSERT_EQ(records(), 10u);
  // Segments are 60 s long (retention 200 ms); 3 minutes on, the first segment expires.
  ASSERT_TRUE(l.PipeInput("k0", "w", 180000).ok());
  EXPECT_EQ(records(), 1u);
}

// An independent model of the windowed left join, record by record, over plain vectors:
// stream time, late records, partners within the window and the retention, and left
// records that wait for a partner until their window closes.
struct ModelRecord {
  bool left;
  std::string key, value;
  int64_t t;
};

std::vector<Out> ModelLeftJoin(const std::vector<ModelRecord>& input, int64_t before,
                               int64_t after, int64_t grace, bool inner) {
  const int64_t retention = before + after + grace;
  int64_t stream_time = std::numeric_limits<int64_t>::min();
  std::vector<const ModelRecord*> lefts, rights;  // accepted, in arrival order
  std::vector<const ModelRecord*> waiting;        // unmatched left records
  std::vector<Out> out;
  for (const ModelRecord& r : input) {
    stream_time = std::max(stream_time, r.t);
    if (r.t < stream_time - retention) continue;  // late
    if (!inner && r.t == stream_time) {
      std::vector<const ModelRecord*> closed, open;
      for (const ModelRecord* w : waiting) {
        (w->t + after + grace < stream_time ? closed : open).push_back(w);
      }
      std::stable_sort(closed.begin(), closed.end(),
                       [](const ModelRecord* a, const ModelRecord* b) { return a->t < b->t; });
      for (const ModelRecord* w : closed) out.push_back({w->key, w->value + "-null", w->t});
      waiting = open;
    }
    // From this record: the other side's records in [t - lo, t + hi].
    const int64_t lo = r.left ? before : after;
    const int64_t hi = r.left ? after : before;
    const int64_t from = std::max(r.t - lo, stream_time - retention);
    std::vector<const ModelRecord*> partners;
    for (const ModelRecord* o : r.left ? rights : lefts) {
      if (o->key == r.key && o->t >= from && o->t <= r.t + hi) partners.push_back(o);
    }
    std::stable_sort(partners.begin(), partners.end(),
                     [](const ModelRecord* a, const ModelRecord* b) { return a->t < b->t; });
    for (const ModelRecord* o : partners) {
      const ModelRecord& l = r.left ? r : *o;
      const ModelRecord& rr = r.left ? *o : r;
      out.push_back({r.key, l.value + "-" + rr.value, std::max(r.t, o->t)});
      if (!r.left) std::erase(waiting, o);
    }
    (r.left ? lefts : rights).push_back(&r);
    if (!inner && r.left && partners.empty()) {
      if (r.t + after + grace < stream_time) {
        out.push_back({r.key, r.value + "-null", r.t});
      } else {
        waiting.push_back(&r);
      }
    }
  }
  return out;
}

// Parameters: inner or left; the seed; the window index's byte budget (the default, or
// 2 KiB, so that it evicts and joins read older partners from RocksDB).
class StreamStreamJoinModel
    : public ::testing::TestWithParam<std::tuple<bool, uint32_t, size_t>> {
 protected:
  void SetUp() override { internal::g_window_index_bytes = std::get<2>(GetParam()); }
  void TearDown() override { internal::g_window_index_bytes = 32u << 20; }
};

TEST_P(StreamStreamJoinModel, MatchesAnIndependentModelOnRandomOutOfOrderInput) {
  const bool inner = std::get<0>(GetParam());
  const uint32_t seed = std::get<1>(GetParam());
  const int64_t before = 30, after = 50, grace = 20;
  auto windows = JoinWindows::OfTimeDifferenceAndGrace(0ms, std::chrono::milliseconds(grace))
                     .Before(std::chrono::milliseconds(before))
                     .After(std::chrono::milliseconds(after));
  auto f = inner ? MakeStreamJoin(InnerJoin(windows)) : MakeStreamJoin(LeftJoin(windows));
  ASSERT_NE(f.driver, nullptr);
  std::mt19937 rng(seed);
  std::vector<ModelRecord> input;
  int64_t clock = 1000;
  for (int i = 0; i < 400; ++i) {
    clock += std::uniform_int_distribution<int>(0, 8)(rng);
    // Mostly in order; some up to 150 ms behind (past grace and retention: late).
    int64_t t = clock - (std::uniform_int_distribution<int>(0, 9)(rng) == 0
                             ? std::uniform_int_distribution<int>(0, 150)(rng)
                             : 0);
    input.push_back({std::uniform_int_distribution<int>(0, 1)(rng) == 0,
                     "k" + std::to_string(std::uniform_int_distribution<int>(0, 4)(rng)),
                     std::to_string(i), t});
  }
  for (const ModelRecord& r : input) {
    ASSERT_TRUE((r.left ? *f.left : *f.right).PipeInput(r.key, r.value, r.t).ok());
  }
  const std::vector<Out> want = ModelLeftJoin(input, before, after, grace, inner);
  const std::vector<Out> got = ReadAll(*f.out);
  EXPECT_EQ(got, want);
  EXPECT_GT(want.size(), 50u) << "the input should join often";
  EXPECT_GT(f.driver->late_records(), 0u) << "the input should have late records";
}

INSTANTIATE_TEST_SUITE_P(
    Seeds, StreamStreamJoinModel,
    ::testing::Combine(::testing::Bool(), ::testing::Values(1u, 2u, 3u),
                       ::testing::Values(size_t{32} << 20, size_t{2048})),
    [](const ::testing::TestParamInfo<std::tuple<bool, uint32_t, size_t>>& info) {
      return std::string(std::get<0>(info.param) ? "Inner" : "Left") + "Seed" +
             std::to_string(std::get<1>(info.param)) +
             (std::get<2>(info.param) < 4096 ? "TinyIndex" : "");
    });

}  // namespace
}  // namespace sluice
