// Windowed aggregations through the TopologyTestDriver: tumbling, hopping, sliding and
// session windows with out-of-order and late records, grace boundaries, session merges,
// caching, retention, and the Kafka-Streams-compatible windowed key serdes. Sliding
// windows and sessions are also checked against plain C++ computations over random
// input.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"
#include "tests/dsl/session_reference.h"
#include "tests/dsl/window_test_util.h"

namespace sluice {
namespace {

using sluice::testing::MakeDriver;
using namespace std::chrono_literals;

using sluice::testing::kNoCache;
using Out = sluice::testing::WindowOut;

template <class WS>
std::vector<Out> ReadAll(TestOutputTopic<WS, Nullable<Int64Serde>>& topic) {
  return sluice::testing::ReadWindowOuts(topic);
}

// count() over `windows` of topic "in", written to "out" with `key_serde`.
template <class Windows, class WS>
struct CountFixture {
  std::unique_ptr<TopologyTestDriver> driver;
  std::optional<TestInputTopic<StringSerde, StringSerde>> in;
  std::optional<TestOutputTopic<WS, Nullable<Int64Serde>>> out;

  CountFixture(const Windows& windows, WS key_serde,
               std::map<std::string, std::string> config = kNoCache) {
    StreamsBuilder builder;
    builder.Stream<std::string, std::string>("in")
        .GroupByKey()
        .WindowedBy(windows)
        .Count(Materialized<StringSerde, Int64Serde>::As("counts"))
        .ToStream()
        .To("out", Produced<WS, Nullable<Int64Serde>>(key_serde, {}));
    driver = MakeDriver(builder, {}, std::move(config));
    if (driver == nullptr) return;
    in.emplace(driver->CreateInputTopic("in", StringSerde(), StringSerde()));
    out.emplace(driver->CreateOutputTopic("out", key_serde, Nullable<Int64Serde>()));
  }
  void Pipe(const std::string& key, int64_t timestamp) {
    ASSERT_TRUE(in->PipeInput(key, "v", timestamp).ok());
  }
  std::vector<Out> Read() { return ReadAll(*out); }
};

using Tumbling = CountFixture<TimeWindows, TimeWindowedSerde<StringSerde>>;

TEST(TimeWindowsTest, TumblingCountsPerWindowAndDropsLateRecords) {
  Tumbling f(TimeWindows::OfSizeWithNoGrace(1000ms), TimeWindowedSerde<StringSerde>(1000));
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 0);
  f.Pipe("a", 999);
  f.Pipe("b", 500);
  f.Pipe("a", 1000);
  f.Pipe("a", 700);   // out of order, window [0, 1000) still open: stream time 1000, no grace
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 1000, 1, 0},
                                        {"a", 0, 1000, 2, 999},
                                        {"b", 0, 1000, 1, 500},
                                        {"a", 1000, 2000, 1, 1000}}));
  // [0, 1000) closed when stream time reached 1000 (end + grace <= stream time).
  EXPECT_EQ(f.driver->late_records(), 1u);
  f.Pipe("a", 2500);
  f.Pipe("a", 1999);  // [1000, 2000) closed at 2000
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 2000, 3000, 1, 2500}}));
  EXPECT_EQ(f.driver->late_records(), 2u);
}

TEST(TimeWindowsTest, GraceKeepsWindowsOpenUntilStreamTimePassesEndPlusGrace) {
  Tumbling f(TimeWindows::OfSizeAndGrace(1000ms, 500ms), TimeWindowedSerde<StringSerde>(1000));
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 1499);
  f.Pipe("a", 999);  // close time 999 < end 1000: accepted
  f.Pipe("a", 1500);
  f.Pipe("a", 0);    // close time 1000 = end: dropped
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 1000, 2000, 1, 1499},
                                        {"a", 0, 1000, 1, 999},
                                        {"a", 1000, 2000, 2, 1500}}));
  EXPECT_EQ(f.driver->late_records(), 1u);
}

TEST(TimeWindowsTest, HoppingRecordFallsIntoSizeOverAdvanceWindows) {
  Tumbling f(TimeWindows::OfSizeWithNoGrace(1000ms).AdvanceBy(250ms),
             TimeWindowedSerde<StringSerde>(1000));
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 1100);
  f.Pipe("a", 1300);
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 250, 1250, 1, 1100},
                                        {"a", 500, 1500, 1, 1100},
                                        {"a", 750, 1750, 1, 1100},
                                        {"a", 1000, 2000, 1, 1100},
                                        {"a", 500, 1500, 2, 1300},
                                        {"a", 750, 1750, 2, 1300},
                                        {"a", 1000, 2000, 2, 1300},
                                        {"a", 1250, 2250, 1, 1300}}));
  EXPECT_EQ(f.driver->late_records(), 0u);
  // At stream time 1400, a record at 600 belongs to [0, 1000), [250, 1250) (closed) and
  // [500, 1500) (open): counted once as late, and the open window still takes it.
  f.Pipe("a", 1400);
  f.Read();
  f.Pipe("a", 600);
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 500, 1500, 4, 1400}}));
  EXPECT_EQ(f.driver->late_records(), 1u);
}

TEST(TimeWindowsTest, CacheEmitsOneUpdatePerWindowPerCommit) {
  Tumbling f(TimeWindows::OfSizeWithNoGrace(1000ms), TimeWindowedSerde<StringSerde>(1000), {});
  ASSERT_NE(f.driver, nullptr);
  std::vector<TestRawRecord> batch;
  for (int64_t t : {10, 20, 30, 1010, 1020}) {
    TestRawRecord r;
    r.key = "a";
    r.value = "v";
    r.timestamp = t;
    batch.push_back(r);
  }
  ASSERT_TRUE(f.driver->PipeRawBatch("in", batch).ok());
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 1000, 3, 30}, {"a", 1000, 2000, 2, 1020}}));
}

TEST(TimeWindowsTest, WindowsTheCacheEvictsAtCommitAreEmitted) {
  // A cache of one byte evicts all but the newest entry on every write, so recording
  // the stream time at commit evicts the last window written: its update must still
  // come out (it was once lost between the eviction and the commit's flush).
  Tumbling f(TimeWindows::OfSizeWithNoGrace(1000ms), TimeWindowedSerde<StringSerde>(1000),
             {{"cache.max.bytes.buffering", "1"}});
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 10);
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 1000, 1, 10}}));
  f.Pipe("a", 20);
  f.Pipe("b", 30);
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 1000, 2, 20}, {"b", 0, 1000, 1, 30}}));
}

// An aggregate that is more than a number (here a string of the records' tokens) is kept
// decoded between updates when the store caches; with more windows than it keeps (4,096)
// and records out of order and late, the final value of every window must equal a plain
// computation, cache on and off.
TEST(TimeWindowsTest, HoppingStringAggregatesMatchAPlainComputationCacheOnAndOff) {
  constexpr int64_t kSize = 40, kAdvance = 10, kGrace = 30;
  for (bool cache : {true, false}) {
    StreamsBuilder builder;
    builder.Stream<std::string, std::string>("in")
        .GroupByKey()
        .WindowedBy(TimeWindows::OfSizeAndGrace(std::chrono::milliseconds(kSize),
                                                std::chrono::milliseconds(kGrace))
                        .AdvanceBy(std::chrono::milliseconds(kAdvance)))
        .Aggregate([] { return std::string(); },
                   [](const std::string&, const std::string& token, std::string agg) {
                     return agg + token;
                   },
                   Materialized<StringSerde, StringSerde>::As("tokens"))
        .ToStream()
        .To("out", Produced<TimeWindowedSerde<StringSerde>, Nullable<StringSerde>>(
                       TimeWindowedSerde<StringSerde>(kSize), {}));
    std::map<std::string, std::string> config;
    if (!cache) config = kNoCache;
    auto driver = MakeDriver(builder, {}, config);
    ASSERT_NE(driver, nullptr);
    auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
    auto out = driver->CreateOutputTopic("out", TimeWindowedSerde<StringSerde>(kSize),
                                         Nullable<StringSerde>());
    std::map<std::pair<std::string, int64_t>, std::string> want;
    std::mt19937 rng(5);
    int64_t now = 0, stream_time = 0;
    uint64_t late = 0;
    for (int i = 0; i < 3000; ++i) {
      now += static_cast<int64_t>(rng() % 4);
      // Mostly in order; some up to 50 ms back, past the grace for some of their windows.
      const int64_t t = std::max<int64_t>(0, now - (rng() % 8 == 0 ? static_cast<int64_t>(rng() % 50) : 0));
      const std::string key = "k" + std::to_string(rng() % 40);
      const std::string token = std::to_string(i) + ",";
      ASSERT_TRUE(in.PipeInput(key, token, t).ok());
      stream_time = std::max(stream_time, t);
      bool dropped = false;
      for (int64_t start = std::max<int64_t>(0, t - kSize + kAdvance) / kAdvance * kAdvance; start <= t;
           start += kAdvance) {
        if (start + kSize <= stream_time - kGrace) {
          dropped = true;
        } else {
          want[{key, start}] += token;
        }
      }
      late += dropped ? 1 : 0;
    }
    std::map<std::pair<std::string, int64_t>, std::string> got;
    for (auto& kv : out.ReadKeyValuesToList()) {
      ASSERT_TRUE(kv.value.has_value());
      got[{kv.key.key, kv.key.window.start_ms}] = *kv.value;
    }
    EXPECT_EQ(got, want) << (cache ? "cache on" : "cache off");
    EXPECT_GT(want.size(), 4096u);
    EXPECT_EQ(driver->late_records(), late);
    EXPECT_GT(late, 0u);
  }
}

TEST(TimeWindowsTest, WindowedKeysAreKafkaStreamsBytes) {
  Tumbling f(TimeWindows::OfSizeWithNoGrace(1000ms), TimeWindowedSerde<StringSerde>(1000));
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("ab", 3000);
  std::vector<TestRawRecord> raw = f.driver->ReadRaw("out");
  ASSERT_EQ(raw.size(), 1u);
  // TimeWindowedSerializer: key bytes, then the start as a big-endian long.
  EXPECT_EQ(*raw[0].key, std::string("ab\0\0\0\0\0\0\x0b\xb8", 10));
  Windowed<std::string> w;
  ASSERT_TRUE(TimeWindowedSerde<StringSerde>(1000).Deserialize(*raw[0].key, w).ok());
  EXPECT_EQ(w, (Windowed<std::string>{"ab", Window{3000, 4000}}));
  // SessionKeySchema: key bytes, end, start.
  std::string bytes;
  SessionWindowedSerde<StringSerde>().Serialize(Windowed<std::string>{"k", Window{1, 2}}, bytes);
  EXPECT_EQ(bytes, std::string("k\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0\x01", 17));
  EXPECT_FALSE(SessionWindowedSerde<StringSerde>().Deserialize("short", w).ok());
}

TEST(TimeWindowsTest, InvalidWindowsFailTheBuild) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeWithNoGrace(1000ms).AdvanceBy(2000ms))
      .Count();
  absl::StatusOr<Topology> topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("advance"), std::string::npos) << topology.status();

  StreamsBuilder short_retention;
  short_retention.Stream<std::string, std::string>("in")
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(1000ms, 500ms))
      .Count(Materialized<StringSerde, Int64Serde>::As("w").WithRetention(1000ms));
  topology = short_retention.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("'w'"), std::string::npos) << topology.status();
}

// ---------------------------------------------------------------------------------
// Sessions.

using Sessions = CountFixture<SessionWindows, SessionWindowedSerde<StringSerde>>;

TEST(SessionWindowsTest, RecordsWithinTheGapMergeAndOldSessionsAreDeleted) {
  Sessions f(SessionWindows::OfInactivityGapWithNoGrace(5ms), SessionWindowedSerde<StringSerde>());
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 0);
  f.Pipe("a", 10);
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 0, 1, 0}, {"a", 10, 10, 1, 10}}));
  f.Pipe("a", 5);  // within 5 of both: one session [0, 10]
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 0, std::nullopt, 0},
                                        {"a", 10, 10, std::nullopt, 10},
                                        {"a", 0, 10, 3, 10}}));
  f.Pipe("a", 16);  // more than 5 after 10: a new session
  f.Pipe("b", 16);
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 16, 16, 1, 16}, {"b", 16, 16, 1, 16}}));
  // With no grace, [0, 10] closed when stream time passed 10 + the gap: a record at 9
  // would merge into it and is dropped.
  f.Pipe("a", 9);
  EXPECT_EQ(f.Read(), std::vector<Out>{});
  EXPECT_EQ(f.driver->late_records(), 1u);
}

// A session closes when stream time passes its end by the gap plus grace (Kafka Streams
// 3.0 on): before the gap has passed, an in-order record could still extend it.
TEST(SessionWindowsTest, ASessionClosesOnlyOnceStreamTimePassesItsEndByTheGapAndGrace) {
  Sessions f(SessionWindows::OfInactivityGapAndGrace(10ms, 5ms), SessionWindowedSerde<StringSerde>());
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("b", 100);  // stream time 100: sessions ending before 100 - 10 - 5 = 85 are closed
  f.Pipe("a", 88);   // 12 behind stream time, more than the grace: still in time
  f.Pipe("c", 84);   // its own session would end at 84: closed already, late
  f.Pipe("c", 85);   // ends exactly at the close time: in time
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"b", 100, 100, 1, 100}, {"a", 88, 88, 1, 88}, {"c", 85, 85, 1, 85}}));
  EXPECT_EQ(f.driver->late_records(), 1u);
}

TEST(SessionWindowsTest, AggregateMergesWithTheMerger) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .GroupByKey()
      .WindowedBy(SessionWindows::OfInactivityGapAndGrace(10ms, 100ms))
      .Aggregate([] { return std::string(); },
                 [](const std::string&, const std::string& v, std::string agg) { return agg + v; },
                 [](const std::string&, const std::string& a, const std::string& b) {
                   return a + "|" + b;
                 },
                 Materialized<StringSerde, StringSerde>::As("sessions"))
      .ToStream()
      .To("out", Produced<SessionWindowedSerde<StringSerde>, Nullable<StringSerde>>());
  auto driver = MakeDriver(builder, {}, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", SessionWindowedSerde<StringSerde>(),
                                       Nullable<StringSerde>());
  ASSERT_TRUE(in.PipeInput("k", "x", 100).ok());
  ASSERT_TRUE(in.PipeInput("k", "y", 120).ok());
  ASSERT_TRUE(in.PipeInput("k", "z", 110).ok());  // bridges [100,100] and [120,120]
  auto records = out.ReadRecordsToList();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 5u);
  // Merging starts from the initializer: "" | "x" | "y", then z is added.
  EXPECT_EQ(records->back().key, (Windowed<std::string>{"k", Window{100, 120}}));
  EXPECT_EQ(records->back().value, std::optional<std::string>("|x|yz"));
  EXPECT_EQ(records->back().timestamp, 120);
}

// ---------------------------------------------------------------------------------
// Sliding windows and sessions against plain C++ over random input.

struct Rec {
  std::string key;
  int64_t t;
};

// Sliding windows as Kafka Streams defines them: each record's left window
// [max(0, t - d), max(0, t - d) + d], and a right window [t + 1, t + 1 + d] where a later
// record falls into it; the count of each is the number of records inside.
std::map<std::tuple<std::string, int64_t>, int64_t> SlidingReference(const std::vector<Rec>& recs,
                                                                     int64_t d) {
  std::map<std::string, std::vector<int64_t>> by_key;
  for (const Rec& r : recs) by_key[r.key].push_back(r.t);
  std::map<std::tuple<std::string, int64_t>, int64_t> out;
  for (auto& [key, times] : by_key) {
    std::set<int64_t> starts;
    for (int64_t t : times) {
      starts.insert(std::max<int64_t>(0, t - d));
      for (int64_t u : times) {
        if (u > t && u <= t + 1 + d) starts.insert(t + 1);
      }
    }
    for (int64_t s : starts) {
      out[{key, s}] = std::count_if(times.begin(), times.end(), [&](int64_t u) { return u >= s && u <= s + d; });
    }
  }
  return out;
}

// The last value emitted per window (deleted windows removed).
std::map<std::tuple<std::string, int64_t, int64_t>, int64_t> Final(const std::vector<Out>& outs) {
  std::map<std::tuple<std::string, int64_t, int64_t>, int64_t> last;
  for (const Out& o : outs) {
    if (o.value) {
      last[{o.key, o.start, o.end}] = *o.value;
    } else {
      last.erase({o.key, o.start, o.end});
    }
  }
  return last;
}

TEST(SlidingWindowsTest, RandomOutOfOrderInputMatchesPlainComputation) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const int64_t d = 10;
    CountFixture<SlidingWindows, TimeWindowedSerde<StringSerde>> f(
        SlidingWindows::OfTimeDifferenceAndGrace(std::chrono::milliseconds(d), 1000000ms),
        TimeWindowedSerde<StringSerde>(d));
    ASSERT_NE(f.driver, nullptr);
    std::mt19937 rng(seed);
    std::vector<Rec> recs;
    for (int i = 0; i < 60; ++i) {
      recs.push_back({std::string(1, static_cast<char>('a' + rng() % 3)), static_cast<int64_t>(rng() % 80)});
      f.Pipe(recs.back().key, recs.back().t);
    }
    auto got = Final(f.Read());
    std::map<std::tuple<std::string, int64_t, int64_t>, int64_t> want;
    for (auto& [kw, n] : SlidingReference(recs, d)) {
      want[{std::get<0>(kw), std::get<1>(kw), std::get<1>(kw) + d}] = n;
    }
    ASSERT_EQ(got, want) << "seed " << seed;
    EXPECT_EQ(f.driver->late_records(), 0u);
  }
}

TEST(SlidingWindowsTest, InOrderRecordsCreateLeftAndRightWindows) {
  CountFixture<SlidingWindows, TimeWindowedSerde<StringSerde>> f(
      SlidingWindows::OfTimeDifferenceWithNoGrace(10ms), TimeWindowedSerde<StringSerde>(10));
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 20);
  f.Pipe("a", 25);
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 10, 20, 1, 20},
                                        // 25: the right window of 20, then its own left window
                                        {"a", 21, 31, 1, 25},
                                        {"a", 15, 25, 2, 25}}));
  f.Pipe("a", 40);  // [15, 25] and [21, 31] closed at stream time 40 with no grace
  f.Pipe("a", 26);  // its left window [16, 26] ends before 40: late
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 30, 40, 1, 40}}));
  EXPECT_EQ(f.driver->late_records(), 1u);
}

// The plain-C++ sessions of `recs`.
testing::SessionCounts SessionReference(const std::vector<Rec>& recs, int64_t gap) {
  std::map<std::string, std::vector<int64_t>> by_key;
  for (const Rec& r : recs) by_key[r.key].push_back(r.t);
  return testing::SessionReference(std::move(by_key), gap);
}

// With the session index's default budget, and with one so small that it overflows
// (lookups then fall back to store scans).
class SessionIndexBudget : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override { internal::g_session_index_bytes = GetParam(); }
  void TearDown() override { internal::g_session_index_bytes = 32u << 20; }
};
INSTANTIATE_TEST_SUITE_P(SessionWindowsTest, SessionIndexBudget, ::testing::Values(32u << 20, 300u));

TEST_P(SessionIndexBudget, RandomOutOfOrderInputMatchesPlainComputation) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const int64_t gap = 5;
    for (bool cache : {false, true}) {
      Sessions f(SessionWindows::OfInactivityGapAndGrace(std::chrono::milliseconds(gap), 1000000ms),
                 SessionWindowedSerde<StringSerde>(),
                 cache ? std::map<std::string, std::string>{} : kNoCache);
      ASSERT_NE(f.driver, nullptr);
      std::mt19937 rng(seed);
      std::vector<Rec> recs;
      std::vector<TestRawRecord> batch;
      for (int i = 0; i < 80; ++i) {
        recs.push_back({std::string(1, static_cast<char>('a' + rng() % 3)), static_cast<int64_t>(rng() % 200)});
        TestRawRecord r;
        r.key = recs.back().key;
        r.value = "v";
        r.timestamp = recs.back().t;
        batch.push_back(r);
      }
      // With the cache, a few large batches (fewer emissions); without, one per record.
      if (cache) {
        for (size_t i = 0; i < batch.size(); i += 20) {
          ASSERT_TRUE(f.driver->PipeRawBatch("in", std::vector<TestRawRecord>(
                                                       batch.begin() + i, batch.begin() + i + 20))
                          .ok());
        }
      } else {
        for (const Rec& r : recs) f.Pipe(r.key, r.t);
      }
      ASSERT_EQ(Final(f.Read()), SessionReference(recs, gap)) << "seed " << seed << " cache " << cache;
    }
  }
}

}  // namespace
}  // namespace sluice
