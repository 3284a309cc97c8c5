// kill -9 in the middle of the input: read-model-builder runs as its own process against
// sluice-broker (another process) while events keep arriving; it is killed with SIGKILL
// three times at different points and restarted, once with its state directory deleted
// (state comes back from the changelogs alone). After a last run to the end of the
// input, both read model topics hold exactly what the independent computation says.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "examples/read_model_builder/generator.h"
#include "sluice/sluice.h"
#include "tests/engine/process_util.h"
#include "tests/examples/kafka_topics.h"
#include "tests/examples/read_model_reference.h"

namespace read_model {
namespace {

using namespace std::chrono_literals;
using sluice::testing::ChildProcess;
using sluice::testing::LogTails;
using sluice::testing::ReadFile;
using sluice::testing::TempDir;
using sluice::testing::WaitForFile;

constexpr char kAppId[] = "rmb-crash";
constexpr int kPartitions = 4;
constexpr int kEvents = 24000;

TEST(ReadModelCrash, KilledThreeTimesInTheMiddleOfTheInputTheReadModelsEndExact) {
  const std::string dir = TempDir("read-model-crash");
  const std::string app = kAppId;
  std::vector<std::string> broker_args = {SLUICE_BROKER_BIN, "--bootstrap-file", dir + "/bootstrap"};
  for (const std::string& t : {std::string("order-events"), std::string("order-summary"),
                               std::string("customer-summary"), app + "-order-state-changelog",
                               app + "-customer-state-changelog", app + "-orders-by-customer-repartition"}) {
    broker_args.insert(broker_args.end(), {"--topic", t + ":" + std::to_string(kPartitions)});
  }
  broker_args.insert(broker_args.end(), {"--topic", "order-events.dlq:1"});
  ChildProcess broker(broker_args, dir + "/broker.log");
  const std::string servers = WaitForFile(dir + "/bootstrap", 30s);
  ASSERT_FALSE(servers.empty()) << LogTails(dir);

  Generated g = GenerateOrderEvents(kEvents, 2026);
  reference::Expected want = reference::Compute(g.records);
  // The input arrives over ~12 s while the builder is killed and restarted.
  std::thread writer([&] {
    auto w = sluice::TopicWriter::Create(servers).value();
    for (size_t i = 0; i < g.records.size(); ++i) {
      ASSERT_TRUE(w->Write("order-events", g.records[i].key, g.records[i].value).ok());
      if (i % 1000 == 999) {
        ASSERT_TRUE(w->Flush(30s).ok());
        std::this_thread::sleep_for(500ms);
      }
    }
    ASSERT_TRUE(w->Flush(30s).ok());
  });

  const std::string state_dir = dir + "/state";
  int run = 0;
  auto start = [&](std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {SLUICE_READ_MODEL_BUILDER_BIN, "--bootstrap-servers", servers,
                                     "--application-id", app, "--state-dir", state_dir,
                                     "--http-port", "0", "--commit-interval-ms", "300",
                                     "--config", "consumer.session.timeout.ms=3500",
                                     "--config", "max.poll.records=200"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ChildProcess>(args, dir + "/run-" + std::to_string(++run) + ".log");
  };
  // Kills once the run has processed some events: its log shows RUNNING with events > 0.
  auto run_then_kill = [&](std::chrono::milliseconds after_running) {
    auto p = start();
    ASSERT_TRUE(p->started());
    const std::string log = dir + "/run-" + std::to_string(run) + ".log";
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (ReadFile(log).find("RUNNING ") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_NE(ReadFile(log).find("RUNNING "), std::string::npos) << LogTails(dir);
    std::this_thread::sleep_for(after_running);
    EXPECT_EQ(p->Kill(SIGKILL), -SIGKILL);
  };
  run_then_kill(1500ms);
  run_then_kill(300ms);
  std::filesystem::remove_all(state_dir);  // the next run restores from the changelogs
  run_then_kill(2000ms);
  writer.join();

  auto last = start({"--exit-when-done"});
  EXPECT_EQ(last->Wait(180s), 0) << LogTails(dir);

  auto orders = reference::LastPerKey(testing::ReadToEnd(servers, "order-summary", kPartitions));
  auto customers = reference::LastPerKey(testing::ReadToEnd(servers, "customer-summary", kPartitions));
  EXPECT_EQ(orders.size(), want.orders.size());
  EXPECT_EQ(customers.size(), want.customers.size());
  int shown = 0;
  for (const auto& [id, row] : want.orders) {
    if (orders[id] != row && shown++ < 5) ADD_FAILURE() << id << "\n got  " << orders[id] << "\n want " << row;
  }
  for (const auto& [id, row] : want.customers) {
    if (customers[id] != row && shown++ < 10) ADD_FAILURE() << id << "\n got  " << customers[id] << "\n want " << row;
  }
  // Every bad record reached the dead-letter topic at least once (at-least-once: a
  // replay after a kill may send one again).
  std::set<std::pair<std::string, std::string>> dead;
  for (const auto& r : testing::ReadToEnd(servers, "order-events.dlq", 1)) {
    dead.emplace(r.Header("sluice.source.partition"), r.Header("sluice.source.offset"));
  }
  EXPECT_EQ(static_cast<int64_t>(dead.size()), g.malformed);
  if (HasFailure()) {
    std::printf("%s\n", LogTails(dir).c_str());
  } else {
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace read_model
