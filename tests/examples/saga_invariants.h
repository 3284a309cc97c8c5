// The order-stock-saga invariants, checked from what the saga wrote (its output topics
// and stores) against the input, with plain nlohmann/json:
//   - per product: available >= 0, and available + reserved == added - confirmed, where
//     `added` is summed from the distinct StockAdded of the input;
//   - per product: `confirmed` is exactly the quantities of the CONFIRMED orders' items,
//     and `reserved` those of the RESERVED orders' items (all or nothing);
//   - per order: its status agrees with its input (CONFIRMED needs a completed payment,
//     RELEASED a cancellation or a failed payment, RESERVED neither);
//   - each released or confirmed order has exactly one distinct StockReleased or
//     OrderConfirmed event (a message sent again carries the same eventId).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "examples/order_stock_saga/generator.h"
#include "examples/order_stock_saga/topology.h"
#include "tests/examples/kafka_topics.h"

namespace saga::testing {

using nlohmann::json;

struct Observed {
  std::map<std::string, json> inventory;     // productId -> last inventory row
  std::map<std::string, json> order_status;  // orderId -> last status row
  std::vector<std::pair<std::string, json>> stock_events;  // (key, message)
};

// What the saga wrote to Kafka (topics of `partitions` partitions).
inline Observed ReadObserved(const std::string& servers, const Topics& topics, int partitions) {
  Observed seen;
  for (const auto& r : read_model::testing::ReadToEnd(servers, topics.inventory, partitions)) {
    seen.inventory[*r.key] = json::parse(*r.value);
  }
  for (const auto& r : read_model::testing::ReadToEnd(servers, topics.order_status, partitions)) {
    seen.order_status[*r.key] = json::parse(*r.value);
  }
  for (const auto& r : read_model::testing::ReadToEnd(servers, topics.stock_events, partitions)) {
    seen.stock_events.emplace_back(*r.key, json::parse(*r.value));
  }
  return seen;
}

inline void ExpectInvariants(const SagaInput& in, const Observed& seen) {
  // The input, distinct by eventId.
  std::map<std::string, int64_t> added;                          // productId -> quantity
  std::map<std::string, std::map<std::string, int64_t>> items;   // orderId -> productId -> qty
  std::set<std::string> paid, failed, cancelled;
  std::set<std::string> ids;
  auto each = [&](const std::vector<SagaRecord>& topic, auto&& f) {
    for (const SagaRecord& r : topic) {
      json m = json::parse(r.value, nullptr, false);
      if (m.is_discarded() || !m.contains("eventId") || !ids.insert(m["eventId"].get<std::string>()).second) continue;
      f(r.key, m);
    }
  };
  each(in.inventory, [&](const std::string& key, const json& m) {
    if (m["eventType"] == "StockAdded" && m["version"] == 1 && m["data"]["productId"] == key &&
        m["data"]["quantity"].is_number_integer() && m["data"]["quantity"].get<int64_t>() > 0) {
      added[key] += m["data"]["quantity"].get<int64_t>();
    }
  });
  each(in.orders, [&](const std::string& key, const json& m) {
    if (m["data"].value("orderId", "") != key) return;
    if (m["eventType"] == "OrderPlaced" && !items.count(key)) {
      for (const json& i : m["data"]["items"]) items[key][i["productId"]] += i["quantity"].get<int64_t>();
    } else if (m["eventType"] == "OrderCancelled") {
      cancelled.insert(key);
    }
  });
  each(in.payments, [&](const std::string& key, const json& m) {
    if (m["version"] != 1 || m["data"].value("orderId", "") != key) return;
    if (m["eventType"] == "PaymentCompleted" && !failed.count(key)) paid.insert(key);
    if (m["eventType"] == "PaymentFailed" && !paid.count(key)) failed.insert(key);
  });

  std::map<std::string, int64_t> want_confirmed, want_reserved;
  std::map<std::string, int> statuses;
  for (const auto& [order, products] : items) {
    auto it = seen.order_status.find(order);
    ASSERT_NE(it, seen.order_status.end()) << "no status for " << order;
    const std::string status = it->second["status"];
    ++statuses[status];
    if (status == "CONFIRMED") {
      EXPECT_TRUE(paid.count(order)) << order << " confirmed without a completed payment";
      for (const auto& [p, q] : products) want_confirmed[p] += q;
    } else if (status == "RESERVED") {
      EXPECT_FALSE(paid.count(order) || failed.count(order) || cancelled.count(order))
          << order << " still RESERVED although its outcome arrived";
      for (const auto& [p, q] : products) want_reserved[p] += q;
    } else if (status == "RELEASED") {
      EXPECT_TRUE(cancelled.count(order) || failed.count(order)) << order << " released without a reason";
    } else {
      EXPECT_EQ(status, "REJECTED") << order;
    }
  }
  // Every kind of ending happened (the input is built for it).
  for (const char* s : {"CONFIRMED", "RELEASED", "REJECTED"}) EXPECT_GT(statuses[s], 0) << s;

  for (const auto& [product, quantity] : added) {
    auto it = seen.inventory.find(product);
    ASSERT_NE(it, seen.inventory.end()) << "no inventory row for " << product;
    const json& row = it->second;
    const int64_t available = row["available"], reserved = row["reserved"], confirmed = row["confirmed"];
    EXPECT_GE(available, 0) << product;
    EXPECT_EQ(row["added"].get<int64_t>(), quantity) << product;
    EXPECT_EQ(available + reserved, quantity - confirmed) << product;
    EXPECT_EQ(confirmed, want_confirmed[product]) << product << ": confirmed stock is not the confirmed orders'";
    EXPECT_EQ(reserved, want_reserved[product]) << product << ": reserved stock is not the reserved orders'";
  }

  // One distinct StockReleased per released order, one OrderConfirmed per confirmed one.
  std::map<std::string, std::set<std::string>> released, confirmed;
  for (const auto& [key, m] : seen.stock_events) {
    if (m["eventType"] == "StockReleased") released[key].insert(m["eventId"]);
    if (m["eventType"] == "OrderConfirmed") confirmed[key].insert(m["eventId"]);
  }
  for (const auto& [order, row] : seen.order_status) {
    EXPECT_EQ(released[order].size(), row["status"] == "RELEASED" ? 1u : 0u) << order;
    EXPECT_EQ(confirmed[order].size(), row["status"] == "CONFIRMED" ? 1u : 0u) << order;
  }
}

}  // namespace saga::testing
