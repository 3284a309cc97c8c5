// KStream-GlobalKTable joins through the TopologyTestDriver: a key selector, updates and
// tombstones seen at once, bad global records, Describe.
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

TEST(GlobalTableJoin, AKeySelectorLooksUpTheGlobalTableAndUpdatesAreSeenAtOnce) {
  StreamsBuilder builder;
  auto products = builder.GlobalTable("products", Consumed<StringSerde, Nullable<StringSerde>>(),
                                      Materialized<StringSerde, Nullable<StringSerde>>::As("products"));
  // Orders keyed by order id carry "product:qty"; the product is the table key.
  auto product_of = [](const std::string&, const std::string& line) {
    return line.substr(0, line.find(':'));
  };
  auto orders = builder.Stream<std::string, std::string>("orders");
  orders.Join(products, product_of,
              [](const std::string& line, const OptS& name) { return line + "=" + Show(name); })
      .To("named");
  orders.LeftJoin(products, product_of,
                  [](const std::string& order, const std::string& line, const std::optional<OptS>& name) {
                    return order + "/" + line + "=" + (name ? Show(*name) : "missing");
                  })
      .To("all");
  TopologyTestDriver::Options options;
  options.partitions["orders"] = 3;
  options.partitions["products"] = 2;  // no co-partitioning needed
  auto driver = MakeDriver(builder, options);
  ASSERT_NE(driver, nullptr);
  auto p = driver->CreateInputTopic("products", StringSerde(), Nullable<StringSerde>());
  auto o = driver->CreateInputTopic("orders", StringSerde(), StringSerde());
  auto named = driver->CreateOutputTopic("named", StringSerde(), StringSerde());
  auto all = driver->CreateOutputTopic("all", StringSerde(), StringSerde());
  ASSERT_TRUE(p.PipeInput("tea", "Green tea").ok());
  ASSERT_TRUE(o.PipeInput("o1", "tea:2").ok());
  ASSERT_TRUE(o.PipeInput("o2", "cake:1").ok());
  ASSERT_TRUE(p.PipeInput("cake", "Cheesecake").ok());
  ASSERT_TRUE(o.PipeInput("o3", "cake:3").ok());
  ASSERT_TRUE(p.PipeInput("tea", std::nullopt).ok());  // tea withdrawn
  ASSERT_TRUE(o.PipeInput("o4", "tea:1").ok());
  EXPECT_EQ(named.ReadKeyValuesToList(),
            (std::vector<SSKV>{{"o1", "tea:2=Green tea"}, {"o3", "cake:3=Cheesecake"}}));
  EXPECT_EQ(all.ReadKeyValuesToList(),
            (std::vector<SSKV>{{"o1", "o1/tea:2=Green tea"},
                               {"o2", "o2/cake:1=missing"},
                               {"o3", "o3/cake:3=Cheesecake"},
                               {"o4", "o4/tea:1=missing"}}));
  // The global store is queryable like any other.
  auto store = driver->GetKeyValueStore<StringSerde, StringSerde>("products");
  ASSERT_TRUE(store.ok()) << store.status();
  auto rows = store->All();
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, (std::vector<SSKV>{{"cake", "Cheesecake"}}));
}

TEST(GlobalTableJoin, ARecordOfTheGlobalTopicThatDoesNotDeserializeIsAnErrorNamingIt) {
  for (bool skip : {false, true}) {
    SCOPED_TRACE(skip ? "continue" : "fail");
    StreamsBuilder builder;
    auto prices = builder.GlobalTable<std::string, int64_t>("prices");
    builder.Stream<std::string, std::string>("orders")
        .LeftJoin(prices, [](const std::string& k, const std::string&) { return k; },
                  [](const std::string& v, const std::optional<int64_t>& p) {
                    return v + "=" + (p ? std::to_string(*p) : "?");
                  })
        .To("out");
    std::map<std::string, std::string> config;
    if (skip) config["default.deserialization.exception.handler"] = "continue";
    auto driver = MakeDriver(builder, {}, config);
    ASSERT_NE(driver, nullptr);
    TestRawRecord bad;
    bad.key = "tea";
    bad.value = "not eight bytes";
    absl::Status s = driver->PipeRaw("prices", bad);
    if (!skip) {
      ASSERT_FALSE(s.ok());
      EXPECT_NE(s.message().find("global store 'prices-STATE-STORE-0000000000'"), std::string_view::npos) << s;
      EXPECT_NE(s.message().find("topic 'prices' partition 0 offset 0"), std::string_view::npos) << s;
      continue;
    }
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(driver->skipped_records(), 1u);
    auto prices_in = driver->CreateInputTopic("prices", StringSerde(), Int64Serde());
    auto orders = driver->CreateInputTopic("orders", StringSerde(), StringSerde());
    auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
    ASSERT_TRUE(orders.PipeInput("tea", "o1").ok());
    ASSERT_TRUE(prices_in.PipeInput("tea", 3).ok());
    ASSERT_TRUE(orders.PipeInput("tea", "o2").ok());
    EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SSKV>{{"tea", "o1=?"}, {"tea", "o2=3"}}));
  }
}

TEST(GlobalTableJoin, DescribeListsTheGlobalStoreAndATopicReadTwiceIsAnError) {
  {
    StreamsBuilder builder;
    builder.GlobalTable<std::string, std::string>("dims");
    builder.Stream<std::string, std::string>("facts").To("out");
    auto topology = builder.Build();
    ASSERT_TRUE(topology.ok()) << topology.status();
    EXPECT_NE(topology->Describe().find("Sub-topology: 1 for global store (will not generate tasks)"),
              std::string::npos)
        << topology->Describe();
  }
  StreamsBuilder builder;
  builder.GlobalTable<std::string, std::string>("dims");
  builder.Stream<std::string, std::string>("dims").To("out");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("topic 'dims' is read both by the global table"),
            std::string_view::npos)
      << topology.status();
}

}  // namespace
}  // namespace sluice
