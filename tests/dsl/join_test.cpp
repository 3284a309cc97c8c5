// Joins through the TopologyTestDriver: KStream-KTable (inner, left; the table as of
// processing order, tombstones, auto-repartition after a key change, derived tables) and
// KTable-KTable (inner, left, outer; new and old values; materialized or not; a join read
// by a later join). Caching is off unless a test says otherwise, so every update shows.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"

namespace sluice {
namespace {

using sluice::testing::MakeDriver;

using SSKV = KeyValue<std::string, std::string>;
using OptS = std::optional<std::string>;
using SOKV = KeyValue<std::string, OptS>;

const std::map<std::string, std::string> kNoCache = {{"cache.max.bytes.buffering", "0"}};

std::string Show(const OptS& s) { return s ? *s : "null"; }

// --- KStream-KTable -----------------------------------------------------------------------

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

// --- KTable-KTable ------------------------------------------------------------------------

struct TableJoinFixture {
  std::unique_ptr<TopologyTestDriver> driver;
  std::optional<TestInputTopic<StringSerde, Nullable<StringSerde>>> left, right;
  std::optional<TestOutputTopic<StringSerde, Nullable<StringSerde>>> out;
};

template <class BuildJoin>
TableJoinFixture MakeTableJoin(BuildJoin build, std::map<std::string, std::string> config = kNoCache) {
  StreamsBuilder builder;
  auto left = builder.Table<std::string, std::string>("left");
  auto right = builder.Table<std::string, std::string>("right");
  build(left, right).ToStream().To("out", Produced<StringSerde, Nullable<StringSerde>>());
  TopologyTestDriver::Options options;
  options.partitions["left"] = 2;
  options.partitions["right"] = 2;
  TableJoinFixture f;
  f.driver = MakeDriver(builder, options, std::move(config));
  if (f.driver == nullptr) return f;
  f.left.emplace(f.driver->CreateInputTopic("left", StringSerde(), Nullable<StringSerde>()));
  f.right.emplace(f.driver->CreateInputTopic("right", StringSerde(), Nullable<StringSerde>()));
  f.out.emplace(f.driver->CreateOutputTopic("out", StringSerde(), Nullable<StringSerde>()));
  return f;
}

// The same sequence of updates for every join kind:
//   L a=1, R a=x, L a=2, R b=y, L b=3, R a=null, L a=null, R b=null.
void PipeSequence(TableJoinFixture& f) {
  ASSERT_TRUE(f.left->PipeInput("a", "1").ok());
  ASSERT_TRUE(f.right->PipeInput("a", "x").ok());
  ASSERT_TRUE(f.left->PipeInput("a", "2").ok());
  ASSERT_TRUE(f.right->PipeInput("b", "y").ok());
  ASSERT_TRUE(f.left->PipeInput("b", "3").ok());
  ASSERT_TRUE(f.right->PipeInput("a", std::nullopt).ok());
  ASSERT_TRUE(f.left->PipeInput("a", std::nullopt).ok());
  ASSERT_TRUE(f.right->PipeInput("b", std::nullopt).ok());
}

TEST(TableTableJoin, InnerEmitsWhereBothSidesHaveAValueAndADeleteWhereOneGoes) {
  auto f = MakeTableJoin([](auto l, auto r) {
    return l.Join(r, [](const std::string& a, const std::string& b) { return a + b; });
  });
  ASSERT_NE(f.driver, nullptr);
  PipeSequence(f);
  EXPECT_EQ(f.out->ReadKeyValuesToList(),
            (std::vector<SOKV>{{"a", "1x"}, {"a", "2x"}, {"b", "3y"},
                               {"a", std::nullopt},  // R a=null: the row goes
                               {"b", std::nullopt}}));  // R b=null
}

TEST(TableTableJoin, LeftKeepsEveryLeftRow) {
  auto f = MakeTableJoin([](auto l, auto r) {
    return l.LeftJoin(r, [](const std::string& a, const OptS& b) { return a + Show(b); });
  });
  ASSERT_NE(f.driver, nullptr);
  PipeSequence(f);
  EXPECT_EQ(f.out->ReadKeyValuesToList(),
            (std::vector<SOKV>{{"a", "1null"}, {"a", "1x"}, {"a", "2x"}, {"b", "3y"},
                               {"a", "2null"}, {"a", std::nullopt}, {"b", "3null"}}));
}

TEST(TableTableJoin, OuterKeepsEveryRowOfEitherSide) {
  auto f = MakeTableJoin([](auto l, auto r) {
    return l.OuterJoin(r, [](const OptS& a, const OptS& b) { return Show(a) + Show(b); });
  });
  ASSERT_NE(f.driver, nullptr);
  PipeSequence(f);
  EXPECT_EQ(f.out->ReadKeyValuesToList(),
            (std::vector<SOKV>{{"a", "1null"}, {"a", "1x"}, {"a", "2x"}, {"b", "nully"},
                               {"b", "3y"}, {"a", "2null"}, {"a", std::nullopt},
                               {"b", "3null"}}));
}

TEST(TableTableJoin, AMaterializedJoinIsQueryableAndCachedUpdatesCollapse) {
  auto f = MakeTableJoin(
      [](auto l, auto r) {
        return l.Join(r, [](const std::string& a, const std::string& b) { return a + b; },
                      Materialized<StringSerde, StringSerde>::As("joined"));
      },
      {});  // the default record cache
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.left->PipeKeyValueList({{"a", "1"}, {"b", "3"}}).ok());
  ASSERT_TRUE(f.right->PipeKeyValueList({{"a", "x"}, {"b", "y"}, {"a", "z"}}).ok());
  auto store = f.driver->GetKeyValueStore<StringSerde, StringSerde>("joined");
  ASSERT_TRUE(store.ok()) << store.status();
  auto all = store->All();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, (std::vector<SSKV>{{"a", "1z"}, {"b", "3y"}}));
  // One commit for the right side's three updates: the cache emits each key once.
  std::map<std::string, OptS> last;
  size_t emitted = 0;
  for (auto& kv : f.out->ReadKeyValuesToList()) {
    last[kv.key] = kv.value;
    ++emitted;
  }
  EXPECT_EQ(emitted, 2u);
  EXPECT_EQ(last, (std::map<std::string, OptS>{{"a", "1z"}, {"b", "3y"}}));
}

TEST(TableTableJoin, OldValuesLetADownstreamGroupBySubtract) {
  // Two tables keyed by employee (department id, team name) joined, then counted per
  // "department/team": when an employee's team changes, the count moves from the old
  // row's group to the new one, which needs the join's old value.
  StreamsBuilder builder;
  auto dept_of = builder.Table<std::string, std::string>("employee-dept");
  auto dept_name = builder.Table<std::string, std::string>("dept-name");
  dept_of
      .Join(dept_name, [](const std::string& dept, const std::string& name) { return dept + "/" + name; })
      .GroupBy([](const std::string& employee, const std::string& dept) {
        return KeyValue<std::string, std::string>(dept, employee);
      })
      .Count(Materialized<StringSerde, Int64Serde>::As("per-dept"))
      .ToStream()
      .To("counts", Produced<StringSerde, Nullable<Int64Serde>>());
  auto driver = MakeDriver(builder, {}, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto of = driver->CreateInputTopic("employee-dept", StringSerde(), StringSerde());
  auto name = driver->CreateInputTopic("dept-name", StringSerde(), StringSerde());
  ASSERT_TRUE(of.PipeInput("ann", "d1").ok());
  ASSERT_TRUE(name.PipeInput("ann", "sales").ok());
  ASSERT_TRUE(of.PipeInput("bob", "d1").ok());
  ASSERT_TRUE(name.PipeInput("bob", "sales").ok());
  ASSERT_TRUE(name.PipeInput("ann", "ops").ok());  // ann's row changes: d1/sales -> d1/ops
  auto store = driver->GetKeyValueStore<StringSerde, Int64Serde>("per-dept");
  ASSERT_TRUE(store.ok()) << store.status();
  auto all = store->All();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, (std::vector<KeyValue<std::string, int64_t>>{{"d1/ops", 1}, {"d1/sales", 1}}));
}

TEST(TableTableJoin, AJoinThatIsNotMaterializedCanBeJoinedAgain) {
  StreamsBuilder builder;
  auto a = builder.Table<std::string, std::string>("a");
  auto b = builder.Table<std::string, std::string>("b");
  auto ab = a.Join(b, [](const std::string& x, const std::string& y) { return x + y; });
  builder.Stream<std::string, std::string>("probe")
      .LeftJoin(ab, [](const std::string& p, const OptS& v) { return p + "=" + Show(v); })
      .To("out");
  TopologyTestDriver::Options options;
  options.partitions["a"] = options.partitions["b"] = options.partitions["probe"] = 2;
  auto driver = MakeDriver(builder, options, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto a_in = driver->CreateInputTopic("a", StringSerde(), StringSerde());
  auto b_in = driver->CreateInputTopic("b", StringSerde(), StringSerde());
  auto probe = driver->CreateInputTopic("probe", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(a_in.PipeInput("k", "1").ok());
  ASSERT_TRUE(probe.PipeInput("k", "p1").ok());
  ASSERT_TRUE(b_in.PipeInput("k", "2").ok());
  ASSERT_TRUE(probe.PipeInput("k", "p2").ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SSKV>{{"k", "p1=null"}, {"k", "p2=12"}}));
}

TEST(TableTableJoin, DescribeShowsBothSidesAndTheMerge) {
  StreamsBuilder builder;
  auto l = builder.Table<std::string, std::string>("l");
  auto r = builder.Table<std::string, std::string>("r");
  l.LeftJoin(r, [](const std::string& a, const OptS&) { return a; }).ToStream().To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  const std::string d = topology->Describe();
  EXPECT_NE(d.find("KTABLE-LEFTTHIS-"), std::string::npos) << d;
  EXPECT_NE(d.find("KTABLE-LEFTOTHER-"), std::string::npos) << d;
  EXPECT_NE(d.find("KTABLE-MERGE-"), std::string::npos) << d;
  EXPECT_EQ(d.find("Sub-topology: 1"), std::string::npos) << "one sub-topology: " << d;
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// --- KStream-KStream ----------------------------------------------------------------------

using namespace std::chrono_literals;

struct Out {
  std::string key, value;
  int64_t timestamp;
  friend bool operator==(const Out&, const Out&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Out& o) {
    return os << "{" << o.key << ", " << o.value << " @" << o.timestamp << "}";
  }
};

std::vector<Out> ReadAll(TestOutputTopic<StringSerde, StringSerde>& topic) {
  std::vector<Out> out;
  auto records = topic.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  if (!records.ok()) return out;
  for (auto& r : *records) out.push_back({r.key, r.value, r.timestamp});
  return out;
}

// left and right streams of strings, joined by `build`, written to "out".
struct StreamJoinFixture {
  std::unique_ptr<TopologyTestDriver> driver;
  std::optional<TestInputTopic<StringSerde, StringSerde>> left, right;
  std::optional<TestOutputTopic<StringSerde, StringSerde>> out;
};

template <class BuildJoin>
StreamJoinFixture MakeStreamJoin(BuildJoin build, int partitions = 1) {
  StreamsBuilder builder;
  auto left = builder.Stream<std::string, std::string>("left");
  auto right = builder.Stream<std::string, std::string>("right");
  build(left, right).To("out");
  TopologyTestDriver::Options options;
  options.partitions["left"] = partitions;
  options.partitions["right"] = partitions;
  StreamJoinFixture f;
  f.driver = MakeDriver(builder, options);
  if (f.driver == nullptr) return f;
  f.left.emplace(f.driver->CreateInputTopic("left", StringSerde(), StringSerde()));
  f.right.emplace(f.driver->CreateInputTopic("right", StringSerde(), StringSerde()));
  f.out.emplace(f.driver->CreateOutputTopic("out", StringSerde(), StringSerde()));
  return f;
}

auto InnerJoin(JoinWindows windows) {
  return [windows](KStream<std::string, std::string> l, KStream<std::string, std::string> r) {
    return l.Join(r, [](const std::string& a, const std::string& b) { return a + "-" + b; }, windows);
  };
}
auto LeftJoin(JoinWindows windows) {
  return [windows](KStream<std::string, std::string> l, KStream<std::string, std::string> r) {
    return l.LeftJoin(r, [](const std::string& a, const OptS& b) { return a + "-" + Show(b); },
                      windows);
  };
}
auto OuterJoin(JoinWindows windows) {
  return [windows](KStream<std::string, std::string> l, KStream<std::string, std::string> r) {
    return l.OuterJoin(r, [](const OptS& a, const OptS& b) { return Show(a) + "-" + Show(b); },
                       windows);
  };
}

TEST(StreamStreamJoin, InnerJoinsRecordsWithinTheWindowEitherWayRoundAndOutOfOrder) {
  auto f = MakeStreamJoin(InnerJoin(JoinWindows::OfTimeDifferenceWithNoGrace(100ms)), 2);
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.left->PipeInput("k", "a", 1000).ok());
  ASSERT_TRUE(f.right->PipeInput("k", "x", 1050).ok());   // a-x, at the later timestamp
  ASSERT_TRUE(f.right->PipeInput("k", "y", 1200).ok());   // 200 ms after a: no
  ASSERT_TRUE(f.right->PipeInput("other", "z", 1200).ok());
  ASSERT_TRUE(f.left->PipeInput("k", "b", 1150).ok());    // b-x, b-y
  ASSERT_TRUE(f.left->PipeInput("k", "c", 1100).ok());    // out of order, not late: c-x, c-y
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "a-x", 1050},
                                               {"k", "b-x", 1150},
                                               {"k", "b-y", 1200},
                                               {"k", "c-x", 1100},
                                               {"k", "c-y", 1200}}));
  EXPECT_EQ(f.driver->late_records(), 0u);
}

TEST(StreamStreamJoin, ARecordOlderThanTheWindowsAndGraceIsDroppedAndCounted) {
  auto f = MakeStreamJoin(InnerJoin(JoinWindows::OfTimeDifferenceAndGrace(100ms, 50ms)));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.right->PipeInput("k", "x", 1000).ok());
  ASSERT_TRUE(f.left->PipeInput("k", "now", 1250).ok());  // stream time 1250; retention 250
  ASSERT_TRUE(f.left->PipeInput("k", "edge", 1000).ok()); // 1250 - 250 = 1000: still kept
  ASSERT_TRUE(f.left->PipeInput("k", "late", 999).ok());  // dropped, though x is in reach
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "edge-x", 1000}}));
  EXPECT_EQ(f.driver->late_records(), 1u);
}

TEST(StreamStreamJoin, BeforeAndAfterBoundTheOtherStreamsTimestampsOnEachSide) {
  // Right records may be at most 10 ms before and 100 ms after a left record.
  auto f = MakeStreamJoin(
      InnerJoin(JoinWindows::OfTimeDifferenceWithNoGrace(0ms).Before(10ms).After(100ms)));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.left->PipeInput("k", "a", 1000).ok());
  ASSERT_TRUE(f.right->PipeInput("k", "early", 989).ok());   // 11 ms before: no
  ASSERT_TRUE(f.right->PipeInput("k", "before", 990).ok());  // 10 ms before: yes
  ASSERT_TRUE(f.right->PipeInput("k", "after", 1100).ok());  // 100 ms after: yes
  ASSERT_TRUE(f.right->PipeInput("k", "later", 1101).ok());  // no
  // b at 1095 reaches right records in [1085, 1195].
  ASSERT_TRUE(f.left->PipeInput("k", "b", 1095).ok());
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "a-before", 1000},
                                               {"k", "a-after", 1100},
                                               {"k", "b-after", 1100},
                                               {"k", "b-later", 1101}}));
}

TEST(StreamStreamJoin, LeftJoinEmitsNulloptOnlyWhenTheWindowClosesNeverSpuriously) {
  auto f = MakeStreamJoin(LeftJoin(JoinWindows::OfTimeDifferenceAndGrace(100ms, 50ms)));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.left->PipeInput("k", "a", 1000).ok());       // no partner yet: waits
  ASSERT_TRUE(f.right->PipeInput("other", "o", 1120).ok());  // a's window closes at 1150
  ASSERT_TRUE(f.right->PipeInput("k", "x", 1090).ok());      // out of order, in grace: a-x
  ASSERT_TRUE(f.left->PipeInput("k", "b", 1300).ok());       // b waits (closes at 1450)
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "a-x", 1090}}));
  ASSERT_TRUE(f.right->PipeInput("other", "p", 1450).ok());  // 1450: b's window still open
  EXPECT_TRUE(ReadAll(*f.out).empty());
  ASSERT_TRUE(f.right->PipeInput("other", "q", 1451).ok());  // now it has closed
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "b-null", 1300}}));
  // A left record whose window closed already when it arrives is answered at once.
  ASSERT_TRUE(f.left->PipeInput("k", "c", 1290).ok());       // closes at 1440 < 1451
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k", "c-null", 1290}}));
}

TEST(StreamStreamJoin, OuterJoinEmitsUnmatchedRecordsOfBothSidesWhenTheirWindowsClose) {
  auto f = MakeStreamJoin(OuterJoin(JoinWindows::OfTimeDifferenceWithNoGrace(100ms)));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.left->PipeInput("k1", "a", 1000).ok());
  ASSERT_TRUE(f.right->PipeInput("k2", "x", 1000).ok());
  ASSERT_TRUE(f.right->PipeInput("k1", "y", 1100).ok());  // joins a: a-y; a no longer waits
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k1", "a-y", 1100}}));
  ASSERT_TRUE(f.left->PipeInput("k3", "b", 1201).ok());   // x (k2) closes at 1100 < 1201
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k2", "null-x", 1000}}));
  ASSERT_TRUE(f.left->PipeInput("k9", "c", 1500).ok());   // b closes; y found a, never waited
  EXPECT_EQ(ReadAll(*f.out), (std::vector<Out>{{"k3", "b-null", 1201}}));
}

TEST(StreamStreamJoin, ExpiredSegmentsAreDroppedFromTheWindowStoresAtCommit) {
  StreamsBuilder builder;
  auto left = builder.Stream<std::string, std::string>("left");
  auto right = builder.Stream<std::string, std::string>("right");
  left.Join(right, [](const std::string& a, const std::string& b) { return a + b; },
            JoinWindows::OfTimeDifferenceWithNoGrace(100ms),
            StreamJoined<StringSerde, StringSerde, StringSerde>().WithStoreName("j"))
      .To("out");
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto l = driver->CreateInputTopic("left", StringSerde(), StringSerde());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(l.PipeInput("k" + std::to_string(i), "v", i).ok());
  auto store = driver->GetKeyValueStore<BytesSerde, BytesSerde>("j-this-join-store");
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_EQ(store->All()->size(), 10u);
  // Segments are 60 s long (retention 200 ms); 3 minutes on, the first segment expires.
  ASSERT_TRUE(l.PipeInput("k0", "w", 180000).ok());
  EXPECT_EQ(store->All()->size(), 1u);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// An independent model of the windowed left join, record by record, over plain vectors:
// stream time, late records, partners within the window and the retention, and left
// records that wait for a partner until their window closes.
struct ModelRecord {
  bool left;
  std::string key, value;
  int64_t t;
};

std::vector<Out> ModelLeftJoin(const std::vector<ModelRecord>& input, int64_t before,
                               int64_t after, int64_t grace, bool inner) {
  const int64_t retention = before + after + grace;
  int64_t stream_time = std::numeric_limits<int64_t>::min();
  std::vector<const ModelRecord*> lefts, rights;  // accepted, in arrival order
  std::vector<const ModelRecord*> waiting;        // unmatched left records
  std::vector<Out> out;
  for (const ModelRecord& r : input) {
    stream_time = std::max(stream_time, r.t);
    if (r.t < stream_time - retention) continue;  // late
    if (!inner && r.t == stream_time) {
      std::vector<const ModelRecord*> closed, open;
      for (const ModelRecord* w : waiting) {
        (w->t + after + grace < stream_time ? closed : open).push_back(w);
      }
      std::stable_sort(closed.begin(), closed.end(),
                       [](const ModelRecord* a, const ModelRecord* b) { return a->t < b->t; });
      for (const ModelRecord* w : closed) out.push_back({w->key, w->value + "-null", w->t});
      waiting = open;
    }
    // From this record: the other side's records in [t - lo, t + hi].
    const int64_t lo = r.left ? before : after;
    const int64_t hi = r.left ? after : before;
    const int64_t from = std::max(r.t - lo, stream_time - retention);
    std::vector<const ModelRecord*> partners;
    for (const ModelRecord* o : r.left ? rights : lefts) {
      if (o->key == r.key && o->t >= from && o->t <= r.t + hi) partners.push_back(o);
    }
    std::stable_sort(partners.begin(), partners.end(),
                     [](const ModelRecord* a, const ModelRecord* b) { return a->t < b->t; });
    for (const ModelRecord* o : partners) {
      const ModelRecord& l = r.left ? r : *o;
      const ModelRecord& rr = r.left ? *o : r;
      out.push_back({r.key, l.value + "-" + rr.value, std::max(r.t, o->t)});
      if (!r.left) std::erase(waiting, o);
    }
    (r.left ? lefts : rights).push_back(&r);
    if (!inner && r.left && partners.empty()) {
      if (r.t + after + grace < stream_time) {
        out.push_back({r.key, r.value + "-null", r.t});
      } else {
        waiting.push_back(&r);
      }
    }
  }
  return out;
}

class StreamStreamJoinModel : public ::testing::TestWithParam<std::tuple<bool, uint32_t>> {};

TEST_P(StreamStreamJoinModel, MatchesAnIndependentModelOnRandomOutOfOrderInput) {
  const bool inner = std::get<0>(GetParam());
  const uint32_t seed = std::get<1>(GetParam());
  const int64_t before = 30, after = 50, grace = 20;
  auto windows = JoinWindows::OfTimeDifferenceAndGrace(0ms, std::chrono::milliseconds(grace))
                     .Before(std::chrono::milliseconds(before))
                     .After(std::chrono::milliseconds(after));
  auto f = inner ? MakeStreamJoin(InnerJoin(windows)) : MakeStreamJoin(LeftJoin(windows));
  ASSERT_NE(f.driver, nullptr);
  std::mt19937 rng(seed);
  std::vector<ModelRecord> input;
  int64_t clock = 1000;
  for (int i = 0; i < 400; ++i) {
    clock += std::uniform_int_distribution<int>(0, 8)(rng);
    // Mostly in order; some up to 150 ms behind (past grace and retention: late).
    int64_t t = clock - (std::uniform_int_distribution<int>(0, 9)(rng) == 0
                             ? std::uniform_int_distribution<int>(0, 150)(rng)
                             : 0);
    input.push_back({std::uniform_int_distribution<int>(0, 1)(rng) == 0,
                     "k" + std::to_string(std::uniform_int_distribution<int>(0, 4)(rng)),
                     std::to_string(i), t});
  }
  for (const ModelRecord& r : input) {
    ASSERT_TRUE((r.left ? *f.left : *f.right).PipeInput(r.key, r.value, r.t).ok());
  }
  const std::vector<Out> want = ModelLeftJoin(input, before, after, grace, inner);
  const std::vector<Out> got = ReadAll(*f.out);
  EXPECT_EQ(got, want);
  EXPECT_GT(want.size(), 50u) << "the input should join often";
  EXPECT_GT(f.driver->late_records(), 0u) << "the input should have late records";
}

INSTANTIATE_TEST_SUITE_P(Seeds, StreamStreamJoinModel,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(1u, 2u, 3u)),
                         [](const ::testing::TestParamInfo<std::tuple<bool, uint32_t>>& info) {
                           return std::string(std::get<0>(info.param) ? "Inner" : "Left") +
                                  "Seed" + std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// --- KStream-GlobalKTable -----------------------------------------------------------------

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

namespace sluice {
namespace {

// --- Foreign-key KTable-KTable ------------------------------------------------------------

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
