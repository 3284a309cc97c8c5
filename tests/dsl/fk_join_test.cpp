// Foreign-key KTable-KTable joins through the TopologyTestDriver: updates and deletes on
// both sides, foreign-key changes, stale answers, and random batched updates checked
// against the join of the final tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/join_test_util.h"

namespace sluice {
namespace {

using sluice::testing::kNoCache;
using sluice::testing::MakeDriver;
using sluice::testing::OptS;
using sluice::testing::Show;
using sluice::testing::SOKV;
using sluice::testing::SSKV;

// orders (key order id, value "customer|item") joined with customers (key customer id,
// value name) on the order's customer.
struct FkFixture {
  std::unique_ptr<TopologyTestDriver> driver;
  std::optional<TestInputTopic<StringSerde, Nullable<StringSerde>>> orders, customers;
  std::optional<TestOutputTopic<StringSerde, Nullable<StringSerde>>> out;

  std::map<std::string, std::string> Store() {
    std::map<std::string, std::string> rows;
    auto store = driver->GetKeyValueStore<StringSerde, StringSerde>("order-view");
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return rows;
    auto all = store->All();
    EXPECT_TRUE(all.ok()) << all.status();
    if (all.ok()) {
      for (auto& kv : *all) rows[kv.key] = kv.value;
    }
    return rows;
  }
};

std::string CustomerOf(const std::string& order) { return order.substr(0, order.find('|')); }
std::string ItemOf(const std::string& order) { return order.substr(order.find('|') + 1); }

FkFixture MakeFkJoin(bool left, std::map<std::string, std::string> config = kNoCache) {
  StreamsBuilder builder;
  auto orders = builder.Table<std::string, std::string>("orders");
  auto customers = builder.Table<std::string, std::string>("customers");
  auto extract = [](const std::string& order) { return CustomerOf(order); };
  auto view = Materialized<StringSerde, StringSerde>::As("order-view");
  KTable<std::string, std::string> joined =
      left ? orders.LeftJoin(customers, extract,
                             [](const std::string& order, const OptS& name) {
                               return ItemOf(order) + " for " + Show(name);
                             },
                             view)
           : orders.Join(customers, extract,
                         [](const std::string& order, const std::string& name) {
                           return ItemOf(order) + " for " + name;
                         },
                         view);
  joined.ToStream().To("out", Produced<StringSerde, Nullable<StringSerde>>());
  TopologyTestDriver::Options options;
  options.partitions["orders"] = 3;
  options.partitions["customers"] = 2;  // not co-partitioned: no need
  FkFixture f;
  f.driver = MakeDriver(builder, options, std::move(config));
  if (f.driver == nullptr) return f;
  f.orders.emplace(f.driver->CreateInputTopic("orders", StringSerde(), Nullable<StringSerde>()));
  f.customers.emplace(f.driver->CreateInputTopic("customers", StringSerde(), Nullable<StringSerde>()));
  f.out.emplace(f.driver->CreateOutputTopic("out", StringSerde(), Nullable<StringSerde>()));
  return f;
}

TEST(ForeignKeyJoin, InnerFollowsUpdatesAndDeletesOnBothSidesAndForeignKeyChanges) {
  auto f = MakeFkJoin(false);
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.customers->PipeInput("c1", "Ann").ok());
  ASSERT_TRUE(f.orders->PipeInput("o1", "c1|tea").ok());
  EXPECT_EQ(f.Store(), (std::map<std::string, std::string>{{"o1", "tea for Ann"}}));
  ASSERT_TRUE(f.customers->PipeInput("c1", "Annie").ok());        // right update
  EXPECT_EQ(f.Store(), (std::map<std::string, std::string>{{"o1", "tea for Annie"}}));
  ASSERT_TRUE(f.orders->PipeInput("o1", "c2|tea").ok());          // FK change to a missing row
  EXPECT_TRUE(f.Store().empty());
  ASSERT_TRUE(f.customers->PipeInput("c2", "Bob").ok());          // the row appears
  EXPECT_EQ(f.Store(), (std::map<std::string, std::string>{{"o1", "tea for Bob"}}));
  ASSERT_TRUE(f.customers->PipeInput("c1", "Ann again").ok());    // the old FK: no effect
  EXPECT_EQ(f.Store(), (std::map<std::string, std::string>{{"o1", "tea for Bob"}}));
  ASSERT_TRUE(f.orders->PipeInput("o2", "c1|cake").ok());
  ASSERT_TRUE(f.customers->PipeInput("c2", std::nullopt).ok());   // right delete
  EXPECT_EQ(f.Store(), (std::map<std::string, std::string>{{"o2", "cake for Ann again"}}));
  ASSERT_TRUE(f.orders->PipeInput("o2", std::nullopt).ok());      // left delete
  EXPECT_TRUE(f.Store().empty());
  // The emitted changes end with deletes for both orders.
  std::map<std::string, OptS> last;
  for (auto& kv : f.out->ReadKeyValuesToList()) last[kv.key] = kv.value;
  EXPECT_EQ(last, (std::map<std::string, OptS>{{"o1", std::nullopt}, {"o2", std::nullopt}}));
}

TEST(ForeignKeyJoin, LeftKeepsEveryOrderWithNulloptWhereTheCustomerIsMissing) {
  auto f = MakeFkJoin(true);
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.orders->PipeInput("o1", "c1|tea").ok());
  EXPECT_EQ(f.Store(), (std::map<std::string, std::string>{{"o1", "tea for null"}}));
  ASSERT_TRUE(f.customers->PipeInput("c1", "Ann").ok());
  EXPECT_EQ(f.Store(), (std::map<std::string, std::string>{{"o1", "tea for Ann"}}));
  ASSERT_TRUE(f.customers->PipeInput("c1", std::nullopt).ok());
  EXPECT_EQ(f.Store(), (std::map<std::string, std::string>{{"o1", "tea for null"}}));
  ASSERT_TRUE(f.orders->PipeInput("o1", std::nullopt).ok());
  EXPECT_TRUE(f.Store().empty());
}

TEST(ForeignKeyJoin, AResponseForAForeignKeyTheRowNoLongerNamesIsDropped) {
  auto f = MakeFkJoin(false);
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.customers->PipeKeyValueList({{"c1", "Ann"}, {"c2", "Bob"}}).ok());
  // One batch: o1 names c1, then c2. The answer for c1 comes back after the row moved on.
  ASSERT_TRUE(f.orders->PipeKeyValueList({{"o1", "c1|tea"}, {"o1", "c2|tea"}}).ok());
  for (auto& kv : f.out->ReadKeyValuesToList()) {
    EXPECT_NE(kv.value, OptS("tea for Ann")) << "a stale result was emitted";
  }
  EXPECT_EQ(f.Store(), (std::map<std::string, std::string>{{"o1", "tea for Bob"}}));
}

// Random updates and deletes on both sides, several per batch; the result store must
// equal the join computed from the final tables.
TEST(ForeignKeyJoin, TheResultEqualsTheJoinOfTheFinalTablesAfterRandomUpdates) {
  for (bool left : {false, true}) {
    for (uint32_t seed : {1u, 2u}) {
      SCOPED_TRACE(std::string(left ? "left" : "inner") + " seed " + std::to_string(seed));
      auto f = MakeFkJoin(left, {});  // with the record cache
      ASSERT_NE(f.driver, nullptr);
      std::mt19937 rng(seed);
      std::map<std::string, std::string> orders, customers;
      for (int round = 0; round < 60; ++round) {
        std::vector<KeyValue<std::string, OptS>> o_batch, c_batch;
        for (int i = 0; i < 5; ++i) {
          const std::string o = "o" + std::to_string(rng() % 12);
          if (rng() % 5 == 0) {
            o_batch.push_back({o, std::nullopt});
            orders.erase(o);
          } else {
            const std::string v = "c" + std::to_string(rng() % 6) + "|item" + std::to_string(round);
            o_batch.push_back({o, v});
            orders[o] = v;
          }
          const std::string c = "c" + std::to_string(rng() % 6);
          if (rng() % 4 == 0) {
            c_batch.push_back({c, std::nullopt});
            customers.erase(c);
          } else {
            const std::string v = "name" + std::to_string(rng() % 100);
            c_batch.push_back({c, v});
            customers[c] = v;
          }
        }
        if (rng() % 2 == 0) {
          ASSERT_TRUE(f.orders->PipeKeyValueList(o_batch).ok());
          ASSERT_TRUE(f.customers->PipeKeyValueList(c_batch).ok());
        } else {
          ASSERT_TRUE(f.customers->PipeKeyValueList(c_batch).ok());
          ASSERT_TRUE(f.orders->PipeKeyValueList(o_batch).ok());
        }
      }
      std::map<std::string, std::string> want;
      for (const auto& [o, v] : orders) {
        auto c = customers.find(CustomerOf(v));
        if (c != customers.end()) {
          want[o] = ItemOf(v) + " for " + c->second;
        } else if (left) {
          want[o] = ItemOf(v) + " for null";
        }
      }
      EXPECT_EQ(f.Store(), want);
    }
  }
}

}  // namespace
}  // namespace sluice
