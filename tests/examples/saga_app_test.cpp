// order-stock-saga on the embedded broker, in process, with two stream threads: its
// invariants hold over what it wrote to Kafka, and bad records are dead-lettered with
// their reason.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "examples/order_stock_saga/generator.h"
#include "examples/order_stock_saga/topology.h"
#include "sluice/sluice.h"
#include "tests/examples/kafka_topics.h"
#include "tests/examples/saga_invariants.h"

namespace saga {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kPartitions = 4;

// Every partition read to its end and nothing produced for two seconds.
bool WaitQuiet(const sluice::App& app, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  uint64_t last_out = UINT64_MAX;
  int quiet = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(500ms);
    const sluice::AppMetrics m = app.metrics();
    bool caught_up = !m.lag.empty();
    for (const sluice::PartitionLag& l : m.lag) caught_up &= l.position >= 0 && l.end_offset >= 0 && l.lag == 0;
    quiet = caught_up && m.records_out == last_out ? quiet + 1 : 0;
    last_out = m.records_out;
    if (quiet >= 4) return true;
  }
  return false;
}

TEST(SagaApp, InvariantsHoldOverWhatItWroteToKafka) {
  auto broker = sluice::EmbeddedBroker::Start().value();
  Topics topics;
  for (const std::string& t : {topics.orders, topics.inventory_events, topics.payments, topics.stock_events,
                               topics.order_status, topics.inventory, topics.item_results}) {
    ASSERT_TRUE(broker->CreateTopic(t, kPartitions).ok());
  }
  ASSERT_TRUE(broker->CreateTopic(topics.dlq, 1).ok());
  const std::string servers = broker->bootstrap_servers();
  SagaInput in = GenerateSagaInput(1500, 30, 9);
  {
    auto writer = sluice::TopicWriter::Create(servers).value();
    for (auto [topic, records] : {std::pair{topics.inventory_events, &in.inventory},
                                  std::pair{topics.orders, &in.orders}, std::pair{topics.payments, &in.payments}}) {
      for (const SagaRecord& r : *records) ASSERT_TRUE(writer->Write(topic, r.key, r.value).ok());
    }
    ASSERT_TRUE(writer->Flush(30s).ok());
  }
  const std::string state_dir =
      (std::filesystem::temp_directory_path() / ("saga-app-test-" + std::to_string(::getpid()))).string();
  auto config = sluice::StreamsConfig::Create(AppConfig(
      topics, {{"application.id", "saga-test"}, {"state.dir", state_dir}, {"num.stream.threads", "2"},
               {"commit.interval.ms", "200"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  auto app = sluice::App::Create(BuildTopology(topics).value(), *config, broker.get());
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_TRUE((*app)->Start().ok());
  ASSERT_TRUE(WaitQuiet(**app, 120s)) << "the saga did not settle";
  EXPECT_TRUE((*app)->Close(30s));

  testing::Observed seen = testing::ReadObserved(servers, topics, kPartitions);
  testing::ExpectInvariants(in, seen);
  auto dlq = read_model::testing::ReadToEnd(servers, topics.dlq, 1);
  EXPECT_EQ(static_cast<int64_t>(dlq.size()), in.malformed);
  for (const auto& r : dlq) EXPECT_NE(r.Header("sluice.error"), "<absent>");
  app->reset();
  std::filesystem::remove_all(state_dir);
}

}  // namespace
}  // namespace saga
