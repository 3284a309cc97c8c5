// read-model-builder on the embedded broker, in process: the read model topics, the
// dead-letter topic (headers included) and every HTTP endpoint, checked against the
// independent computation.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "examples/read_model_builder/generator.h"
#include "examples/read_model_builder/http_api.h"
#include "examples/read_model_builder/topology.h"
#include "sluice/sluice.h"
#include "tests/examples/kafka_topics.h"
#include "tests/examples/read_model_reference.h"

namespace read_model {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::KafkaRecord;
using testing::ReadToEnd;

constexpr int kPartitions = 4;

// True once every assigned partition's position and end are known and equal, the input
// was consumed up to `expected`, and nothing was produced for a second (so the caches
// let everything down and the repartitioned part caught up too).
bool WaitQuiet(const sluice::App& app, const std::string& input, int64_t expected,
               std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  uint64_t last_out = UINT64_MAX;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1s);
    const sluice::AppMetrics m = app.metrics();
    int64_t consumed = 0;
    bool caught_up = !m.lag.empty();
    for (const sluice::PartitionLag& l : m.lag) {
      if (l.position < 0 || l.end_offset < 0 || l.lag != 0) caught_up = false;
      if (l.topic == input) consumed += std::max<int64_t>(l.position, 0);
    }
    if (caught_up && consumed >= expected && m.records_out == last_out) return true;
    last_out = m.records_out;
  }
  return false;
}

TEST(ReadModelApp, TopicsDeadLettersAndHttpAnswersMatchTheIndependentComputation) {
  auto broker = sluice::EmbeddedBroker::Start().value();
  Topics topics;
  for (const std::string& t : {topics.input, topics.order_summary, topics.customer_summary}) {
    ASSERT_TRUE(broker->CreateTopic(t, kPartitions).ok());
  }
  ASSERT_TRUE(broker->CreateTopic(topics.dlq, 1).ok());
  const std::string servers = broker->bootstrap_servers();
  Generated g = GenerateOrderEvents(8000, 5);
  reference::Expected want = reference::Compute(g.records);
  {
    auto writer = sluice::TopicWriter::Create(servers).value();
    for (const GeneratedRecord& r : g.records) ASSERT_TRUE(writer->Write(topics.input, r.key, r.value).ok());
    ASSERT_TRUE(writer->Flush(30s).ok());
  }

  const std::string state_dir =
      (std::filesystem::temp_directory_path() / ("read-model-app-test-" + std::to_string(::getpid()))).string();
  auto config = sluice::StreamsConfig::Create(AppConfig(
      topics, {{"application.id", "read-model-test"}, {"state.dir", state_dir},
               {"num.stream.threads", "2"}, {"commit.interval.ms", "200"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  auto app = sluice::App::Create(BuildTopology(topics).value(), *config, broker.get());
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_TRUE((*app)->Start().ok());
  auto http = HttpApi::Start(**app, "127.0.0.1", 0);
  ASSERT_TRUE(http.ok()) << http.status();
  ASSERT_TRUE(WaitQuiet(**app, topics.input, static_cast<int64_t>(g.records.size()), 120s))
      << "the app did not catch up";

  // The topics.
  auto orders = reference::LastPerKey(ReadToEnd(servers, topics.order_summary, kPartitions));
  auto customers = reference::LastPerKey(ReadToEnd(servers, topics.customer_summary, kPartitions));
  EXPECT_EQ(orders, want.orders);
  EXPECT_EQ(customers, want.customers);
  std::vector<KafkaRecord> dlq = ReadToEnd(servers, topics.dlq, 1);
  ASSERT_EQ(static_cast<int64_t>(dlq.size()), g.malformed);
  for (const KafkaRecord& r : dlq) {
    EXPECT_NE(r.Header("sluice.error"), "<absent>");
    EXPECT_EQ(r.Header("sluice.source.topic"), topics.input);
    const int partition = std::stoi(r.Header("sluice.source.partition"));
    EXPECT_TRUE(partition >= 0 && partition < kPartitions);
    EXPECT_GE(std::stoll(r.Header("sluice.source.offset")), 0);
  }

  // HTTP.
  httplib::Client client("127.0.0.1", (*http)->port());
  int checked = 0;
  for (const auto& [id, row] : want.orders) {
    if (checked++ % 40 != 0) continue;
    auto res = client.Get("/orders/" + id);
    ASSERT_TRUE(res) << "GET /orders/" << id;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(json::parse(res->body), row) << id;
  }
  auto missing = client.Get("/orders/no-such-order");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  for (const auto& [id, row] : want.customers) {
    if (checked++ % 20 != 0) continue;
    auto res = client.Get("/customers/" + id);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(json::parse(res->body), row) << id;
  }
  auto shipped = client.Get("/orders?status=SHIPPED&limit=5");
  ASSERT_TRUE(shipped);
  ASSERT_EQ(shipped->status, 200);
  json rows = json::parse(shipped->body);
  ASSERT_EQ(rows.size(), 5u);
  for (const json& row : rows) {
    EXPECT_EQ(row["status"], "SHIPPED");
    EXPECT_EQ(row, want.orders.at(row["orderId"].get<std::string>()));
  }
  auto bad = client.Get("/orders?status=LOST");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto bad_limit = client.Get("/orders?limit=0");
  ASSERT_TRUE(bad_limit);
  EXPECT_EQ(bad_limit->status, 400);
  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  for (const char* line : {"sluice_records_processed_total ", "sluice_records_skipped_total ",
                           "sluice_commit_latency_avg_ms ",
                           "sluice_consumer_lag{topic=\"order-events\",partition=\"0\"} 0",
                           "sluice_store_entries{store=\"order-state\"} "}) {
    EXPECT_NE(metrics->body.find(line), std::string::npos) << line << " in\n" << metrics->body;
  }

  EXPECT_TRUE((*app)->Close(30s));
  auto stopped = client.Get("/health");
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->status, 503);
  http->reset();
  app->reset();
  std::filesystem::remove_all(state_dir);
}

}  // namespace
}  // namespace read_model
