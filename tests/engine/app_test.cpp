#include "sluice/app.h"

#include <gtest/gtest.h>

#include <set>

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
  // Keys keep their partition: the sink partitions like the Java producer.
  auto metrics = app->metrics();
  EXPECT_EQ(metrics.live_threads, 2);
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

}  // namespace
}  // namespace sluice
