// read-model-builder through the test driver: its read models equal an independent
// computation from the set of distinct events, whatever order the events arrive in and
// however often each is delivered; bad records land in the dead-letter topic with their
// bytes and the reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <sluice/serde_json.h>

#include "examples/read_model_builder/events.h"
#include "examples/read_model_builder/generator.h"
#include "examples/read_model_builder/read_model.h"
#include "examples/read_model_builder/topology.h"
#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/examples/read_model_reference.h"

namespace read_model {
namespace {

using sluice::TestRawRecord;
using sluice::TopologyTestDriver;

struct Outputs {
  std::map<std::string, nlohmann::json> orders;
  std::map<std::string, nlohmann::json> customers;
  std::vector<TestRawRecord> dlq;
};

// Pipes `records` in batches of `batch` through the builder's topology.
Outputs Drive(const std::vector<GeneratedRecord>& records, size_t batch = 500) {
  Topics topics;
  absl::StatusOr<sluice::Topology> topology = BuildTopology(topics);
  EXPECT_TRUE(topology.ok()) << topology.status();
  TopologyTestDriver::Options options;
  options.default_partitions = 4;
  auto driver = TopologyTestDriver::Create(*topology, options, AppConfig(topics, {}));
  EXPECT_TRUE(driver.ok()) << driver.status();
  Outputs run;
  if (!driver.ok()) return run;
  for (size_t i = 0; i < records.size(); i += batch) {
    std::vector<TestRawRecord> raw;
    for (size_t j = i; j < std::min(records.size(), i + batch); ++j) {
      TestRawRecord r;
      r.key = records[j].key;
      r.value = records[j].value;
      r.timestamp = 1000 + static_cast<int64_t>(j);
      raw.push_back(std::move(r));
    }
    absl::Status s = (*driver)->PipeRawBatch(topics.input, std::move(raw));
    EXPECT_TRUE(s.ok()) << s;
  }
  run.orders = reference::LastPerKey((*driver)->ReadRaw(topics.order_summary));
  run.customers = reference::LastPerKey((*driver)->ReadRaw(topics.customer_summary));
  run.dlq = (*driver)->ReadRaw(topics.dlq);
  return run;
}

std::string Header(const TestRawRecord& r, const std::string& name) {
  for (const sluice::TestHeader& h : r.headers) {
    if (h.key == name) return h.value.value_or("");
  }
  return "<absent>";
}

void ExpectEqual(const std::map<std::string, nlohmann::json>& got,
                 const std::map<std::string, nlohmann::json>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int shown = 0;
  for (const auto& [key, row] : want) {
    auto it = got.find(key);
    if (it == got.end() || it->second != row) {
      ADD_FAILURE() << what << " " << key << ":\n  got  "
                    << (it == got.end() ? "(none)" : it->second.dump()) << "\n  want " << row.dump();
      if (++shown == 5) return;
    }
  }
}

TEST(ReadModel, OutputsEqualTheIndependentComputationAndBadRecordsAreDeadLettered) {
  Generated g = GenerateOrderEvents(6000, 7);
  ASSERT_GT(g.duplicates, 50);
  ASSERT_GT(g.malformed, 10);
  reference::Expected want = reference::Compute(g.records);
  EXPECT_EQ(want.malformed, g.malformed);
  Outputs run = Drive(g.records);
  ExpectEqual(run.orders, want.orders, "order-summary");
  ExpectEqual(run.customers, want.customers, "customer-summary");

  ASSERT_EQ(static_cast<int64_t>(run.dlq.size()), g.malformed);
  std::set<std::string> reasons;
  for (const TestRawRecord& r : run.dlq) {
    const std::string error = Header(r, "sluice.error");
    EXPECT_EQ(Header(r, "sluice.source.topic"), "order-events");
    EXPECT_NE(Header(r, "sluice.source.offset"), "<absent>");
    // The original bytes: one of the generated records.
    EXPECT_TRUE(std::any_of(g.records.begin(), g.records.end(), [&](const GeneratedRecord& in) {
      return r.key == in.key && r.value == in.value;
    })) << *r.value;
    for (const char* reason : {"not JSON", "missing eventId", "unknown eventType 'OrderTeleported'",
                               "unknown version 7", "differs from data.orderId", "missing data.orderId"}) {
      if (error.find(reason) != std::string::npos) reasons.insert(reason);
    }
  }
  EXPECT_EQ(reasons.size(), 6u) << "every kind of bad record is dead-lettered with its reason";
}

TEST(ReadModel, ArrivalOrderAndRedeliveryDoNotChangeTheReadModels) {
  Generated g = GenerateOrderEvents(4000, 11);
  reference::Expected want = reference::Compute(g.records);
  std::vector<GeneratedRecord> shuffled = g.records;
  std::mt19937_64 rng(99);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  // Everything delivered again, in yet another order.
  std::vector<GeneratedRecord> again = g.records;
  std::shuffle(again.begin(), again.end(), rng);
  shuffled.insert(shuffled.end(), again.begin(), again.end());
  Outputs run = Drive(shuffled, 333);
  ExpectEqual(run.orders, want.orders, "order-summary");
  ExpectEqual(run.customers, want.customers, "customer-summary");
  EXPECT_EQ(static_cast<int64_t>(run.dlq.size()), 2 * g.malformed);
}

TEST(ReadModel, ACustomerSummaryIgnoresStaleAndRepeatedContributions) {
  // What a replayed repartition topic delivers after a crash: old updates again.
  CustomerState s;
  const OrderContribution v1{"o-1", 1, 100, 5000, false};
  const OrderContribution v2{"o-1", 2, 100, 5000, true};
  s.Add(v1);
  s.Subtract(v1);
  s.Add(v2);
  // Replay of the first update, then of the second.
  s.Subtract(OrderContribution{});  // nothing held under an empty id
  s.Add(v1);
  s.Subtract(v1);
  s.Add(v2);
  ASSERT_EQ(s.orders.size(), 1u);
  EXPECT_EQ(s.orders.at("o-1"), v2);
  EXPECT_EQ(CustomerSummary("c", s).dump(),
            R"({"customerId":"c","orders":1,"activeOrders":0,"totalSpent":0,"lastOrderAt":100})");
}

TEST(ReadModel, ParseErrorsSayWhatIsWrong) {
  auto error = [](const std::string& json) {
    absl::StatusOr<OrderEvent> e = ParseOrderEvent(json);
    return e.ok() ? std::string("ok") : std::string(e.status().message());
  };
  EXPECT_EQ(error("{"), "not JSON");
  EXPECT_EQ(error(R"({"eventType":"ItemsPacked","version":1,"timestamp":1,"data":{"orderId":"o"}})"),
            "missing eventId");
  EXPECT_EQ(error(R"({"eventId":"e","eventType":"ItemsPacked","version":2,"timestamp":1,"data":{"orderId":"o","warehouseId":"w"}})"),
            "unknown version 2 of ItemsPacked (known: 1)");
  EXPECT_EQ(error(R"({"eventId":"e","eventType":"OrderPlaced","version":1,"timestamp":1,"data":{"orderId":"o","customerId":"c","items":[{"productId":"p","quantity":1,"price":1.234}],"totalAmount":1,"currency":"EUR"}})"),
            "data.items[].price has more than two decimals");
  EXPECT_EQ(error(R"({"eventId":"e","eventType":"OrderPlaced","version":2,"timestamp":1,"data":{"orderId":"o","customerId":"c","items":[{"productId":"p","quantity":1,"price":1}],"totalAmount":1,"currency":"EUR"}})"),
            "missing data.total (OrderPlaced v2)");
  EXPECT_EQ(error(R"({"eventId":"e","eventType":"OrderShipped","version":1,"timestamp":1,"data":{"orderId":"o","carrier":"DHL"}})"),
            "missing data.trackingId");
  EXPECT_EQ(error(R"({"eventId":"e","eventType":"PaymentReceived","version":1,"timestamp":1,"data":{"orderId":"o","paymentId":"p","amount":12.5}})"),
            "ok");
}

}  // namespace
}  // namespace read_model
