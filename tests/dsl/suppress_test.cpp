// KTable::Suppress and EmitStrategy::OnWindowClose through the TopologyTestDriver: final
// results per window (grace boundaries, late records, session merges), time-limited
// suppression with bounded buffers (emit early, shut down), and the buffer's changelog.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"
#include "tests/dsl/window_test_util.h"

namespace sluice {
namespace {

using sluice::testing::MakeDriver;
using namespace std::chrono_literals;

using sluice::testing::kNoCache;
using Out = sluice::testing::WindowOut;

template <class WS>
struct Fixture {
  std::unique_ptr<TopologyTestDriver> driver;
  std::optional<TestInputTopic<StringSerde, StringSerde>> in;
  std::optional<TestOutputTopic<WS, Nullable<Int64Serde>>> out;

  template <class Build>
  Fixture(Build build, WS ws, std::map<std::string, std::string> config = kNoCache) {
    StreamsBuilder builder;
    build(builder.Stream<std::string, std::string>("in").GroupByKey())
        .ToStream()
        .To("out", Produced<WS, Nullable<Int64Serde>>(ws, {}));
    driver = MakeDriver(builder, {}, std::move(config));
    if (driver == nullptr) return;
    in.emplace(driver->CreateInputTopic("in", StringSerde(), StringSerde()));
    out.emplace(driver->CreateOutputTopic("out", ws, Nullable<Int64Serde>()));
  }
  void Pipe(const std::string& key, int64_t t) { ASSERT_TRUE(in->PipeInput(key, "v", t).ok()); }
  std::vector<Out> Read() { return sluice::testing::ReadWindowOuts(*out); }
};

using TimeFixture = Fixture<TimeWindowedSerde<StringSerde>>;

// Tumbling windows of 100 ms with 50 ms grace, counted, final results only.
void RunFinalResults(TimeFixture& f) {
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 10);
  f.Pipe("a", 20);
  f.Pipe("b", 99);
  f.Pipe("a", 120);
  f.Pipe("a", 149);  // stream time 149: [0, 100) still open (closes at 150)
  EXPECT_EQ(f.Read(), std::vector<Out>{});
  f.Pipe("a", 30);   // within grace
  f.Pipe("c", 150);  // closes [0, 100): its final counts come out, in window-end order
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 100, 3, 30}, {"b", 0, 100, 1, 99}}));
  f.Pipe("a", 40);   // late: dropped, no second "final" result
  f.Pipe("a", 250);  // closes [100, 200)
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 100, 200, 2, 149}, {"c", 100, 200, 1, 150}}));
  EXPECT_EQ(f.driver->late_records(), 1u);
}

TEST(SuppressTest, UntilWindowClosesEmitsOneFinalResultPerWindow) {
  for (bool cache : {false, true}) {
    SCOPED_TRACE(cache ? "cache" : "no cache");
    TimeFixture f(
        [](auto grouped) {
          return grouped.WindowedBy(TimeWindows::OfSizeAndGrace(100ms, 50ms))
              .Count()
              .Suppress(Suppressed::UntilWindowCloses(BufferConfig::Unbounded()));
        },
        TimeWindowedSerde<StringSerde>(100), cache ? std::map<std::string, std::string>{} : kNoCache);
    RunFinalResults(f);
  }
}

// Time windows emit their final results from their own store (no suppression buffer):
// the same results, with the cache on or off.
TEST(SuppressTest, EmitStrategyOnWindowCloseGivesTheSameFinalResults) {
  for (bool cache : {false, true}) {
    SCOPED_TRACE(cache ? "cache on" : "cache off");
    TimeFixture f(
        [](auto grouped) {
          return grouped.WindowedBy(TimeWindows::OfSizeAndGrace(100ms, 50ms))
              .Emit(EmitStrategy::OnWindowClose())
              .Count();
        },
        TimeWindowedSerde<StringSerde>(100), cache ? std::map<std::string, std::string>{} : kNoCache);
    RunFinalResults(f);
  }
}

// Hopping windows: every window a record falls in gets one final result, in the order of
// window end, then key; the same as through a suppression buffer.
TEST(SuppressTest, EmitStrategyOnWindowCloseOfHoppingWindowsEqualsASuppression) {
  auto hopping = [] { return TimeWindows::OfSizeAndGrace(100ms, 20ms).AdvanceBy(50ms); };
  std::vector<std::vector<Out>> outs;
  for (bool emit : {true, false}) {
    for (bool cache : {false, true}) {
      TimeFixture f(
          [&](auto grouped) {
            auto windowed = grouped.WindowedBy(hopping());
            return emit ? windowed.Emit(EmitStrategy::OnWindowClose()).Count()
                        : windowed.Count().Suppress(Suppressed::UntilWindowCloses(BufferConfig::Unbounded()));
          },
          TimeWindowedSerde<StringSerde>(100), cache ? std::map<std::string, std::string>{} : kNoCache);
      ASSERT_NE(f.driver, nullptr);
      std::vector<Out> out;
      const std::vector<std::pair<std::string, int64_t>> records = {
          {"a", 10}, {"a", 60}, {"b", 40}, {"a", 70}, {"b", 120}, {"b", 180}, {"b", 260}, {"c", 400}};
      for (const auto& [key, t] : records) {
        f.Pipe(key, t);
        for (const Out& o : f.Read()) out.push_back(o);
      }
      EXPECT_EQ(f.driver->late_records(), 0u);
      outs.push_back(out);
    }
  }
  // [0, 100): a@10, a@60, a@70, b@40; [50, 150): a@60, a@70, b@120; [100, 200): b@120,
  // b@180; [150, 250): b@180; [200, 300) and [250, 350): b@260. c@400's stay open.
  const std::vector<Out> want = {{"a", 0, 100, 3, 70},   {"b", 0, 100, 1, 40},
                                 {"a", 50, 150, 2, 70},  {"b", 50, 150, 1, 120},
                                 {"b", 100, 200, 2, 180}, {"b", 150, 250, 1, 180},
                                 {"b", 200, 300, 1, 260}, {"b", 250, 350, 1, 260}};
  for (const auto& out : outs) EXPECT_EQ(out, want);
}

// A cache lets its updates down in the order of their last write (as Kafka Streams'
// does). Here one commit's batch updates b's window [100, 200) first, then a's [0, 100)
// (out of order, within grace), then b's again at 160, past [0, 100)'s close at 150. Had
// b's window come down first (the order of first writes), its time would have closed
// [0, 100) in the suppression before a's last update arrived: a's count emitted as 1,
// then again as 2.
TEST(SuppressTest, OneCommitsOutOfOrderUpdatesGiveOneExactFinalResultPerWindow) {
  TimeFixture f(
      [](auto grouped) {
        return grouped.WindowedBy(TimeWindows::OfSizeAndGrace(100ms, 50ms))
            .Emit(EmitStrategy::OnWindowClose())
            .Count();
      },
      TimeWindowedSerde<StringSerde>(100), {});  // cache on
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 50);  // committed: [0, 100) held with count 1
  auto record = [](const char* key, int64_t t) {
    TestRawRecord r;
    r.key = key;
    r.value = "v";
    r.timestamp = t;
    return r;
  };
  ASSERT_TRUE(f.driver->PipeRawBatch("in", {record("b", 120), record("a", 90), record("b", 160)}).ok());
  f.Pipe("c", 300);  // closes both windows
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 100, 2, 90}, {"b", 100, 200, 2, 160}}));
  EXPECT_EQ(f.driver->late_records(), 0u);
}

TEST(SuppressTest, FinalSessionsDropTheDeletionsOfMergedSessions) {
  // Gap 10, grace 20: a session's final result waits until stream time passes its end by
  // 30 (gap + grace), when no record can extend it any more.
  Fixture<SessionWindowedSerde<StringSerde>> f(
      [](auto grouped) {
        return grouped.WindowedBy(SessionWindows::OfInactivityGapAndGrace(10ms, 20ms))
            .Emit(EmitStrategy::OnWindowClose())
            .Count();
      },
      SessionWindowedSerde<StringSerde>());
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 0);
  f.Pipe("a", 20);
  f.Pipe("a", 10);  // merges [0,0] and [20,20]: their deletions are held, then dropped
  f.Pipe("a", 49);
  EXPECT_EQ(f.Read(), std::vector<Out>{});
  f.Pipe("a", 60);  // closes [0, 20]; [49, 49] and [60, 60] (11 apart) stay open
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 20, 3, 20}}));
  f.Pipe("b", 100);
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 49, 49, 1, 49}, {"a", 60, 60, 1, 60}}));
}

void RunIdleWindowClose(bool emit_on_close) {
  auto build = [emit_on_close](auto grouped) {
    auto windowed = grouped.WindowedBy(TimeWindows::OfSizeAndGrace(100ms, 20ms));
    return emit_on_close
               ? windowed.Emit(EmitStrategy::OnWindowClose()).Count()
               : windowed.Count().Suppress(Suppressed::UntilWindowCloses(BufferConfig::Unbounded()));
  };
  {
    // Off (the default): without records, stream time stands still and nothing closes.
    TimeFixture f(build, TimeWindowedSerde<StringSerde>(100));
    ASSERT_NE(f.driver, nullptr);
    f.Pipe("a", 10);
    ASSERT_TRUE(f.driver->AdvanceWallClockTime(3600000).ok());
    EXPECT_EQ(f.Read(), std::vector<Out>{});
  }
  auto config = kNoCache;
  config["idle.window.close.ms"] = "1000";
  TimeFixture f(build, TimeWindowedSerde<StringSerde>(100), config);
  ASSERT_NE(f.driver, nullptr);
  f.Pipe("a", 10);
  f.Pipe("b", 30);
  ASSERT_TRUE(f.driver->AdvanceWallClockTime(900).ok());
  EXPECT_EQ(f.Read(), std::vector<Out>{});  // not idle long enough
  // 1000 ms idle: stream time = 30 + 1000 >= 100 + 20, so [0, 100) closes.
  ASSERT_TRUE(f.driver->AdvanceWallClockTime(100).ok());
  EXPECT_EQ(f.Read(), (std::vector<Out>{{"a", 0, 100, 1, 10}, {"b", 0, 100, 1, 30}}));
  // The trade-off: the aggregation's stream time moved too, so a record for the closed
  // window is late, as it would be had records kept coming.
  f.Pipe("a", 50);
  EXPECT_EQ(f.Read(), std::vector<Out>{});
  EXPECT_EQ(f.driver->late_records(), 1u);
}

TEST(SuppressTest, IdleWindowCloseLetsStreamTimeFollowTheWallClockWhenInputStops) {
  RunIdleWindowClose(false);
}
TEST(SuppressTest, IdleWindowCloseClosesTheWindowsOfEmitStrategyOnWindowClose) {
  RunIdleWindowClose(true);
}

// A table of strings, suppressed by a time limit: the latest value per key at most once
// per `limit` of stream time, with the value before the first held update as old value.
struct TableFixture {
  std::unique_ptr<TopologyTestDriver> driver;
  std::optional<TestInputTopic<StringSerde, StringSerde>> in;
  std::optional<TestOutputTopic<StringSerde, Nullable<StringSerde>>> out;

  explicit TableFixture(Suppressed suppressed) {
    StreamsBuilder builder;
    builder.Table<std::string, std::string>("in")
        .Suppress(suppressed)
        .ToStream()
        .To("out", Produced<StringSerde, Nullable<StringSerde>>());
    driver = MakeDriver(builder, {}, kNoCache);
    if (driver == nullptr) return;
    in.emplace(driver->CreateInputTopic("in", StringSerde(), StringSerde()));
    out.emplace(driver->CreateOutputTopic("out", StringSerde(), Nullable<StringSerde>()));
  }
  using KV = KeyValue<std::string, std::optional<std::string>>;
};

TEST(SuppressTest, UntilTimeLimitEmitsTheLatestValueOncePerLimit) {
  TableFixture f(Suppressed::UntilTimeLimit(10ms, BufferConfig::Unbounded()).WithName("rate"));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.in->PipeInput("k", "1", 0).ok());
  ASSERT_TRUE(f.in->PipeInput("k", "2", 5).ok());
  ASSERT_TRUE(f.in->PipeInput("j", "x", 9).ok());
  EXPECT_TRUE(f.out->ReadKeyValuesToList().empty());
  ASSERT_TRUE(f.in->PipeInput("k", "3", 10).ok());  // k first held at 0: due at 10
  EXPECT_EQ(f.out->ReadKeyValuesToList(), (std::vector<TableFixture::KV>{{"k", "3"}}));
  ASSERT_TRUE(f.in->PipeInput("k", "4", 19).ok());  // j due at 19; k held again from 19
  EXPECT_EQ(f.out->ReadKeyValuesToList(), (std::vector<TableFixture::KV>{{"j", "x"}}));
  // The buffer's changelog holds what waits: k's latest value.
  std::map<std::string, std::optional<std::string>> held;
  for (const TestRawRecord& r : f.driver->ReadRaw("test-driver-rate-store-changelog")) {
    if (r.key->front() != '\xff') held[*r.key] = r.value;  // not the stream-time record
  }
  EXPECT_TRUE(held["k"].has_value());
  EXPECT_FALSE(held["j"].has_value());  // emitted: deleted from the buffer
}

TEST(SuppressTest, FullBufferEmitsItsOldestEntryEarly) {
  TableFixture f(Suppressed::UntilTimeLimit(1000ms, BufferConfig::MaxRecords(2)));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.in->PipeInput("a", "1", 0).ok());
  ASSERT_TRUE(f.in->PipeInput("b", "1", 1).ok());
  ASSERT_TRUE(f.in->PipeInput("a", "2", 2).ok());  // still two keys
  EXPECT_TRUE(f.out->ReadKeyValuesToList().empty());
  ASSERT_TRUE(f.in->PipeInput("c", "1", 3).ok());  // three: a (held first) goes early
  EXPECT_EQ(f.out->ReadKeyValuesToList(), (std::vector<TableFixture::KV>{{"a", "2"}}));
}

TEST(SuppressTest, FullBufferThatShutsDownFailsTheTaskNamingTheSuppression) {
  TableFixture f(Suppressed::UntilTimeLimit(1000ms, BufferConfig::MaxRecords(1).ShutDownWhenFull())
                     .WithName("strict"));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.in->PipeInput("a", "1", 0).ok());
  absl::Status s = f.in->PipeInput("b", "1", 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("suppression 'strict'"), std::string::npos) << s;
  EXPECT_NE(s.message().find("full"), std::string::npos) << s;
}

TEST(SuppressTest, MisuseFailsTheBuild) {
  {
    StreamsBuilder builder;  // final results of a table that is not windowed
    builder.Table<std::string, std::string>("in").Suppress(
        Suppressed::UntilWindowCloses(BufferConfig::Unbounded()));
    absl::StatusOr<Topology> t = builder.Build();
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("windowed aggregation upstream"), std::string::npos) << t.status();
  }
  {
    StreamsBuilder builder;  // final results may not be emitted early
    builder.Stream<std::string, std::string>("in")
        .GroupByKey()
        .WindowedBy(TimeWindows::OfSizeWithNoGrace(100ms))
        .Count()
        .Suppress(Suppressed::UntilWindowCloses(BufferConfig::MaxRecords(10)));
    absl::StatusOr<Topology> t = builder.Build();
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("must not emit early"), std::string::npos) << t.status();
  }
}

}  // namespace
}  // namespace sluice
