// kill -9 in the middle of the saga: order-stock-saga runs as its own process against
// sluice-broker while its input arrives, is killed with SIGKILL three times (once with
// its state directory deleted) and restarted; after a last run to the end, the
// invariants hold over everything it wrote to Kafka.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "examples/order_stock_saga/generator.h"
#include "examples/order_stock_saga/topology.h"
#include "sluice/sluice.h"
#include "tests/engine/process_util.h"
#include "tests/examples/kafka_topics.h"
#include "tests/examples/saga_invariants.h"

namespace saga {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using sluice::testing::ChildProcess;
using sluice::testing::LogTails;
using sluice::testing::ReadFile;
using sluice::testing::TempDir;
using sluice::testing::WaitForFile;

constexpr int kPartitions = 4;

TEST(SagaCrash, KilledThreeTimesWhileOrdersArriveTheInvariantsHold) {
  const std::string dir = TempDir("saga-crash");
  const std::string app = "saga-crash";
  Topics topics;
  std::vector<std::string> broker_args = {SLUICE_BROKER_BIN, "--bootstrap-file", dir + "/bootstrap"};
  for (const std::string& t :
       {topics.orders, topics.inventory_events, topics.payments, topics.stock_events, topics.order_status,
        topics.inventory, topics.item_results, app + "-order-log-repartition", app + "-product-log-repartition",
        app + "-order-saga-changelog", app + "-inventory-store-changelog", app + "-reservations-changelog"}) {
    broker_args.insert(broker_args.end(), {"--topic", t + ":" + std::to_string(kPartitions)});
  }
  broker_args.insert(broker_args.end(), {"--topic", topics.dlq + ":1"});
  ChildProcess broker(broker_args, dir + "/broker.log");
  const std::string servers = WaitForFile(dir + "/bootstrap", 30s);
  ASSERT_FALSE(servers.empty()) << LogTails(dir);

  SagaInput in = GenerateSagaInput(2500, 30, 77);
  // Stock first, then orders and payments over ~10 s while the saga is killed and restarted.
  std::thread writer([&] {
    auto w = sluice::TopicWriter::Create(servers).value();
    for (const SagaRecord& r : in.inventory) ASSERT_TRUE(w->Write(topics.inventory_events, r.key, r.value).ok());
    const size_t n = std::max(in.orders.size(), in.payments.size());
    for (size_t i = 0; i < n; ++i) {
      if (i < in.orders.size()) {
        ASSERT_TRUE(w->Write(topics.orders, in.orders[i].key, in.orders[i].value).ok());
      }
      if (i < in.payments.size()) {
        ASSERT_TRUE(w->Write(topics.payments, in.payments[i].key, in.payments[i].value).ok());
      }
      if (i % 250 == 249) {
        ASSERT_TRUE(w->Flush(30s).ok());
        std::this_thread::sleep_for(800ms);
      }
    }
    ASSERT_TRUE(w->Flush(30s).ok());
  });

  const std::string state_dir = dir + "/state";
  int run = 0;
  auto start = [&](std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {SLUICE_SAGA_BIN, "--bootstrap-servers", servers, "--application-id", app,
                                     "--state-dir", state_dir, "--commit-interval-ms", "300",
                                     "--config", "consumer.session.timeout.ms=3500",
                                     "--config", "max.poll.records=100"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ChildProcess>(args, dir + "/run-" + std::to_string(++run) + ".log");
  };
  auto run_then_kill = [&](std::chrono::milliseconds after_assignment) {
    auto p = start();
    ASSERT_TRUE(p->started());
    const std::string log = dir + "/run-" + std::to_string(run) + ".log";
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (ReadFile(log).find("assigned ") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_NE(ReadFile(log).find("assigned "), std::string::npos) << LogTails(dir);
    std::this_thread::sleep_for(after_assignment);
    EXPECT_EQ(p->Kill(SIGKILL), -SIGKILL);
  };
  run_then_kill(1500ms);
  run_then_kill(700ms);
  std::filesystem::remove_all(state_dir);  // the next run restores from the changelogs
  run_then_kill(2500ms);
  writer.join();
  auto last = start({"--exit-when-done"});
  EXPECT_EQ(last->Wait(180s), 0) << LogTails(dir);

  testing::Observed seen = testing::ReadObserved(servers, topics, kPartitions);
  testing::ExpectInvariants(in, seen);
  if (HasFailure()) {
    std::printf("%s\n", LogTails(dir).c_str());
  } else {
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace saga
