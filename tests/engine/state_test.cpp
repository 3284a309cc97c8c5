// Stateful topologies in an App on the embedded broker: counts survive restarts from the
// local state directory and from the changelog alone, restoration is reported, and the
// faults of the state directory (corrupt files, a stale or impossible checkpoint, a
// directory locked by another instance) are handled as documented in docs/state.md.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sluice/sluice.h"
#include "src/state/task_db.h"
#include "tests/engine/engine_test_util.h"

namespace sluice {
namespace {

using sluice::testing::ProduceAll;
using sluice::testing::StateDir;
using sluice::testing::ReadTopic;
using sluice::testing::TestAppConfig;

namespace fs = std::filesystem;


Topology CountTopology(const Materialized<StringSerde, Int64Serde>& m) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("clicks")
      .GroupByKey()
      .Count(m)
      .ToStream()
      .To("counts", Produced<StringSerde, Int64Serde>());
  return builder.Build().value();
}

// The last count per key in `counts`, reading until every key of `want` has its value.
std::map<std::string, int64_t> AwaitCounts(const std::string& servers,
                                           const std::map<std::string, int64_t>& want) {
  std::map<std::string, int64_t> last;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    last.clear();
    for (const auto& r : ReadTopic(servers, "counts", 4, SIZE_MAX, std::chrono::milliseconds(1500))) {
      int64_t n = 0;
      EXPECT_TRUE(Int64Serde().Deserialize(*r.value, n).ok());
      last[*r.key] = n;
    }
    if (last == want) break;
  }
  return last;
}

struct Counting : StateRestoreListener {
  void OnRestoreStart(const std::string& store, const std::string& changelog, int32_t,
                      int64_t start, int64_t end) override {
    std::lock_guard<std::mutex> lock(mu);
    starts.push_back(store + "@" + changelog);
    planned += end - start;
  }
  void OnRestoreEnd(const std::string&, const std::string&, int32_t, uint64_t total) override {
    std::lock_guard<std::mutex> lock(mu);
    restored += total;
    ++ends;
  }
  std::mutex mu;
  std::vector<std::string> starts;
  int64_t planned = 0;
  uint64_t restored = 0;
  int ends = 0;
};

std::unique_ptr<App> StartApp(const Topology& topology, EmbeddedBroker& broker,
                              const std::string& state_dir,
                              std::shared_ptr<StateRestoreListener> listener = nullptr,
                              std::map<std::string, std::string> extra = {}) {
  auto props = TestAppConfig("counter");
  props["state.dir"] = state_dir;
  props["num.stream.threads"] = "2";
  for (auto& [k, v] : extra) props[k] = v;
  auto app = App::Create(topology, StreamsConfig::Create(props).value(), &broker).value();
  if (listener) app->SetStateRestoreListener(listener);
  EXPECT_TRUE(app->Start().ok());
  EXPECT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30))) << app->error();
  return app;
}

std::vector<std::pair<std::string, std::string>> Clicks(int n, int offset,
                                                        std::map<std::string, int64_t>& counts) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = offset; i < offset + n; ++i) {
    std::string user = "user-" + std::to_string((i * 31) % 23);
    ++counts[user];
    out.emplace_back(user, "/page/" + std::to_string(i));
  }
  return out;
}

TEST(StatefulApp, CountsSurviveARestartAndARestoreFromTheChangelogAlone) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("clicks", 4).ok());
  ASSERT_TRUE(broker->CreateTopic("counts", 4).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir;
  Topology topology = CountTopology(Materialized<StringSerde, Int64Serde>::As("clicks-per-user"));
  std::map<std::string, int64_t> counts;

  // 1. A first run counts 1000 clicks.
  ProduceAll(servers, "clicks", Clicks(1000, 0, counts));
  {
    auto app = StartApp(topology, *broker, dir.path());
    EXPECT_EQ(AwaitCounts(servers, counts), counts);
    EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
  }
  // The state is on disk: one RocksDB database per task.
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "counter" / "0_0"));

  // 2. A restart with the state directory in place restores nothing it already has.
  ProduceAll(servers, "clicks", Clicks(500, 1000, counts));
  {
    auto listener = std::make_shared<Counting>();
    auto app = StartApp(topology, *broker, dir.path(), listener);
    EXPECT_EQ(AwaitCounts(servers, counts), counts);
    EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
    EXPECT_EQ(listener->restored, 0u) << "the local checkpoint covers the whole changelog";
  }

  // 3. Without its state directory (another machine), the App rebuilds every store from
  // the changelog and goes on counting from there, exactly.
  fs::remove_all(fs::path(dir.path()) / "counter");
  ProduceAll(servers, "clicks", Clicks(500, 1500, counts));
  {
    auto listener = std::make_shared<Counting>();
    auto app = StartApp(topology, *broker, dir.path(), listener);
    EXPECT_EQ(AwaitCounts(servers, counts), counts);
    EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
    std::lock_guard<std::mutex> lock(listener->mu);
    EXPECT_EQ(listener->ends, 4) << "one store per task, four tasks";
    EXPECT_GT(listener->restored, 0u);
    ASSERT_FALSE(listener->starts.empty());
    EXPECT_EQ(listener->starts[0], "clicks-per-user@counter-clicks-per-user-changelog");
  }
}

// Waits until interactive queries of `store` answer every key of `want` with its value.
::testing::AssertionResult AwaitQueryable(const App& app, const std::string& store,
                                          const std::map<std::string, int64_t>& want) {
  std::string last;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto view = app.Store<StringSerde, Int64Serde>(store);
    if (!view.ok()) {
      last = std::string(view.status().message());
    } else {
      auto all = view->All();
      if (all.ok()) {
        std::map<std::string, int64_t> got;
        for (auto& kv : *all) got[kv.key] = kv.value;
        if (got == want) return ::testing::AssertionSuccess();
        last = "got " + std::to_string(got.size()) + " keys";
      } else {
        last = std::string(all.status().message());
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ::testing::AssertionFailure() << "store '" << store << "' never matched: " << last;
}

TEST(StatefulApp, InteractiveQueriesReadCommittedStateFromAnyThread) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("clicks", 4).ok());
  ASSERT_TRUE(broker->CreateTopic("counts", 4).ok());
  StateDir dir;
  Topology topology = CountTopology(Materialized<StringSerde, Int64Serde>::As("per-user").InMemory());
  auto props = TestAppConfig("counter");
  props["state.dir"] = dir.path();
  auto app = App::Create(topology, StreamsConfig::Create(props).value(), broker.get()).value();
  // Before Start: the store exists but is not available yet; an unknown store never is.
  auto early = app->Store<StringSerde, Int64Serde>("per-user");
  EXPECT_EQ(early.status().code(), absl::StatusCode::kUnavailable);
  auto unknown = app->Store<StringSerde, Int64Serde>("nope");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  std::map<std::string, int64_t> counts;
  ProduceAll(broker->bootstrap_servers(), "clicks", Clicks(800, 0, counts));
  EXPECT_TRUE(AwaitQueryable(*app, "per-user", counts));
  auto view = app->Store<StringSerde, Int64Serde>("per-user").value();
  // Point lookups go to the key's partition; absent keys are nullopt.
  for (const auto& [user, n] : counts) EXPECT_EQ(view.Get(user).value(), std::optional<int64_t>(n));
  EXPECT_EQ(view.Get("nobody").value(), std::nullopt);
  EXPECT_EQ(view.ApproximateNumEntries().value(), counts.size());
  // Readers on other threads while the App keeps processing.
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        auto all = view.All();
        if (all.ok()) ++reads; else ++errors;
      }
    });
  }
  ProduceAll(broker->bootstrap_servers(), "clicks", Clicks(800, 800, counts));
  EXPECT_TRUE(AwaitQueryable(*app, "per-user", counts));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
  // After Close nothing is hosted.
  EXPECT_EQ(view.Get("user-1").status().code(), absl::StatusCode::kUnavailable);
}

TEST(StatefulApp, ARebalanceMovesTasksWithTheirStateAndCountsStayExact) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("clicks", 4).ok());
  ASSERT_TRUE(broker->CreateTopic("counts", 4).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir_a, dir_b;
  Topology topology = CountTopology(Materialized<StringSerde, Int64Serde>::As("per-user"));
  std::map<std::string, int64_t> counts;
  ProduceAll(servers, "clicks", Clicks(1000, 0, counts));
  auto a = StartApp(topology, *broker, dir_a.path());
  EXPECT_EQ(AwaitCounts(servers, counts), counts);
  // B joins: some tasks move to it and are rebuilt there from their changelogs.
  auto listener = std::make_shared<Counting>();
  auto b = StartApp(topology, *broker, dir_b.path(), listener);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         (a->metrics().lag.size() != 2 || b->metrics().lag.size() != 2)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(b->metrics().lag.size(), 2u) << "B took half the partitions";
  ProduceAll(servers, "clicks", Clicks(1000, 1000, counts));
  EXPECT_EQ(AwaitCounts(servers, counts), counts);
  {
    std::lock_guard<std::mutex> lock(listener->mu);
    EXPECT_EQ(listener->ends, 2) << "B restored the two stores it took over";
  }
  // A leaves: B takes everything, restores the other two, and still counts exactly.
  EXPECT_TRUE(a->Close(std::chrono::seconds(30)));
  ProduceAll(servers, "clicks", Clicks(1000, 2000, counts));
  EXPECT_EQ(AwaitCounts(servers, counts), counts);
  EXPECT_TRUE(AwaitQueryable(*b, "per-user", counts));
  EXPECT_TRUE(b->Close(std::chrono::seconds(30)));
}

// Runs the count App once over `input` more clicks and checks the result.
void RunOnce(EmbeddedBroker& broker, const Topology& topology, const std::string& dir,
             std::map<std::string, int64_t>& counts, int from, int n,
             std::shared_ptr<StateRestoreListener> listener = nullptr) {
  ProduceAll(broker.bootstrap_servers(), "clicks", Clicks(n, from, counts));
  auto app = StartApp(topology, broker, dir, listener);
  EXPECT_EQ(AwaitCounts(broker.bootstrap_servers(), counts), counts);
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

// Slows restoration down (the listener runs on the stream thread) and notes when it ends.
// Holds up the restoring thread 1 ms per 4 records (5 s for 20,000), however the
// restorer batches them.
struct SlowRestore : StateRestoreListener {
  void OnBatchRestored(const std::string&, const std::string&, int32_t, int64_t,
                       uint64_t records) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(records / 4));
  }
  void OnRestoreEnd(const std::string&, const std::string&, int32_t, uint64_t) override {
    ended = true;
  }
  std::atomic<bool> ended{false};
};

TEST(StatefulApp, RestoringOneTaskDoesNotStopTheOthersOnItsThread) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("clicks", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("counts", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("pings", 1).ok());
  ASSERT_TRUE(broker->CreateTopic("pongs", 1).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir;
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("clicks")
      .GroupByKey()
      .Count(Materialized<StringSerde, Int64Serde>::As("per-user"))
      .ToStream()
      .To("counts", Produced<StringSerde, Int64Serde>());
  builder.Stream<std::string, std::string>("pings").To("pongs");
  Topology topology = builder.Build().value();
  // A long changelog: many distinct users.
  std::vector<std::pair<std::string, std::string>> clicks;
  for (int i = 0; i < 20000; ++i) clicks.emplace_back("user-" + std::to_string(i), "/");
  ProduceAll(servers, "clicks", clicks);
  auto props = TestAppConfig("restorer");
  props["state.dir"] = dir.path();
  props["max.poll.records"] = "500";
  {
    auto app = App::Create(topology, StreamsConfig::Create(props).value(), broker.get()).value();
    ASSERT_TRUE(app->Start().ok());
    ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
    auto counts = ReadTopic(servers, "counts", 1, 20000, std::chrono::seconds(60));
    EXPECT_GE(counts.size(), 20000u);
    EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
  }
  fs::remove_all(fs::path(dir.path()) / "restorer");
  // One stream thread hosts both tasks; the count task restores slowly (5 s).
  auto listener = std::make_shared<SlowRestore>();
  auto app = App::Create(topology, StreamsConfig::Create(props).value(), broker.get()).value();
  app->SetStateRestoreListener(listener);
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  ProduceAll(servers, "pings", {{"p", "1"}});
  auto pongs = ReadTopic(servers, "pongs", 1, 1, std::chrono::seconds(30));
  ASSERT_EQ(pongs.size(), 1u);
  EXPECT_FALSE(listener->ended) << "the ping went through while the store was restoring";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!listener->ended && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(listener->ended);
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

TEST(StatefulApp, SourcesOfAStoreThatAreNotCoPartitionedAreAnErrorNamingThem) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("left", 4).ok());
  ASSERT_TRUE(broker->CreateTopic("right", 3).ok());
  StateDir dir;
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("left")
      .Merge(builder.Stream<std::string, std::string>("right"))
      .GroupByKey()
      .Count(Materialized<StringSerde, Int64Serde>::As("n"));
  auto props = TestAppConfig("copartition");
  props["state.dir"] = dir.path();
  auto app = App::Create(builder.Build().value(), StreamsConfig::Create(props).value(), broker.get())
                 .value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kError, std::chrono::seconds(30)));
  const std::string message(app->error().message());
  EXPECT_NE(message.find("'left' (4 partitions)"), std::string::npos) << message;
  EXPECT_NE(message.find("'right' (3 partitions)"), std::string::npos) << message;
  EXPECT_NE(message.find("not co-partitioned"), std::string::npos) << message;
}

// Asks for a commit when it sees the value "commit-now".
class CommitOnDemand : public Processor<std::string, std::string, std::string, std::string> {
 public:
  void Init(Context& context) override { context_ = &context; }
  void Process(const InputRecord<std::string, std::string>& r) override {
    if (r.value == "commit-now") context_->Commit();
  }

 private:
  Context* context_ = nullptr;
};

TEST(StatefulApp, AProcessorCanAskForACommit) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("in", 1).ok());
  const std::string servers = broker->bootstrap_servers();
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in").Process([] {
    return std::make_unique<CommitOnDemand>();
  });
  auto props = TestAppConfig("committer");
  props["commit.interval.ms"] = "3600000";  // never, unless asked
  auto app = App::Create(builder.Build().value(), StreamsConfig::Create(props).value(), broker.get())
                 .value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  auto committed = [&]() -> int64_t {
    auto consumer = internal::Consumer::Create(
        {{"bootstrap.servers", servers}, {"group.id", "committer"}}, nullptr).value();
    internal::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), "in", 0);
    auto got = consumer->Committed(list.get(), std::chrono::seconds(10));
    return got.ok() ? (*got)->elems[0].offset : -2;
  };
  ProduceAll(servers, "in", {{"k", "a"}, {"k", "b"}});
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_LT(committed(), 0) << "nothing committed without a request";
  ProduceAll(servers, "in", {{"k", "commit-now"}});
  int64_t offset = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((offset = committed()) != 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(offset, 3);
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

class StateFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = EmbeddedBroker::Start().value();
    ASSERT_TRUE(broker_->CreateTopic("clicks", 4).ok());
    ASSERT_TRUE(broker_->CreateTopic("counts", 4).ok());
  }
  fs::path TaskDir(int partition) const {
    return fs::path(dir_.path()) / "counter" / ("0_" + std::to_string(partition));
  }

  std::unique_ptr<EmbeddedBroker> broker_;
  StateDir dir_;
  Topology topology_ = CountTopology(Materialized<StringSerde, Int64Serde>::As("per-user"));
  std::map<std::string, int64_t> counts_;
};

TEST_F(StateFaults, CorruptRocksDbFilesAreWipedAndRebuiltFromTheChangelog) {
  RunOnce(*broker_, topology_, dir_.path(), counts_, 0, 800);
  // Garbage over every file RocksDB needs to open the database of task 0_0.
  for (const auto& entry : fs::directory_iterator(TaskDir(0))) {
    const std::string name = entry.path().filename().string();
    if (name == "CURRENT" || name.starts_with("MANIFEST")) {
      std::ofstream(entry.path(), std::ios::trunc) << "this is not a RocksDB file";
    }
  }
  auto listener = std::make_shared<Counting>();
  RunOnce(*broker_, topology_, dir_.path(), counts_, 800, 400, listener);
  std::lock_guard<std::mutex> lock(listener->mu);
  EXPECT_EQ(listener->ends, 1) << "only the corrupt task rebuilt its store";
}

TEST_F(StateFaults, AStaleCheckpointRestoresTheChangelogTail) {
  RunOnce(*broker_, topology_, dir_.path(), counts_, 0, 600);
  const fs::path snapshot = fs::path(dir_.path()) / "snapshot";
  fs::copy(fs::path(dir_.path()) / "counter", snapshot, fs::copy_options::recursive);
  fs::remove(snapshot / ".lock");
  RunOnce(*broker_, topology_, dir_.path(), counts_, 600, 600);
  // Back to the older state: its checkpoints are behind the changelogs.
  fs::remove_all(fs::path(dir_.path()) / "counter");
  fs::rename(snapshot, fs::path(dir_.path()) / "counter");
  auto listener = std::make_shared<Counting>();
  RunOnce(*broker_, topology_, dir_.path(), counts_, 1200, 300, listener);
  std::lock_guard<std::mutex> lock(listener->mu);
  EXPECT_EQ(listener->ends, 4);
  EXPECT_GT(listener->restored, 0u);
  EXPECT_LT(listener->planned, 600) << "only the tail past the old checkpoints was read";
}

TEST_F(StateFaults, ACheckpointPastTheChangelogsEndWipesAndRestoresFromTheBeginning) {
  RunOnce(*broker_, topology_, dir_.path(), counts_, 0, 600);
  {
    // As if the changelog had been truncated or re-created below the checkpoint.
    auto db = internal::TaskDb::Open(TaskDir(1), {"per-user"},
                                     internal::RocksDbBudget::Get(64 << 20)).value();
    ASSERT_TRUE(db->Commit({{"changelog:per-user", 1000000}}).ok());
  }
  auto listener = std::make_shared<Counting>();
  RunOnce(*broker_, topology_, dir_.path(), counts_, 600, 300, listener);
  std::lock_guard<std::mutex> lock(listener->mu);
  EXPECT_EQ(listener->ends, 1);
}

TEST_F(StateFaults, AStateDirectoryInUseIsAClearError) {
  std::map<std::string, int64_t> ignored;
  ProduceAll(broker_->bootstrap_servers(), "clicks", Clicks(10, 0, ignored));
  auto first = StartApp(topology_, *broker_, dir_.path());
  auto props = TestAppConfig("counter");
  props["state.dir"] = dir_.path();
  auto second = App::Create(topology_, StreamsConfig::Create(props).value(), broker_.get()).value();
  ASSERT_TRUE(second->Start().ok());
  EXPECT_TRUE(second->AwaitState(AppState::kError, std::chrono::seconds(30)));
  const std::string message(second->error().message());
  EXPECT_NE(message.find("is locked by another instance"), std::string::npos) << message;
  EXPECT_NE(message.find((fs::path(dir_.path()) / "counter").string()), std::string::npos) << message;
  EXPECT_TRUE(first->Close(std::chrono::seconds(30)));
}

}  // namespace
}  // namespace sluice
