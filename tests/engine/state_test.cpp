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
#include <vector>

#include "sluice/sluice.h"
#include "tests/engine/engine_test_util.h"

namespace sluice {
namespace {

using sluice::testing::ProduceAll;
using sluice::testing::ReadTopic;
using sluice::testing::TestAppConfig;

namespace fs = std::filesystem;

// A fresh state directory per test, removed afterwards.
class StateDir {
 public:
  StateDir() {
    std::string pattern = (fs::temp_directory_path() / "sluice-state-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~StateDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

}  // namespace
}  // namespace sluice
