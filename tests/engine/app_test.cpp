#include "sluice/app.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "sluice/embedded_broker.h"
#include "sluice/sluice.h"
#include "tests/engine/engine_test_util.h"

namespace sluice {
namespace {

using testing::ProduceAll;
using testing::ReadTopic;
using testing::TestAppConfig;

Topology UpperCaseTopology(const std::string& in, const std::string& out) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>(in)
      .Filter([](const std::string&, const std::string& v) { return !v.empty(); })
      .MapValues([](std::string v) {
        for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return v;
      })
      .To(out);
  return builder.Build().value();
}

TEST(App, MultiPartitionTopologyOnTwoThreads) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("in", 4).ok());
  ASSERT_TRUE(broker->CreateTopic("out", 4).ok());
  std::vector<std::pair<std::string, std::string>> input;
  for (int i = 0; i < 2000; ++i) input.emplace_back("k" + std::to_string(i % 97), "v" + std::to_string(i));
  ProduceAll(broker->bootstrap_servers(), "in", input);

  auto props = TestAppConfig("app-two-threads");
  props["num.stream.threads"] = "2";
  auto app = App::Create(UpperCaseTopology("in", "out"), StreamsConfig::Create(props).value(),
                         broker.get())
                 .value();
  std::vector<std::pair<AppState, AppState>> transitions;
  std::mutex mu;
  app->SetStateListener([&](AppState now, AppState before) {
    std::lock_guard<std::mutex> lock(mu);
    transitions.emplace_back(now, before);
  });
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30))) << app->error();

  auto out = ReadTopic(broker->bootstrap_servers(), "out", 4, input.size());
  ASSERT_EQ(out.size(), input.size());
  std::multiset<std::pair<std::string, std::string>> got, want;
  for (const auto& r : out) got.emplace(*r.key, *r.value);
  for (auto [k, v] : input) {
    for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    want.emplace(k, v);
  }
  EXPECT_EQ(got, want);
  auto metrics = app->metrics();
  EXPECT_EQ(metrics.live_threads, 2);
  // Lag per assigned partition: everything was consumed, so it drains to zero.
  ASSERT_EQ(metrics.lag.size(), 4u);
  for (int i = 0; i < 100; ++i) {
    metrics = app->metrics();
    bool drained = true;
    for (const auto& l : metrics.lag) drained &= l.lag == 0 && l.end_offset > 0;
    if (drained) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int64_t consumed = 0;
  for (const auto& l : metrics.lag) {
    EXPECT_EQ(l.topic, "in");
    EXPECT_EQ(l.lag, 0) << "partition " << l.partition;
    EXPECT_EQ(l.position, l.end_offset) << "partition " << l.partition;
    consumed += l.position;
  }
  EXPECT_EQ(consumed, static_cast<int64_t>(input.size()));
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
  EXPECT_EQ(app->state(), AppState::kNotRunning);
  metrics = app->metrics();
  EXPECT_EQ(metrics.records_in, input.size());
  EXPECT_EQ(metrics.records_out, input.size());
  EXPECT_GE(metrics.commits, 1u);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(transitions.size(), 4u);
  EXPECT_EQ(transitions.front(), std::make_pair(AppState::kRebalancing, AppState::kCreated));
  EXPECT_EQ(transitions.back(), std::make_pair(AppState::kNotRunning, AppState::kPendingShutdown));
}

// After a restart with nothing new to read, the lag is still known: the position is the
// committed offset until a record arrives, so "caught up" can be told apart from "not
// started yet".
TEST(App, LagIsKnownAfterARestartThatHasNothingNewToRead) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("in", 2).ok());
  ASSERT_TRUE(broker->CreateTopic("out", 2).ok());
  std::vector<std::pair<std::string, std::string>> input;
  for (int i = 0; i < 300; ++i) input.emplace_back("k" + std::to_string(i % 31), "v");
  ProduceAll(broker->bootstrap_servers(), "in", input);
  auto props = TestAppConfig("app-lag-restart");
  for (int run = 0; run < 2; ++run) {
    auto app = App::Create(UpperCaseTopology("in", "out"), StreamsConfig::Create(props).value(),
                           broker.get())
                   .value();
    ASSERT_TRUE(app->Start().ok());
    ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30))) << app->error();
    bool known = false;
    AppMetrics metrics;
    for (int i = 0; i < 200 && !known; ++i) {
      metrics = app->metrics();
      int64_t consumed = 0;
      known = metrics.lag.size() == 2;
      for (const auto& l : metrics.lag) {
        known &= l.position >= 0 && l.end_offset >= 0 && l.lag == 0;
        consumed += l.position;
      }
      known &= consumed == static_cast<int64_t>(input.size());
      if (!known) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(known) << "run " << run;
    if (run == 1) {
      EXPECT_EQ(metrics.records_in, 0u);  // nothing new was read
    }
    EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
  }
}

// A task with two inputs holds records while it waits for the other partition; one that
// holds too many is paused, and must be resumed once drained, even when the task drains
// it to empty (it once stayed paused, and the task waited for it forever).
TEST(App, APartitionPausedForHoldingTooManyIsResumedOnceDrained) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("a", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("b", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("out", 1).ok());
  std::vector<std::pair<std::string, std::string>> input;
  for (int i = 0; i < 3000; ++i) input.emplace_back("k" + std::to_string(i % 13), "v" + std::to_string(i));
  ProduceAll(broker->bootstrap_servers(), "a", input);
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("a").Merge(builder.Stream<std::string, std::string>("b")).To("out");
  auto props = TestAppConfig("app-pause-resume");
  props["buffered.records.per.partition"] = "10";
  props["max.poll.records"] = "50";
  auto app = App::Create(builder.Build().value(), StreamsConfig::Create(props).value(), broker.get()).value();
  ASSERT_TRUE(app->Start().ok());
  auto out = ReadTopic(broker->bootstrap_servers(), "out", 1, input.size(), std::chrono::seconds(60));
  EXPECT_EQ(out.size(), input.size());
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

std::set<std::string> DistinctValues(const std::string& servers, size_t want) {
  std::set<std::string> values;
  for (int attempt = 0; attempt < 10 && values.size() < want; ++attempt) {
    for (const auto& r : ReadTopic(servers, "out", 4, SIZE_MAX, std::chrono::seconds(2))) {
      values.insert(*r.value);
    }
  }
  return values;
}

size_t AssignedPartitions(const App& app) { return app.metrics().lag.size(); }

TEST(App, TwoInstancesSplitThePartitionsAndOneTakesOverWhenTheOtherLeaves) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("in", 4).ok());
  ASSERT_TRUE(broker->CreateTopic("out", 4).ok());
  auto config = StreamsConfig::Create(TestAppConfig("two-instances")).value();
  auto a = App::Create(UpperCaseTopology("in", "out"), config, broker.get()).value();
  auto b = App::Create(UpperCaseTopology("in", "out"), config, broker.get()).value();
  ASSERT_TRUE(a->Start().ok());
  ASSERT_TRUE(b->Start().ok());
  auto split = [&] { return AssignedPartitions(*a) == 2 && AssignedPartitions(*b) == 2; };
  for (int i = 0; i < 300 && !split(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(split()) << AssignedPartitions(*a) << " + " << AssignedPartitions(*b);
  ASSERT_TRUE(a->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  ASSERT_TRUE(b->AwaitState(AppState::kRunning, std::chrono::seconds(30)));

  std::vector<std::pair<std::string, std::string>> first, second;
  for (int i = 0; i < 1000; ++i) first.emplace_back("k" + std::to_string(i), "a" + std::to_string(i));
  for (int i = 0; i < 1000; ++i) second.emplace_back("k" + std::to_string(i), "b" + std::to_string(i));
  ProduceAll(broker->bootstrap_servers(), "in", first);
  ASSERT_EQ(DistinctValues(broker->bootstrap_servers(), 1000).size(), 1000u);
  // Both instances did part of the work.
  EXPECT_GT(a->metrics().records_in, 0u);
  EXPECT_GT(b->metrics().records_in, 0u);

  // B leaves (committing what it processed); A takes over all four partitions.
  ASSERT_TRUE(b->Close(std::chrono::seconds(30)));
  for (int i = 0; i < 300 && AssignedPartitions(*a) != 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(AssignedPartitions(*a), 4u);
  ProduceAll(broker->bootstrap_servers(), "in", second);
  std::set<std::string> values = DistinctValues(broker->bootstrap_servers(), 2000);
  EXPECT_EQ(values.size(), 2000u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(values.contains("A" + std::to_string(i))) << i;
    EXPECT_TRUE(values.contains("B" + std::to_string(i))) << i;
  }
  EXPECT_TRUE(a->Close(std::chrono::seconds(30)));
}

// Event time in the value; a record without one ("-1") takes its partition's time.
Topology EventTimeTopology() {
  StreamsBuilder builder;
  builder
      .Stream("in", Consumed<StringSerde, StringSerde>()
                        .WithTimestampExtractor([](const std::string& v) { return std::stoll(v); })
                        .WithInvalidTimestampPolicy(InvalidTimestampPolicy::kUsePartitionTime))
      .To("out");
  return builder.Build().value();
}

// As in Kafka Streams, a task commits its partition time with the offset, so a task that
// resumes there (another instance, a restart) can use it before its first valid record.
TEST(App, PartitionTimeIsCommittedWithTheOffsetAndResumedAfterARestart) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("in", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("out", 1).ok());
  const auto config = StreamsConfig::Create(TestAppConfig("partition-time")).value();
  ProduceAll(broker->bootstrap_servers(), "in", {{"a", "5000"}, {"b", "3000"}});
  {
    auto app = App::Create(EventTimeTopology(), config, broker.get()).value();
    ASSERT_TRUE(app->Start().ok());
    ASSERT_EQ(ReadTopic(broker->bootstrap_servers(), "out", 1, 2).size(), 2u);
    ASSERT_TRUE(app->Close(std::chrono::seconds(30)));
  }
  // Kafka Streams' format: base64 of version 1 and 5000 as a big-endian int64.
  {
    auto reader = internal::Consumer::Create(
        {{"bootstrap.servers", broker->bootstrap_servers()}, {"group.id", "partition-time"},
         {"enable.auto.commit", "false"}},
        nullptr);
    ASSERT_TRUE(reader.ok()) << reader.status();
    internal::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), "in", 0);
    auto committed = (*reader)->Committed(list.get(), std::chrono::seconds(10));
    ASSERT_TRUE(committed.ok()) << committed.status();
    const rd_kafka_topic_partition_t& tp = (*committed)->elems[0];
    EXPECT_EQ(tp.offset, 2);
    ASSERT_NE(tp.metadata, nullptr);
    EXPECT_EQ(std::string(static_cast<const char*>(tp.metadata), tp.metadata_size), "AQAAAAAAABOI");
  }
  ProduceAll(broker->bootstrap_servers(), "in", {{"c", "-1"}});
  auto app = App::Create(EventTimeTopology(), config, broker.get()).value();
  ASSERT_TRUE(app->Start().ok());
  auto out = ReadTopic(broker->bootstrap_servers(), "out", 1, 3);
  ASSERT_EQ(out.size(), 3u) << app->error();
  EXPECT_EQ(*out[2].key, "c");
  EXPECT_EQ(out[2].timestamp, 5000);
  EXPECT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30))) << app->error();
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

// The worker sets the task's wall clock before each run of records.
TEST(App, TheWallClockExtractorStampsRecordsWithTheTimeTheyAreProcessed) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("in", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("out", 1).ok());
  auto props = TestAppConfig("wall-clock-extractor");
  props["default.timestamp.extractor"] = "WallclockTimestampExtractor";
  auto app = App::Create(UpperCaseTopology("in", "out"), StreamsConfig::Create(props).value(),
                         broker.get())
                 .value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30))) << app->error();
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t before = now_ms();
  testing::ProduceTimed(broker->bootstrap_servers(), "in", {{"k", "v", 1000}});
  auto out = ReadTopic(broker->bootstrap_servers(), "out", 1, 1);
  const int64_t after = now_ms();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_GE(out[0].timestamp, before);
  EXPECT_LE(out[0].timestamp, after);
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

}  // namespace
}  // namespace sluice
