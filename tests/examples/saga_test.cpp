// order-stock-saga through the test driver: the invariants hold with the input in order,
// and with every topic shuffled and delivered twice; bad records are dead-lettered.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "examples/order_stock_saga/generator.h"
#include "examples/order_stock_saga/messages.h"
#include "examples/order_stock_saga/saga.h"
#include "examples/order_stock_saga/topology.h"
#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/examples/saga_invariants.h"

namespace saga {
namespace {

using sluice::TestRawRecord;
using sluice::TopologyTestDriver;

struct Driven {
  testing::Observed seen;
  std::vector<TestRawRecord> dlq;
};

// Pipes the three input topics interleaved, `batch` records of each in turn.
Driven Drive(const SagaInput& in, size_t batch = 50) {
  Topics topics;
  absl::StatusOr<sluice::Topology> topology = BuildTopology(topics);
  EXPECT_TRUE(topology.ok()) << topology.status();
  TopologyTestDriver::Options options;
  options.default_partitions = 4;
  auto driver = TopologyTestDriver::Create(*topology, options, AppConfig(topics, {}));
  EXPECT_TRUE(driver.ok()) << driver.status();
  Driven out;
  if (!driver.ok()) return out;
  int64_t t = 0;
  auto pipe = [&](const std::string& topic, const std::vector<SagaRecord>& records, size_t from) {
    std::vector<TestRawRecord> raw;
    for (size_t i = from; i < std::min(records.size(), from + batch); ++i) {
      TestRawRecord r;
      r.key = records[i].key;
      r.value = records[i].value;
      r.timestamp = ++t;
      raw.push_back(std::move(r));
    }
    if (raw.empty()) return;
    absl::Status s = (*driver)->PipeRawBatch(topic, std::move(raw));
    EXPECT_TRUE(s.ok()) << s;
  };
  for (size_t from = 0; from < std::max({in.orders.size(), in.inventory.size(), in.payments.size()});
       from += batch) {
    pipe(topics.inventory_events, in.inventory, from);
    pipe(topics.orders, in.orders, from);
    pipe(topics.payments, in.payments, from);
  }
  for (const TestRawRecord& r : (*driver)->ReadRaw(topics.inventory)) {
    out.seen.inventory[*r.key] = nlohmann::json::parse(*r.value);
  }
  for (const TestRawRecord& r : (*driver)->ReadRaw(topics.order_status)) {
    out.seen.order_status[*r.key] = nlohmann::json::parse(*r.value);
  }
  for (const TestRawRecord& r : (*driver)->ReadRaw(topics.stock_events)) {
    out.seen.stock_events.emplace_back(*r.key, nlohmann::json::parse(*r.value));
  }
  out.dlq = (*driver)->ReadRaw(topics.dlq);
  return out;
}

TEST(Saga, InvariantsHoldAndBadRecordsAreDeadLettered) {
  SagaInput in = GenerateSagaInput(1500, 40, 3);
  Driven run = Drive(in);
  testing::ExpectInvariants(in, run.seen);
  EXPECT_EQ(static_cast<int64_t>(run.dlq.size()), in.malformed);
  for (const TestRawRecord& r : run.dlq) {
    bool has_error = false;
    for (const sluice::TestHeader& h : r.headers) has_error |= h.key == "sluice.error";
    EXPECT_TRUE(has_error);
  }
}

TEST(Saga, InvariantsHoldWithEveryTopicShuffledAndDeliveredTwice) {
  for (uint64_t seed : {5u, 6u}) {
    SagaInput in = GenerateSagaInput(1200, 30, seed);
    std::mt19937_64 rng(seed * 31);
    for (std::vector<SagaRecord>* topic : {&in.orders, &in.inventory, &in.payments}) {
      std::vector<SagaRecord> again = *topic;
      std::shuffle(topic->begin(), topic->end(), rng);
      std::shuffle(again.begin(), again.end(), rng);
      topic->insert(topic->end(), again.begin(), again.end());
    }
    Driven run = Drive(in, 37);
    testing::ExpectInvariants(in, run.seen);
    EXPECT_EQ(static_cast<int64_t>(run.dlq.size()), 2 * in.malformed);
  }
}

TEST(Saga, AnOrderSentAgainIsAnsweredAgainWithTheSameIds) {
  // The order side: a duplicate makes it resend what its state implies, with the same
  // eventIds, and changes nothing.
  OrderSaga order;
  std::vector<Out> outs;
  Message placed = ParseMessage(R"({"eventId":"e1","eventType":"OrderPlaced","version":1,"timestamp":5,)"
                                R"("data":{"orderId":"o","customerId":"c","items":[{"productId":"p","quantity":2}]}})")
                       .value();
  order.Handle(placed, &outs);
  ASSERT_EQ(outs.size(), 2u);  // ReserveItem, status row
  EXPECT_EQ(outs[0].message.event_id, "o:ReserveItem:p");
  outs.clear();
  order.Handle(placed, &outs);
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].message.event_id, "o:ReserveItem:p");
  EXPECT_EQ(order.status, "PENDING");

  // The product side: a ReserveItem asked twice reserves once and answers twice.
  Product product;
  Message stock = ParseMessage(R"({"eventId":"s1","eventType":"StockAdded","version":1,"timestamp":1,)"
                               R"("data":{"productId":"p","quantity":3}})")
                      .value();
  outs.clear();
  std::optional<Reservation> none;
  product.Handle(stock, &none, &outs);
  product.Handle(stock, &none, &outs);
  EXPECT_EQ(product.available, 3);
  outs.clear();
  const Message reserve{"o:ReserveItem:p", "ReserveItem", 1, 5,
                        {{"orderId", "o"}, {"productId", "p"}, {"quantity", 2}}};
  std::optional<Reservation> reservation;
  product.Handle(reserve, &reservation, &outs);
  product.Handle(reserve, &reservation, &outs);
  ASSERT_TRUE(reservation.has_value());
  EXPECT_EQ(reservation->state, "RESERVED");
  EXPECT_EQ(product.available, 1);
  EXPECT_EQ(product.reserved, 2);
  int answers = 0;
  for (const Out& o : outs) answers += o.dest == Dest::kOrders && o.message.type == "ItemReserved";
  EXPECT_EQ(answers, 2);
}

}  // namespace
}  // namespace saga
