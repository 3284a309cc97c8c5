// Windowed aggregations in a running App on the embedded broker: final results per
// window stay exact across a restart in the middle of a window, even when the local
// state is lost and everything (windows, the aggregation's stream time, the suppression
// buffer) comes back from the changelogs.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "sluice/sluice.h"
#include "tests/dsl/session_reference.h"
#include "tests/engine/engine_test_util.h"

namespace sluice {
namespace {

using sluice::testing::ProduceTimed;
using sluice::testing::ReadTopic;
using sluice::testing::StateDir;
using sluice::testing::TestAppConfig;
using sluice::testing::TimedRecord;
using namespace std::chrono_literals;

// Final counts per (key, window start) read from the "final" topic.
std::map<std::tuple<std::string, int64_t>, int64_t> Finals(const std::vector<sluice::testing::Rec>& recs) {
  std::map<std::tuple<std::string, int64_t>, int64_t> out;
  for (const auto& r : recs) {
    EXPECT_TRUE(r.key && r.value);
    if (!r.key || !r.value) continue;
    Windowed<std::string> w;
    int64_t count = 0;
    EXPECT_TRUE(TimeWindowedSerde<StringSerde>(10000).Deserialize(*r.key, w).ok());
    EXPECT_TRUE(Int64Serde().Deserialize(*r.value, count).ok());
    EXPECT_FALSE(out.count({w.key, w.window.start_ms})) << "a second final result for " << w.key
                                                        << "@" << w.window.start_ms;
    out[{w.key, w.window.start_ms}] = count;
  }
  return out;
}

// `emit_on_close`: EmitStrategy::OnWindowClose, whose aggregation rebuilds its index of
// open windows from the restored store; else a suppression, whose buffer is restored.
void RunFinalResultsAcrossARestartThatLostTheLocalState(bool emit_on_close) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("clicks", 2).ok());
  ASSERT_TRUE(broker->CreateTopic("final", 2).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir;
  auto topology = [emit_on_close] {
    StreamsBuilder builder;
    auto windowed = builder.Stream<std::string, std::string>("clicks")
                        .GroupByKey()
                        .WindowedBy(TimeWindows::OfSizeAndGrace(10s, 2s));
    const auto store = Materialized<StringSerde, Int64Serde>::As("clicks-per-10s");
    auto finals =
        emit_on_close
            ? windowed.Emit(EmitStrategy::OnWindowClose()).Count(store)
            : windowed.Count(store).Suppress(
                  Suppressed::UntilWindowCloses(BufferConfig::Unbounded()).WithName("final-clicks"));
    finals.ToStream().To("final", Produced<TimeWindowedSerde<StringSerde>, Nullable<Int64Serde>>(
                                      TimeWindowedSerde<StringSerde>(10000), {}));
    return builder.Build().value();
  };
  auto props = TestAppConfig("window-app");
  props["state.dir"] = dir.path();
  const int kKeys = 8;
  auto key = [](int i) { return "user-" + std::to_string(i); };

  // Run 1: three clicks per key in [0 s, 10 s), three in [10 s, 20 s). Every key reaches
  // 13 s, so each partition's stream time passes 12 s and [0 s, 10 s) closes.
  std::vector<TimedRecord> run1;
  for (int i = 0; i < kKeys; ++i) {
    for (int64_t t : {1000, 5000, 9000, 10500, 11000}) run1.push_back({key(i), "c", t + i});
  }
  for (int i = 0; i < kKeys; ++i) run1.push_back({key(i), "c", 13000});
  {
    auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
    ASSERT_TRUE(app->Start().ok());
    ASSERT_TRUE(app->AwaitState(AppState::kRunning, 30s));
    ProduceTimed(servers, "clicks", run1);
    auto first = ReadTopic(servers, "final", 2, kKeys, 60s);
    ASSERT_EQ(first.size(), static_cast<size_t>(kKeys)) << "the finals of [0 s, 10 s)";
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (app->metrics().records_in < run1.size() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(app->metrics().records_in, run1.size());
    EXPECT_TRUE(app->Close(30s));  // commits: windows, stream time and buffer are logged
  }
  std::filesystem::remove_all(std::filesystem::path(dir.path()) / "window-app");

  // Run 2, from the changelogs alone. user-0 at 9.5 s is late for every partition that
  // saw 13 s: the restored stream time must say so (a fresh one would accept it and emit
  // a second final for [0 s, 10 s)). user-1 gets a fourth click in [10 s, 20 s); then
  // every key at 25 s closes [10 s, 20 s), whose other counts come from the restored
  // suppression buffer (or the restored window store).
  auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, 30s));
  std::vector<TimedRecord> run2 = {{key(0), "late", 9500}, {key(1), "c", 15000}};
  for (int i = 0; i < kKeys; ++i) run2.push_back({key(i), "c", 25000});
  ProduceTimed(servers, "clicks", run2);

  std::map<std::tuple<std::string, int64_t>, int64_t> want;
  for (int i = 0; i < kKeys; ++i) {
    want[{key(i), 0}] = 3;
    want[{key(i), 10000}] = i == 1 ? 4 : 3;
  }
  auto all = ReadTopic(servers, "final", 2, want.size(), 60s);
  EXPECT_EQ(Finals(all), want);
  // Nothing more arrives: no duplicate final for any window.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(ReadTopic(servers, "final", 2, want.size() + 1, 3s).size(), want.size());
  EXPECT_EQ(app->metrics().records_late, 1u);
  EXPECT_TRUE(app->Close(30s));
}

TEST(WindowApp, FinalResultsStayExactAcrossARestartThatLostTheLocalState) {
  RunFinalResultsAcrossARestartThatLostTheLocalState(false);
}
TEST(WindowApp, EmitOnWindowCloseStaysExactAcrossARestartThatLostTheLocalState) {
  RunFinalResultsAcrossARestartThatLostTheLocalState(true);
}

using sluice::testing::SessionCounts;

// The plain-C++ sessions of `records`.
SessionCounts SessionReference(const std::vector<TimedRecord>& records, int64_t gap) {
  std::map<std::string, std::vector<int64_t>> by_key;
  for (const TimedRecord& r : records) by_key[r.key].push_back(r.timestamp);
  return sluice::testing::SessionReference(std::move(by_key), gap);
}

// The sessions the update stream of a session count ends with (a null value deletes).
SessionCounts LastSessions(const std::vector<sluice::testing::Rec>& recs) {
  SessionCounts out;
  for (const auto& r : recs) {
    Windowed<std::string> w;
    if (!r.key || !SessionWindowedSerde<StringSerde>().Deserialize(*r.key, w).ok()) {
      ADD_FAILURE() << "a session key that does not deserialize";
      continue;
    }
    const std::tuple<std::string, int64_t, int64_t> at{w.key, w.window.start_ms, w.window.end_ms};
    int64_t count = 0;
    if (!r.value) {
      out.erase(at);
    } else if (Int64Serde().Deserialize(*r.value, count).ok()) {
      out[at] = count;
    }
  }
  return out;
}

// Sessions written before a restart (kept on local disk) merge with records after it:
// the restarted aggregation reads them from its store until its session index covers
// them, then from the index. The final sessions equal a plain computation.
TEST(WindowApp, SessionsMergeExactlyAcrossARestartThatKeptTheLocalState) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("visits", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("sessions", 1).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir;
  auto topology = [] {
    StreamsBuilder builder;
    builder.Stream<std::string, std::string>("visits")
        .GroupByKey()
        .WindowedBy(SessionWindows::OfInactivityGapAndGrace(10s, 1000s))
        .Count(Materialized<StringSerde, Int64Serde>::As("visit-sessions"))
        .ToStream()
        .To("sessions", Produced<SessionWindowedSerde<StringSerde>, Nullable<Int64Serde>>());
    return builder.Build().value();
  };
  auto props = TestAppConfig("session-app");
  props["state.dir"] = dir.path();
  // Run 1: u1 in [1 s, 5 s] and at 30 s; u2 at 2 s.
  const std::vector<TimedRecord> run1 = {
      {"u1", "v", 1000}, {"u1", "v", 5000}, {"u1", "v", 30000}, {"u2", "v", 2000}};
  // Run 2: u1 at 20 s joins the 30 s session, at 12 s all three; u2 at 9 s extends its
  // session; then sessions far past the restart, which the index serves.
  const std::vector<TimedRecord> run2 = {
      {"u1", "v", 20000},  {"u1", "v", 12000},  {"u2", "v", 9000},   {"u1", "v", 125000},
      {"u1", "v", 130000}, {"u2", "v", 128000}, {"u1", "v", 145000}, {"u1", "v", 138000}};
  std::vector<TimedRecord> all = run1;
  all.insert(all.end(), run2.begin(), run2.end());
  const auto await_sessions = [&](const SessionCounts& want) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    SessionCounts got;
    while (std::chrono::steady_clock::now() < deadline) {
      got = LastSessions(ReadTopic(servers, "sessions", 1, 1000, 2s));
      if (got == want) break;
    }
    return got;
  };
  {
    auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
    ASSERT_TRUE(app->Start().ok());
    ASSERT_TRUE(app->AwaitState(AppState::kRunning, 30s));
    ProduceTimed(servers, "visits", run1);
    EXPECT_EQ(await_sessions(SessionReference(run1, 10000)), SessionReference(run1, 10000));
    EXPECT_TRUE(app->Close(30s));
  }
  auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, 30s));
  ProduceTimed(servers, "visits", run2);
  const SessionCounts want = SessionReference(all, 10000);
  ASSERT_EQ(want.size(), 4u);  // u1 [1 s, 30 s] and [125 s, 145 s]; u2 [2 s, 9 s] and [128 s]
  EXPECT_EQ(await_sessions(want), want);
  EXPECT_EQ(app->metrics().records_late, 0u);
  EXPECT_TRUE(app->Close(30s));
}

// Two input topics merged into one windowed count, with no grace: the task must take
// their records smallest timestamp first (max.task.idle.ms, default 0: wait for a
// partition with no records until it is caught up), or the topic fetched first would
// push stream time ahead and make the other's records late.
TEST(WindowApp, ATaskWithTwoInputPartitionsProcessesThemInTimestampOrder) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("sensors-a", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("sensors-b", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("readings-per-10s", 1).ok());
  const std::string servers = broker->bootstrap_servers();
  // Interleaved in time, but all of a's are written before any of b's.
  std::vector<TimedRecord> a, b;
  for (int64_t k = 1; k <= 50; ++k) {
    a.push_back({"s", "a", k * 1000});
    b.push_back({"s", "b", k * 1000 - 500});
  }
  ProduceTimed(servers, "sensors-a", a);
  ProduceTimed(servers, "sensors-b", b);
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("sensors-a")
      .Merge(builder.Stream<std::string, std::string>("sensors-b"))
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeWithNoGrace(10s))
      .Emit(EmitStrategy::OnWindowClose())
      .Count()
      .ToStream()
      .To("readings-per-10s", Produced<TimeWindowedSerde<StringSerde>, Nullable<Int64Serde>>(
                                  TimeWindowedSerde<StringSerde>(10000), {}));
  StateDir dir;
  auto props = TestAppConfig("ordered-app");
  props["state.dir"] = dir.path();
  props["max.poll.records"] = "7";  // many small batches from each topic
  // The order holds when the task may wait for the other partition: with the default (0)
  // it waits at most 1 s for a partition whose position it does not know yet, which a
  // loaded machine can exceed, and then b's records would be late.
  props["max.task.idle.ms"] = "3000";
  auto app = App::Create(builder.Build().value(), StreamsConfig::Create(props).value(),
                         broker.get()).value();
  ASSERT_TRUE(app->Start().ok());
  // Windows [0 s, 10 s) ... [40 s, 50 s) close at stream time 50 s.
  std::map<std::tuple<std::string, int64_t>, int64_t> want = {
      {{"s", 0}, 19}, {{"s", 10000}, 20}, {{"s", 20000}, 20}, {{"s", 30000}, 20}, {{"s", 40000}, 20}};
  auto out = ReadTopic(servers, "readings-per-10s", 1, want.size(), 60s);
  EXPECT_EQ(Finals(out), want);
  EXPECT_EQ(app->metrics().records_late, 0u);
  EXPECT_TRUE(app->Close(30s));
}

}  // namespace
}  // namespace sluice
