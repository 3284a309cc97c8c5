// Joins in a running App on the embedded broker: a re-keyed stream joined with a table
// through a repartition topic sized to the table's topic, a KTable-KTable join whose
// result survives a restart from the changelogs alone, and the co-partitioning error.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sluice/sluice.h"
#include "tests/engine/engine_test_util.h"

namespace sluice {
namespace {

using sluice::testing::ProduceAll;
using sluice::testing::ReadTopic;
using sluice::testing::StateDir;
using sluice::testing::TestAppConfig;

// Waits until the store holds exactly `want` (committed, so queryable).
::testing::AssertionResult AwaitContents(const App& app, const std::string& store,
                                         const std::map<std::string, std::string>& want) {
  std::string last;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto view = app.Store<StringSerde, StringSerde>(store);
    if (view.ok()) {
      auto all = view->All();
      if (all.ok()) {
        std::map<std::string, std::string> got;
        for (auto& kv : *all) got[kv.key] = kv.value;
        if (got == want) return ::testing::AssertionSuccess();
        last = std::to_string(got.size()) + " entries, " +
               std::to_string(std::count_if(want.begin(), want.end(), [&](const auto& kv) {
                 auto it = got.find(kv.first);
                 return it != got.end() && it->second == kv.second;
               })) +
               " as expected";
      } else {
        last = std::string(all.status().message());
      }
    } else {
      last = std::string(view.status().message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ::testing::AssertionFailure() << "store '" << store << "': " << last;
}

TEST(JoinApp, AReKeyedStreamJoinsATableThroughARepartitionTopicOfTheTablesPartitionCount) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("orders", 2).ok());   // keyed by order id
  ASSERT_TRUE(broker->CreateTopic("stock", 4).ok());    // keyed by product
  ASSERT_TRUE(broker->CreateTopic("enriched", 4).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir;
  StreamsBuilder builder;
  auto stock = builder.Table("stock", Consumed<StringSerde, StringSerde>(),
                             Materialized<StringSerde, StringSerde>::As("stock"));
  builder.Stream<std::string, std::string>("orders")
      .SelectKey([](const std::string&, const std::string& product) { return product; })
      .Join(stock, [](const std::string& product, const std::string& qty) { return product + " x" + qty; },
            Joined<StringSerde, StringSerde>::As("orders-by-product"))
      .To("enriched");
  std::vector<std::pair<std::string, std::string>> stock_rows;
  std::map<std::string, std::string> stock_table;
  for (int p = 0; p < 20; ++p) {
    stock_rows.emplace_back("p" + std::to_string(p), std::to_string(p));
    stock_table["p" + std::to_string(p)] = std::to_string(p);
  }
  ProduceAll(servers, "stock", stock_rows);

  auto props = TestAppConfig("join-app");
  props["state.dir"] = dir.path();
  props["num.stream.threads"] = "2";
  auto app = App::Create(builder.Build().value(), StreamsConfig::Create(props).value(), broker.get())
                 .value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  // The table first, so that every order finds its product.
  ASSERT_TRUE(AwaitContents(*app, "stock", stock_table));
  std::vector<std::pair<std::string, std::string>> orders;
  std::map<std::string, int> want;
  for (int o = 0; o < 200; ++o) {
    const std::string product = "p" + std::to_string(o % 20);
    orders.emplace_back("order-" + std::to_string(o), product);
    ++want[product + " x" + std::to_string(o % 20)];
  }
  ProduceAll(servers, "orders", orders);
  auto out = ReadTopic(servers, "enriched", 4, 200, std::chrono::seconds(60));
  std::map<std::string, int> got;
  for (const auto& r : out) {
    ASSERT_TRUE(r.key && r.value);
    EXPECT_EQ(r.value->substr(0, r.key->size()), *r.key);
    ++got[*r.value];
  }
  EXPECT_EQ(got, want);
  // The repartition topic got the table's 4 partitions, not the orders' 2: records of
  // all 4 partitions come back when reading it.
  auto repartitioned = ReadTopic(servers, "join-app-orders-by-product-repartition", 4, 200);
  std::set<int32_t> partitions;
  for (const auto& r : repartitioned) partitions.insert(r.partition);
  EXPECT_EQ(repartitioned.size(), 200u);
  EXPECT_EQ(partitions.size(), 4u);
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

TEST(JoinApp, AMaterializedTableJoinIsRebuiltFromTheChangelogsAfterTheStateIsLost) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("customers", 2).ok());
  ASSERT_TRUE(broker->CreateTopic("addresses", 2).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir;
  auto topology = [] {
    StreamsBuilder builder;
    auto customers = builder.Table<std::string, std::string>("customers");
    auto addresses = builder.Table<std::string, std::string>("addresses");
    customers
        .LeftJoin(addresses,
                  [](const std::string& name, const std::optional<std::string>& address) {
                    return name + " @ " + address.value_or("?");
                  },
                  Materialized<StringSerde, StringSerde>::As("customer-view"))
        .ToStream()
        .To("views", Produced<StringSerde, Nullable<StringSerde>>());
    return builder.Build().value();
  };
  std::vector<std::pair<std::string, std::string>> customers, addresses;
  for (int c = 0; c < 30; ++c) {
    customers.emplace_back("c" + std::to_string(c), "name" + std::to_string(c));
    if (c % 3 == 0) addresses.emplace_back("c" + std::to_string(c), "street" + std::to_string(c));
  }
  ProduceAll(servers, "customers", customers);
  ProduceAll(servers, "addresses", addresses);
  auto props = TestAppConfig("table-join-app");
  props["state.dir"] = dir.path();
  // Whether a customer first joined before its address arrived depends on timing; the
  // final rows do not.
  std::map<std::string, std::string> want;
  for (int c = 0; c < 30; ++c) {
    want["c" + std::to_string(c)] = "name" + std::to_string(c) + " @ " +
                                    (c % 3 == 0 ? "street" + std::to_string(c) : std::string("?"));
  }
  auto expect_view = [&](const App& app) { EXPECT_TRUE(AwaitContents(app, "customer-view", want)); };
  {
    auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
    ASSERT_TRUE(app->Start().ok());
    ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
    expect_view(*app);
    EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
  }
  std::filesystem::remove_all(std::filesystem::path(dir.path()) / "table-join-app");
  auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  expect_view(*app);
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

TEST(JoinApp, AStreamStreamJoinFindsPartnersRestoredFromTheChangelogAfterTheStateIsLost) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("orders", 2).ok());
  ASSERT_TRUE(broker->CreateTopic("payments", 2).ok());
  ASSERT_TRUE(broker->CreateTopic("paid", 2).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir;
  auto topology = [] {
    StreamsBuilder builder;
    builder.Stream<std::string, std::string>("orders")
        .Join(builder.Stream<std::string, std::string>("payments"),
              [](const std::string& order, const std::string& payment) { return order + "+" + payment; },
              JoinWindows::OfTimeDifferenceWithNoGrace(std::chrono::minutes(5)),
              StreamJoined<StringSerde, StringSerde, StringSerde>().WithStoreName("order-payment"))
        .To("paid");
    return builder.Build().value();
  };
  auto props = TestAppConfig("stream-join-app");
  props["state.dir"] = dir.path();
  std::vector<std::pair<std::string, std::string>> orders, payments;
  std::map<std::string, std::string> want;
  for (int o = 0; o < 40; ++o) {
    const std::string id = "order-" + std::to_string(o);
    orders.emplace_back(id, "o" + std::to_string(o));
    payments.emplace_back(id, "p" + std::to_string(o));
    want[id] = "o" + std::to_string(o) + "+p" + std::to_string(o);
  }
  {
    auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
    ASSERT_TRUE(app->Start().ok());
    ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
    ProduceAll(servers, "orders", orders);
    // Wait until every order is in the committed window store.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    size_t stored = 0;
    while (stored < orders.size() && std::chrono::steady_clock::now() < deadline) {
      auto view = app->Store<BytesSerde, BytesSerde>("order-payment-this-join-store");
      if (view.ok()) {
        auto all = view->All();
        if (all.ok()) {
          // Records only: each task's store also records its stream time under 0xff...
          stored = 0;
          for (const auto& kv : *all) stored += static_cast<uint8_t>(kv.key.view()[0]) != 0xff;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(stored, orders.size());
    EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
  }
  std::filesystem::remove_all(std::filesystem::path(dir.path()) / "stream-join-app");
  auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  ProduceAll(servers, "payments", payments);
  auto out = ReadTopic(servers, "paid", 2, want.size(), std::chrono::seconds(60));
  std::map<std::string, std::string> got;
  for (const auto& r : out) {
    ASSERT_TRUE(r.key && r.value);
    got[*r.key] = *r.value;
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(out.size(), want.size()) << "each order meets its payment once";
  EXPECT_EQ(app->metrics().records_late, 0u);
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

TEST(JoinApp, EveryInstanceLoadsTheWholeGlobalTableBeforeProcessingAndKeepsItCurrent) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("products", 3).ok());
  ASSERT_TRUE(broker->CreateTopic("orders", 4).ok());
  ASSERT_TRUE(broker->CreateTopic("lines", 4).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir_a, dir_b;
  auto topology = [] {
    StreamsBuilder builder;
    auto products = builder.GlobalTable("products", Consumed<StringSerde, StringSerde>(),
                                        Materialized<StringSerde, StringSerde>::As("products"));
    builder.Stream<std::string, std::string>("orders")
        .LeftJoin(products, [](const std::string&, const std::string& product) { return product; },
                  [](const std::string& product, const std::optional<std::string>& name) {
                    return product + "=" + name.value_or("missing");
                  })
        .To("lines");
    return builder.Build().value();
  };
  // Everything is in the topics before either instance starts: an order processed
  // before the global table is loaded would come out "missing".
  std::vector<std::pair<std::string, std::string>> products, orders;
  std::map<std::string, std::string> catalog;
  for (int p = 0; p < 30; ++p) {
    products.emplace_back("p" + std::to_string(p), "name" + std::to_string(p));
    catalog["p" + std::to_string(p)] = "name" + std::to_string(p);
  }
  for (int o = 0; o < 100; ++o) orders.emplace_back("o" + std::to_string(o), "p" + std::to_string(o % 30));
  ProduceAll(servers, "products", products);
  ProduceAll(servers, "orders", orders);
  auto start = [&](const StateDir& dir) {
    auto props = TestAppConfig("global-join-app");
    props["state.dir"] = dir.path();
    auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
    EXPECT_TRUE(app->Start().ok());
    return app;
  };
  auto a = start(dir_a);
  auto b = start(dir_b);
  ASSERT_TRUE(a->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  ASSERT_TRUE(b->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  auto out = ReadTopic(servers, "lines", 4, 100, std::chrono::seconds(60));
  std::map<std::string, std::string> got;
  for (const auto& r : out) got[*r.key] = *r.value;
  ASSERT_EQ(got.size(), 100u);
  for (int o = 0; o < 100; ++o) {
    const std::string p = "p" + std::to_string(o % 30);
    EXPECT_EQ(got["o" + std::to_string(o)], p + "=name" + std::to_string(o % 30));
  }
  // Both instances hold the whole table.
  EXPECT_TRUE(AwaitContents(*a, "products", catalog));
  EXPECT_TRUE(AwaitContents(*b, "products", catalog));
  // And keep it current.
  ProduceAll(servers, "products", {{"p0", "renamed"}});
  catalog["p0"] = "renamed";
  EXPECT_TRUE(AwaitContents(*a, "products", catalog));
  EXPECT_TRUE(AwaitContents(*b, "products", catalog));
  ProduceAll(servers, "orders", {{"o100", "p0"}});
  // Wait for o100 itself: a rebalance between the two instances can replay earlier
  // orders (at-least-once), so a count of output records does not say o100 is in.
  std::optional<std::string> line;
  for (int attempt = 0; attempt < 30 && !line; ++attempt) {
    for (const auto& r : ReadTopic(servers, "lines", 4, SIZE_MAX, std::chrono::seconds(2))) {
      if (*r.key == "o100") line = *r.value;
    }
  }
  EXPECT_EQ(line, std::optional<std::string>("p0=renamed"));
  EXPECT_TRUE(a->Close(std::chrono::seconds(30)));
  EXPECT_TRUE(b->Close(std::chrono::seconds(30)));
}

TEST(JoinApp, AForeignKeyJoinOfTablesWithDifferentPartitionCountsFollowsBothSides) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("orders", 3).ok());
  ASSERT_TRUE(broker->CreateTopic("customers", 2).ok());
  const std::string servers = broker->bootstrap_servers();
  StateDir dir;
  auto topology = [] {
    StreamsBuilder builder;
    auto orders = builder.Table<std::string, std::string>("orders");
    auto customers = builder.Table<std::string, std::string>("customers");
    orders
        .Join(customers,
              [](const std::string& order) { return order.substr(0, order.find('|')); },
              [](const std::string& order, const std::string& name) {
                return order.substr(order.find('|') + 1) + " for " + name;
              },
              ForeignKeyJoined<StringSerde, StringSerde, StringSerde>().WithName("orders-customers"),
              Materialized<StringSerde, StringSerde>::As("order-view"));
    return builder.Build().value();
  };
  std::vector<std::pair<std::string, std::string>> customers, orders;
  std::map<std::string, std::string> want;
  for (int c = 0; c < 10; ++c) customers.emplace_back("c" + std::to_string(c), "name" + std::to_string(c));
  for (int o = 0; o < 40; ++o) {
    orders.emplace_back("o" + std::to_string(o), "c" + std::to_string(o % 10) + "|item" + std::to_string(o));
    want["o" + std::to_string(o)] = "item" + std::to_string(o) + " for name" + std::to_string(o % 10);
  }
  ProduceAll(servers, "customers", customers);
  ProduceAll(servers, "orders", orders);
  auto props = TestAppConfig("fk-join-app");
  props["state.dir"] = dir.path();
  props["num.stream.threads"] = "2";
  {
    auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
    ASSERT_TRUE(app->Start().ok());
    ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
    ASSERT_TRUE(AwaitContents(*app, "order-view", want));
    // A customer renamed, an order moved to another customer, a customer deleted.
    ProduceAll(servers, "customers", {{"c1", "renamed"}});
    ProduceAll(servers, "orders", {{"o2", "c1|item2"}});
    for (int o = 1; o < 40; o += 10) want["o" + std::to_string(o)] = "item" + std::to_string(o) + " for renamed";
    want["o2"] = "item2 for renamed";
    EXPECT_TRUE(AwaitContents(*app, "order-view", want));
    auto producer = sluice::testing::MakeProducer(servers);
    ASSERT_TRUE(producer->Produce("customers", RD_KAFKA_PARTITION_UA, "c3", 2, nullptr, 0, 0, nullptr).ok());
    ASSERT_TRUE(producer->Flush(std::chrono::seconds(10)).ok());
    for (int o = 3; o < 40; o += 10) want.erase("o" + std::to_string(o));
    EXPECT_TRUE(AwaitContents(*app, "order-view", want));
    EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
  }
  // The internal topics: subscriptions partitioned like customers, responses like orders.
  auto subscriptions = ReadTopic(servers, "fk-join-app-orders-customers-subscription-registration-repartition", 2, 40);
  EXPECT_GE(subscriptions.size(), 40u);
  auto responses = ReadTopic(servers, "fk-join-app-orders-customers-subscription-response-repartition", 3, 40);
  std::set<int32_t> response_partitions;
  for (const auto& r : responses) response_partitions.insert(r.partition);
  EXPECT_EQ(response_partitions.size(), 3u);
  // Rebuilt from the changelogs alone.
  std::filesystem::remove_all(std::filesystem::path(dir.path()) / "fk-join-app");
  auto app = App::Create(topology(), StreamsConfig::Create(props).value(), broker.get()).value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kRunning, std::chrono::seconds(30)));
  EXPECT_TRUE(AwaitContents(*app, "order-view", want));
  EXPECT_TRUE(app->Close(std::chrono::seconds(30)));
}

TEST(JoinApp, AStreamAndATableThatAreNotCoPartitionedAreAnErrorNamingBoth) {
  auto broker = EmbeddedBroker::Start().value();
  ASSERT_TRUE(broker->CreateTopic("clicks", 3).ok());
  ASSERT_TRUE(broker->CreateTopic("users", 2).ok());
  StateDir dir;
  StreamsBuilder builder;
  auto users = builder.Table<std::string, std::string>("users");
  builder.Stream<std::string, std::string>("clicks")
      .Join(users, [](const std::string& click, const std::string& user) { return click + user; })
      .To("out");
  auto props = TestAppConfig("copartition-join");
  props["state.dir"] = dir.path();
  auto app = App::Create(builder.Build().value(), StreamsConfig::Create(props).value(), broker.get())
                 .value();
  ASSERT_TRUE(app->Start().ok());
  ASSERT_TRUE(app->AwaitState(AppState::kError, std::chrono::seconds(30)));
  const std::string message(app->error().message());
  EXPECT_NE(message.find("'clicks' (3 partitions)"), std::string::npos) << message;
  EXPECT_NE(message.find("'users' (2 partitions)"), std::string::npos) << message;
  EXPECT_NE(message.find("not co-partitioned"), std::string::npos) << message;
}

}  // namespace
}  // namespace sluice
