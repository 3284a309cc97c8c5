// KStream-KTable joins through the TopologyTestDriver: inner and left, the table as of
// processing order, tombstones, auto-repartition after a key change, tables derived
// without a store, null values, and the orders / stock-reservations scenario.
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

// orders (key: product) joined with stock (key: product): "order/stock".
StreamsBuilder OrdersWithStock(bool left, int partitions, TopologyTestDriver::Options* options) {
  StreamsBuilder builder;
  KTable<std::string, std::string> stock =
      builder.Table("stock", Consumed<StringSerde, StringSerde>(),
                    Materialized<StringSerde, StringSerde>::As("stock-store"));
  KStream<std::string, std::string> orders = builder.Stream<std::string, std::string>("orders");
  if (left) {
    orders.LeftJoin(stock, [](const std::string& order, const OptS& s) { return order + "/" + Show(s); })
        .To("out");
  } else {
    orders.Join(stock, [](const std::string& order, const std::string& s) { return order + "/" + s; })
        .To("out");
  }
  options->partitions["stock"] = partitions;
  options->partitions["orders"] = partitions;
  return builder;
}

// The table's getter keeps the values it decoded last (512 slots by key hash, each with
// the bytes it came from): with 2,000 keys (so slots are shared) updated, deleted and
// re-joined in a random order, every join must see the table exactly as of its record,
// cache on and off, and with values of equal bytes under different keys.
TEST(StreamTableJoin, EveryJoinSeesTheCurrentValueThroughTheGettersDecodedValues) {
  for (bool cache : {true, false}) {
    TopologyTestDriver::Options options;
    StreamsBuilder builder = OrdersWithStock(false, 1, &options);
    auto driver = cache ? MakeDriver(builder, options) : MakeDriver(builder, options, kNoCache);
    ASSERT_NE(driver, nullptr);
    auto stock = driver->CreateInputTopic("stock", StringSerde(), Nullable<StringSerde>());
    auto orders = driver->CreateInputTopic("orders", StringSerde(), StringSerde());
    auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
    std::map<std::string, std::string> table;
    std::vector<SSKV> expected;
    std::mt19937 rng(11);
    for (int i = 0; i < 20000; ++i) {
      const std::string key = "p" + std::to_string(rng() % 2000);
      const int action = static_cast<int>(rng() % 10);
      if (action < 3) {
        // Few distinct values: different keys often hold equal bytes.
        const std::string value = "v" + std::to_string(rng() % 5);
        ASSERT_TRUE(stock.PipeInput(key, value, 0).ok());
        table[key] = value;
      } else if (action == 3) {
        ASSERT_TRUE(stock.PipeInput(key, std::nullopt, 0).ok());
        table.erase(key);
      } else {
        const std::string order = "o" + std::to_string(i);
        ASSERT_TRUE(orders.PipeInput(key, order, 0).ok());
        auto it = table.find(key);
        if (it != table.end()) expected.push_back({key, order + "/" + it->second});
      }
    }
    EXPECT_EQ(out.ReadKeyValuesToList(), expected) << (cache ? "cache on" : "cache off");
  }
}

TEST(StreamTableJoin, InnerSeesTheTableAsOfEachRecordAndDropsRecordsWithoutAMatch) {
  TopologyTestDriver::Options options;
  StreamsBuilder builder = OrdersWithStock(false, 3, &options);
  auto driver = MakeDriver(builder, options, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto stock = driver->CreateInputTopic("stock", StringSerde(), Nullable<StringSerde>());
  auto orders = driver->CreateInputTopic("orders", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());

  ASSERT_TRUE(orders.PipeInput("apple", "o1").ok());  // no stock yet: dropped
  ASSERT_TRUE(stock.PipeInput("apple", "5").ok());     // a table update emits nothing
  EXPECT_TRUE(out.ReadKeyValuesToList().empty());
  ASSERT_TRUE(orders.PipeInput("apple", "o2").ok());
  ASSERT_TRUE(stock.PipeInput("apple", "4").ok());
  ASSERT_TRUE(orders.PipeInput("apple", "o3").ok());
  ASSERT_TRUE(orders.PipeInput("pear", "o4").ok());   // no such product: dropped
  ASSERT_TRUE(stock.PipeInput("pear", "9").ok());
  ASSERT_TRUE(orders.PipeInput("pear", "o5").ok());
  ASSERT_TRUE(stock.PipeInput("apple", std::nullopt).ok());  // tombstone: apple gone
  ASSERT_TRUE(orders.PipeInput("apple", "o6").ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SSKV>{{"apple", "o2/5"}, {"apple", "o3/4"}, {"pear", "o5/9"}}));
}

TEST(StreamTableJoin, LeftJoinsEveryRecordWithNulloptWhereTheTableHasNoValue) {
  TopologyTestDriver::Options options;
  StreamsBuilder builder = OrdersWithStock(true, 2, &options);
  auto driver = MakeDriver(builder, options, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto stock = driver->CreateInputTopic("stock", StringSerde(), Nullable<StringSerde>());
  auto orders = driver->CreateInputTopic("orders", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(orders.PipeInput("apple", "o1").ok());
  ASSERT_TRUE(stock.PipeInput("apple", "5").ok());
  ASSERT_TRUE(orders.PipeInput("apple", "o2").ok());
  ASSERT_TRUE(stock.PipeInput("apple", std::nullopt).ok());
  ASSERT_TRUE(orders.PipeInput("apple", "o3").ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SSKV>{{"apple", "o1/null"}, {"apple", "o2/5"}, {"apple", "o3/null"}}));
}

TEST(StreamTableJoin, TheJoinerMayTakeTheKeyAndTheOutputKeepsTheRecordsTimestamp) {
  StreamsBuilder builder;
  auto table = builder.Table<std::string, int64_t>("prices");
  builder.Stream<std::string, int64_t>("quantities")
      .Join(table, [](const std::string& key, int64_t qty, int64_t price) {
        return key + "=" + std::to_string(qty * price);
      })
      .To("totals", Produced<StringSerde, StringSerde>());
  auto driver = MakeDriver(builder, {}, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto prices = driver->CreateInputTopic("prices", StringSerde(), Int64Serde());
  auto qty = driver->CreateInputTopic("quantities", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("totals", StringSerde(), StringSerde());
  ASSERT_TRUE(prices.PipeInput("nut", 3, 5000).ok());
  ASSERT_TRUE(qty.PipeInput("nut", 7, 1000).ok());  // earlier timestamp than the table row
  auto records = out.ReadRecordsToList();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].value, "nut=21");
  EXPECT_EQ((*records)[0].timestamp, 1000);
}

TEST(StreamTableJoin, AStreamWhoseKeyChangedIsRepartitionedByTheNewKeyFirst) {
  // Orders keyed by order id carry the product; the join needs them keyed by product.
  StreamsBuilder builder;
  auto stock = builder.Table<std::string, std::string>("stock");
  builder.Stream<std::string, std::string>("orders")
      .SelectKey([](const std::string&, const std::string& product) { return product; })
      .Join(stock, [](const std::string& product, const std::string& s) { return product + ":" + s; },
            Joined<StringSerde, StringSerde>::As("orders-by-product"))
      .To("out");
  TopologyTestDriver::Options options;
  options.partitions["orders"] = 3;
  options.partitions["stock"] = 4;
  absl::StatusOr<Topology> topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  const std::string described = topology->Describe();
  EXPECT_NE(described.find("orders-by-product-repartition"), std::string::npos) << described;
  auto driver = MakeDriver(builder, options, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto stock_in = driver->CreateInputTopic("stock", StringSerde(), StringSerde());
  auto orders = driver->CreateInputTopic("orders", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  std::vector<SSKV> want;
  for (int p = 0; p < 8; ++p) {
    const std::string product = "product-" + std::to_string(p);
    ASSERT_TRUE(stock_in.PipeInput(product, std::to_string(p * 10)).ok());
  }
  for (int o = 0; o < 24; ++o) {
    const std::string product = "product-" + std::to_string(o % 8);
    ASSERT_TRUE(orders.PipeInput("order-" + std::to_string(o), product).ok());
    want.push_back({product, product + ":" + std::to_string((o % 8) * 10)});
  }
  std::vector<SSKV> got = out.ReadKeyValuesToList();
  std::sort(got.begin(), got.end(), [](const SSKV& a, const SSKV& b) {
    return std::tie(a.key, a.value) < std::tie(b.key, b.value);
  });
  std::sort(want.begin(), want.end(), [](const SSKV& a, const SSKV& b) {
    return std::tie(a.key, a.value) < std::tie(b.key, b.value);
  });
  EXPECT_EQ(got, want);
  EXPECT_EQ(driver->ReadRaw("orders-by-product-repartition").size(), 0u)
      << "the driver consumed the repartition topic";
}

TEST(StreamTableJoin, ATableDerivedWithoutAStoreIsReadThroughItsParent) {
  StreamsBuilder builder;
  auto prices = builder.Table<std::string, int64_t>("prices");
  auto cheap = prices.Filter([](const std::string&, int64_t p) { return p < 10; })
                   .MapValues([](int64_t p) { return "$" + std::to_string(p); });
  builder.Stream<std::string, std::string>("views")
      .LeftJoin(cheap, [](const std::string& who, const OptS& price) { return who + " " + Show(price); })
      .To("out");
  auto driver = MakeDriver(builder, {}, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto prices_in = driver->CreateInputTopic("prices", StringSerde(), Int64Serde());
  auto views = driver->CreateInputTopic("views", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(prices_in.PipeInput("tea", 4).ok());
  ASSERT_TRUE(prices_in.PipeInput("wine", 40).ok());
  ASSERT_TRUE(views.PipeInput("tea", "ann").ok());
  ASSERT_TRUE(views.PipeInput("wine", "bob").ok());  // filtered out of the table
  ASSERT_TRUE(prices_in.PipeInput("tea", 12).ok());  // no longer cheap
  ASSERT_TRUE(views.PipeInput("tea", "cy").ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SSKV>{{"tea", "ann $4"}, {"wine", "bob null"}, {"tea", "cy null"}}));
}

TEST(StreamTableJoin, RecordsWithANullValueAreDropped) {
  StreamsBuilder builder;
  auto table = builder.Table<std::string, std::string>("t");
  builder.Stream("s", Consumed<StringSerde, Nullable<StringSerde>>())
      .LeftJoin(table, [](const OptS& v, const OptS& t) { return Show(v) + "+" + Show(t); })
      .To("out");
  auto driver = MakeDriver(builder, {}, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto s = driver->CreateInputTopic("s", StringSerde(), Nullable<StringSerde>());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(s.PipeInput("k", std::nullopt).ok());
  ASSERT_TRUE(s.PipeInput("k", "v").ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SSKV>{{"k", "v+null"}}));
}

// A value type with no default serde, read and written with its own.
struct Point {
  int32_t x = 0;
};
struct PointSerde {
  using Type = Point;
  static constexpr std::string_view kName = "PointSerde";
  void Serialize(const Point& p, std::string& buf) const { Int32Serde().Serialize(p.x, buf); }
  absl::Status Deserialize(std::string_view bytes, Point& p) const {
    return Int32Serde().Deserialize(bytes, p.x);
  }
};

TEST(StreamTableJoin, AValueWithoutADefaultSerdeNeedsJoinedOnlyWhenARepartitionIsNeeded) {
  {
    StreamsBuilder builder;
    auto table = builder.Table<std::string, std::string>("t");
    builder.Stream("points", Consumed<StringSerde, PointSerde>())
        .Join(table, [](const Point& p, const std::string& t) { return t + std::to_string(p.x); })
        .To("out");
    auto driver = MakeDriver(builder, {}, kNoCache);
    ASSERT_NE(driver, nullptr);
    auto t = driver->CreateInputTopic("t", StringSerde(), StringSerde());
    auto points = driver->CreateInputTopic("points", StringSerde(), PointSerde());
    auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
    ASSERT_TRUE(t.PipeInput("k", "x=").ok());
    ASSERT_TRUE(points.PipeInput("k", Point{7}).ok());
    EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SSKV>{{"k", "x=7"}}));
  }
  StreamsBuilder builder;
  auto table = builder.Table<std::string, std::string>("t");
  builder.Stream("points", Consumed<StringSerde, PointSerde>())
      .SelectKey([](const std::string& k, const Point&) { return k + "!"; })
      .Join(table, [](const Point& p, const std::string& t) { return t + std::to_string(p.x); })
      .To("out");
  absl::StatusOr<Topology> topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_NE(topology.status().message().find("pass Joined<KeySerde, ValueSerde>()"),
            std::string_view::npos)
      << topology.status();
}

// The orders / stock-reservations scenario, both ways round: orders joined with the
// reservations table (what was reserved for this order), and reservation events joined
// with the orders table (which order a reservation belongs to).
TEST(StreamTableJoin, OrdersWithReservationsAndReservationsWithOrders) {
  StreamsBuilder builder;
  auto reservations = builder.Table("reservations", Consumed<StringSerde, StringSerde>(),
                                    Materialized<StringSerde, StringSerde>::As("reservations"));
  auto orders_table = builder.Table("orders-table", Consumed<StringSerde, StringSerde>(),
                                    Materialized<StringSerde, StringSerde>::As("orders"));
  builder.Stream<std::string, std::string>("order-events")
      .LeftJoin(reservations,
                [](const std::string& order, const OptS& reserved) {
                  return order + (reserved ? " reserved " + *reserved : " awaiting stock");
                })
      .To("order-status");
  builder.Stream<std::string, std::string>("reservation-events")
      .Join(orders_table, [](const std::string& reservation, const std::string& order) {
        return reservation + " for " + order;
      })
      .To("reservation-status");
  TopologyTestDriver::Options options;
  for (const char* t : {"reservations", "orders-table", "order-events", "reservation-events"}) {
    options.partitions[t] = 3;
  }
  auto driver = MakeDriver(builder, options, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto res = driver->CreateInputTopic("reservations", StringSerde(), Nullable<StringSerde>());
  auto ord = driver->CreateInputTopic("orders-table", StringSerde(), StringSerde());
  auto order_events = driver->CreateInputTopic("order-events", StringSerde(), StringSerde());
  auto res_events = driver->CreateInputTopic("reservation-events", StringSerde(), StringSerde());
  auto order_status = driver->CreateOutputTopic("order-status", StringSerde(), StringSerde());
  auto res_status = driver->CreateOutputTopic("reservation-status", StringSerde(), StringSerde());

  ASSERT_TRUE(order_events.PipeInput("o1", "placed").ok());
  ASSERT_TRUE(res.PipeInput("o1", "2x widget").ok());
  ASSERT_TRUE(order_events.PipeInput("o1", "paid").ok());
  ASSERT_TRUE(res.PipeInput("o1", std::nullopt).ok());  // reservation released
  ASSERT_TRUE(order_events.PipeInput("o1", "cancelled").ok());
  ASSERT_TRUE(res_events.PipeInput("o2", "r-7").ok());  // order o2 not known yet
  ASSERT_TRUE(ord.PipeInput("o2", "ann's order").ok());
  ASSERT_TRUE(res_events.PipeInput("o2", "r-8").ok());
  EXPECT_EQ(order_status.ReadKeyValuesToList(),
            (std::vector<SSKV>{{"o1", "placed awaiting stock"},
                               {"o1", "paid reserved 2x widget"},
                               {"o1", "cancelled awaiting stock"}}));
  EXPECT_EQ(res_status.ReadKeyValuesToList(), (std::vector<SSKV>{{"o2", "r-8 for ann's order"}}));
}


// One topic carries both sides: "t:<v>" records set the table, "s:<v>" records are
// joined with it. Within one batch (as an App takes records after a poll), each stream
// record must see exactly the table updates before it, as Kafka Streams' one record at a
// time would; the table branch and the stream branch both hang off the one source.
TEST(StreamTableJoin, AStreamJoinedWithATableOfTheSameTopicSeesTheUpdatesBeforeEachRecord) {
  for (bool table_first : {true, false}) {
    StreamsBuilder builder;
    auto events = builder.Stream<std::string, std::string>("events");
    auto is = [](char kind) {
      return [kind](const std::string&, const std::string& v) { return v.size() > 2 && v[0] == kind; };
    };
    auto tail = [](const std::string& v) { return v.substr(2); };
    std::optional<KTable<std::string, std::string>> table;
    auto make_table = [&] { table = events.Filter(is('t')).MapValues(tail).ToTable(); };
    if (table_first) make_table();
    auto stream = events.Filter(is('s')).MapValues(tail);
    if (!table_first) make_table();
    stream.Join(*table, [](const std::string& s, const std::string& t) { return s + "/" + t; }).To("out");
    auto driver = MakeDriver(builder, {}, kNoCache);
    ASSERT_NE(driver, nullptr);
    auto raw = [](std::string k, std::string v) {
      TestRawRecord r;
      r.key = std::move(k);
      r.value = std::move(v);
      return r;
    };
    ASSERT_TRUE(driver->PipeRawBatch("events", {raw("k", "s:early"), raw("k", "t:v1"), raw("k", "s:a"),
                                                raw("k", "t:v2"), raw("k", "s:b"), raw("j", "s:none")})
                    .ok());
    auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
    EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SSKV>{{"k", "a/v1"}, {"k", "b/v2"}}))
        << (table_first ? "table declared first" : "stream declared first");
  }
}

}  // namespace
}  // namespace sluice
