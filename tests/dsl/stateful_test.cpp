// The stateful DSL through the TopologyTestDriver: stream aggregations (count, reduce,
// aggregate), groupBy through repartition topics, tables (source, filter, mapValues,
// toStream, toTable) with tombstones, caching on and off, and what stores and changelogs
// hold afterwards. The driver commits after every Pipe call, as an App does at its
// commit interval.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "src/state/memory_store.h"
#include "tests/dsl/dsl_test_util.h"

namespace sluice {

namespace {

using sluice::testing::MakeDriver;

using SIKV = KeyValue<std::string, int64_t>;
using SSKV = KeyValue<std::string, std::string>;
using OptI = std::optional<int64_t>;
using OptS = std::optional<std::string>;

std::map<std::string, int64_t> StoreContents(TopologyTestDriver& driver, const std::string& name) {
  auto store = driver.GetKeyValueStore<StringSerde, Int64Serde>(name);
  EXPECT_TRUE(store.ok()) << store.status();
  std::map<std::string, int64_t> out;
  if (!store.ok()) return out;
  auto all = store->All();
  EXPECT_TRUE(all.ok()) << all.status();
  if (!all.ok()) return out;
  for (auto& kv : *all) out[kv.key] = kv.value;
  return out;
}

// The latest value per key in a changelog topic (a compacted view), tombstones applied.
std::map<std::string, int64_t> ChangelogContents(TopologyTestDriver& driver, const std::string& topic) {
  std::map<std::string, int64_t> out;
  for (const TestRawRecord& r : driver.ReadRaw(topic)) {
    EXPECT_TRUE(r.key.has_value());
    if (!r.value) {
      out.erase(*r.key);
      continue;
    }
    int64_t v = 0;
    EXPECT_TRUE(Int64Serde().Deserialize(*r.value, v).ok());
    out[*r.key] = v;
  }
  return out;
}

const std::map<std::string, std::string> kNoCache = {{"cache.max.bytes.buffering", "0"}};

// --- Count -----------------------------------------------------------------------------

TEST(Aggregate, CountPerKeyEmitsEveryUpdateWithoutACache) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("clicks")
      .GroupByKey()
      .Count(Materialized<StringSerde, Int64Serde>::As("clicks-per-user"))
      .ToStream()
      .To("counts", Produced<StringSerde, Int64Serde>());
  TopologyTestDriver::Options options;
  options.partitions["clicks"] = 3;
  auto driver = MakeDriver(builder, options, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("clicks", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("counts", StringSerde(), Int64Serde());
  for (const char* user : {"ann", "bob", "ann", "cy", "ann", "bob"}) {
    ASSERT_TRUE(in.PipeInput(user, "/").ok());
  }
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SIKV>{{"ann", 1}, {"bob", 1}, {"ann", 2}, {"cy", 1}, {"ann", 3}, {"bob", 2}}));
  EXPECT_EQ(StoreContents(*driver, "clicks-per-user"),
            (std::map<std::string, int64_t>{{"ann", 3}, {"bob", 2}, {"cy", 1}}));
  // Every change went to the changelog, each key to its task's partition.
  EXPECT_EQ(ChangelogContents(*driver, "test-driver-clicks-per-user-changelog"),
            StoreContents(*driver, "clicks-per-user"));
  EXPECT_EQ(driver->PartitionCount("test-driver-clicks-per-user-changelog"), 3);
}

TEST(Aggregate, ChangelogRecordsCarryTheirInputPositions) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in").GroupByKey().Count(
      Materialized<StringSerde, Int64Serde>::As("n"));
  auto driver = MakeDriver(builder, {}, kNoCache);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("k", "a").ok());
  ASSERT_TRUE(in.PipeInput("k", "b").ok());
  std::vector<TestRawRecord> log = driver->ReadRaw("test-driver-n-changelog");
  ASSERT_EQ(log.size(), 2u);
  for (size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].headers.size(), 1u);
    EXPECT_EQ(log[i].headers[0].key, "sluice.pos");
    internal::PositionSet positions;
    std::string_view bytes = *log[i].headers[0].value;
    ASSERT_TRUE(positions.ParseFrom(&bytes));
    ASSERT_EQ(positions.entries().size(), 1u);
    EXPECT_EQ(positions.entries()[0].offset, static_cast<int64_t>(i));  // input offsets 0, 1
  }
}

TEST(Aggregate, CacheDeduplicatesUpdatesWithinACommit) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("clicks")
      .GroupByKey()
      .Count(Materialized<StringSerde, Int64Serde>::As("n"))
      .ToStream()
      .To("counts", Produced<StringSerde, Int64Serde>());
  auto driver = MakeDriver(builder);  // the default cache: 10 MiB
  ASSERT_NE(driver, nullptr);
  std::vector<TestRawRecord> batch;
  for (int i = 0; i < 100; ++i) {
    TestRawRecord r;
    r.key = i % 2 == 0 ? "even" : "odd";
    r.value = "x";
    batch.push_back(r);
  }
  ASSERT_TRUE(driver->PipeRawBatch("clicks", batch).ok());
  auto out = driver->CreateOutputTopic("counts", StringSerde(), Int64Serde());
  std::map<std::string, int64_t> last;
  std::vector<SIKV> updates = out.ReadKeyValuesToList();
  for (auto& kv : updates) last[kv.key] = kv.value;
  EXPECT_EQ(updates.size(), 2u) << "one update per key per commit";
  EXPECT_EQ(last, (std::map<std::string, int64_t>{{"even", 50}, {"odd", 50}}));
  // The changelog is deduplicated the same way.
  EXPECT_EQ(driver->ReadRaw("test-driver-n-changelog").size(), 2u);
}

TEST(Aggregate, ATinyCacheEvictsAndStillCountsExactly) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .GroupByKey()
      .Count(Materialized<StringSerde, Int64Serde>::As("n"))
      .ToStream()
      .To("counts", Produced<StringSerde, Int64Serde>());
  auto driver = MakeDriver(builder, {}, {{"cache.max.bytes.buffering", "1000"}});
  ASSERT_NE(driver, nullptr);
  std::vector<TestRawRecord> batch;
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < 2000; ++i) {
    TestRawRecord r;
    // Half the records hit one hot key, which stays cached; the rest cycle through more
    // keys than the cache holds.
    r.key = i % 2 == 0 ? std::string("hot") : "key-" + std::to_string((i * 7919) % 97);
    r.value = "x";
    ++expected[*r.key];
    batch.push_back(r);
  }
  ASSERT_TRUE(driver->PipeRawBatch("in", batch).ok());
  EXPECT_EQ(StoreContents(*driver, "n"), expected);
  auto out = driver->CreateOutputTopic("counts", StringSerde(), Int64Serde());
  std::map<std::string, int64_t> last;
  size_t updates = 0;
  for (auto& kv : out.ReadKeyValuesToList()) {
    last[kv.key] = kv.value;
    ++updates;
  }
  EXPECT_EQ(last, expected);
  EXPECT_GT(updates, expected.size()) << "evictions emit before the commit";
  EXPECT_LT(updates, batch.size());
}

TEST(Aggregate, InMemoryAndUncachedAndUnloggedStoresCountTheSame) {
  for (int variant = 0; variant < 3; ++variant) {
    StreamsBuilder builder;
    auto m = Materialized<StringSerde, Int64Serde>::As("n");
    if (variant == 0) m = m.InMemory();
    if (variant == 1) m = m.WithCachingDisabled().InMemory();
    if (variant == 2) m = m.WithLoggingDisabled();
    builder.Stream<std::string, std::string>("in").GroupByKey().Count(m);
    TopologyTestDriver::Options options;
    options.partitions["in"] = 2;
    auto driver = MakeDriver(builder, options);
    ASSERT_NE(driver, nullptr);
    auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
    for (const char* k : {"a", "b", "a", "c", "a"}) ASSERT_TRUE(in.PipeInput(k, "").ok());
    EXPECT_EQ(StoreContents(*driver, "n"), (std::map<std::string, int64_t>{{"a", 3}, {"b", 1}, {"c", 1}}))
        << "variant " << variant;
    EXPECT_EQ(driver->QueueSize("test-driver-n-changelog") > 0, variant != 2) << "variant " << variant;
  }
}

// --- Reduce / Aggregate -------------------------------------------------------------------

TEST(Aggregate, ReduceCombinesValuesPerKey) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("amounts")
      .GroupByKey()
      .Reduce([](int64_t a, int64_t b) { return a + b; },
              Materialized<StringSerde, Int64Serde>::As("sums").WithCachingDisabled())
      .ToStream()
      .To("sums", Produced<StringSerde, Int64Serde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("amounts", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeInput("a", 5).ok());
  ASSERT_TRUE(in.PipeInput("a", 7).ok());
  ASSERT_TRUE(in.PipeInput("b", 1).ok());
  auto out = driver->CreateOutputTopic("sums", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 5}, {"a", 12}, {"b", 1}}));
}

// The aggregate reaches a by-value reducer by move: the buffer it returned for a key is
// the one it gets back at the key's next value (a copy would be a new allocation, made
// while the old one still lives, so never at the same address).
TEST(Aggregate, AReducerTakingTheAggregateByValueGetsItMovedNotCopied) {
  const char* returned = nullptr;
  std::vector<bool> got_back;
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("parts")
      .GroupByKey()
      .Reduce([&](std::string agg, const std::string& part) {
        got_back.push_back(agg.data() == returned);
        agg.reserve(256);  // no reallocation below: the buffer stays the one returned
        agg += part;
        returned = agg.data();
        return agg;
      })
      .ToStream()
      .To("joined", Produced<StringSerde, StringSerde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("parts", StringSerde(), StringSerde());
  const std::string part(40, 'p');  // past the small-string buffer
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(in.PipeInput("k", part).ok());
  EXPECT_EQ(got_back, (std::vector<bool>{false, true, true}));
  auto out = driver->CreateOutputTopic("joined", StringSerde(), StringSerde());
  auto results = out.ReadKeyValuesToList();
  ASSERT_FALSE(results.empty());
  EXPECT_EQ(results.back().value, std::string(160, 'p'));
}

TEST(Aggregate, AggregateFoldsFromTheInitializer) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("words")
      .GroupByKey()
      .Aggregate([] { return std::string("#"); },
                 [](const std::string&, const std::string& word, std::string agg) {
                   return agg + word;
                 },
                 Materialized<StringSerde, StringSerde>::As("concat").WithCachingDisabled())
      .ToStream()
      .To("out", Produced<StringSerde, StringSerde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("words", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("k", "a").ok());
  ASSERT_TRUE(in.PipeInput("k", "b").ok());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SSKV>{{"k", "#a"}, {"k", "#ab"}}));
  auto store = driver->GetKeyValueStore<StringSerde, StringSerde>("concat");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store->Get("k").value(), std::optional<std::string>("#ab"));
  EXPECT_EQ(store->Get("nope").value(), std::nullopt);
}

TEST(Aggregate, FanOutFromOneInputRecordCountsEveryRecord) {
  // Several records of one input offset reach the store: each is a distinct write.
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .FlatMapValues([](const std::string& v) { return std::vector<std::string>(3, v); })
      .GroupByKey()
      .Count(Materialized<StringSerde, Int64Serde>::As("n").WithCachingDisabled());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("k", "x").ok());
  ASSERT_TRUE(in.PipeInput("k", "y").ok());
  EXPECT_EQ(StoreContents(*driver, "n"), (std::map<std::string, int64_t>{{"k", 6}}));
}

// --- Repartitioning -------------------------------------------------------------------------

TEST(Aggregate, GroupByRepartitionsByTheNewKeyAcrossPartitions) {
  StreamsBuilder builder;
  // Orders keyed by order id, counted per customer (the value).
  builder.Stream<std::string, std::string>("orders")
      .GroupBy([](const std::string&, const std::string& customer) { return customer; })
      .Count(Materialized<StringSerde, Int64Serde>::As("orders-per-customer"));
  absl::StatusOr<Topology> topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  // Two sub-topologies joined by <store>-repartition, as Kafka Streams names it.
  EXPECT_EQ(topology->compiled().subtopologies.size(), 2u);
  const std::string describe = topology->Describe();
  EXPECT_NE(describe.find("(topic: orders-per-customer-repartition)"), std::string::npos) << describe;
  EXPECT_NE(describe.find("(stores: [orders-per-customer])"), std::string::npos) << describe;

  TopologyTestDriver::Options options;
  options.partitions["orders"] = 4;
  auto driver = TopologyTestDriver::Create(*topology, options).value();
  auto in = driver->CreateInputTopic("orders", StringSerde(), StringSerde());
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < 200; ++i) {
    std::string customer = "c" + std::to_string(i % 13);
    ++expected[customer];
    ASSERT_TRUE(in.PipeInput("order-" + std::to_string(i), customer).ok());
  }
  EXPECT_EQ(driver->PartitionCount("test-driver-orders-per-customer-repartition"), 4);
  EXPECT_EQ(StoreContents(*driver, "orders-per-customer"), expected);
}

TEST(Aggregate, RepartitionTopicsAreCreatedOnlyAfterAKeyChange) {
  auto count_subtopologies = [](auto build) {
    StreamsBuilder builder;
    build(builder);
    absl::StatusOr<Topology> t = builder.Build();
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->compiled().subtopologies.size() : 0u;
  };
  // Value-only operations keep the partitioning.
  EXPECT_EQ(count_subtopologies([](StreamsBuilder& b) {
              b.Stream<std::string, std::string>("in")
                  .MapValues([](const std::string& v) { return v + "!"; })
                  .Filter([](const std::string&, const std::string&) { return true; })
                  .GroupByKey()
                  .Count();
            }),
            1u);
  // A key change, even followed by value-only operations, repartitions.
  EXPECT_EQ(count_subtopologies([](StreamsBuilder& b) {
              b.Stream<std::string, std::string>("in")
                  .Map([](const std::string& k, const std::string& v) { return KeyValue{v, k}; })
                  .Filter([](const std::string&, const std::string&) { return true; })
                  .GroupByKey()
                  .Count();
            }),
            2u);
  // An explicit Repartition() already did it.
  EXPECT_EQ(count_subtopologies([](StreamsBuilder& b) {
              b.Stream<std::string, std::string>("in")
                  .SelectKey([](const std::string&, const std::string& v) { return v; })
                  .Repartition()
                  .GroupByKey()
                  .Count();
            }),
            2u);
}

TEST(Aggregate, GroupedNamesTheRepartitionTopic) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .SelectKey([](const std::string&, const std::string& v) { return v; })
      .GroupByKey(Grouped<StringSerde, StringSerde>::As("by-value"))
      .Count();
  absl::StatusOr<Topology> topology = builder.Build();
  ASSERT_TRUE(topology.ok());
  EXPECT_NE(topology->Describe().find("(topic: by-value-repartition)"), std::string::npos);
}

TEST(Aggregate, RepartitionWithAPartitionCountBeforeAnAggregation) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .SelectKey([](const std::string&, const std::string& v) { return v; })
      .Repartition(Repartitioned<StringSerde, StringSerde>::As("by-v").WithNumberOfPartitions(5))
      .GroupByKey()
      .Count(Materialized<StringSerde, Int64Serde>::As("n"));
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(in.PipeInput("k", "v" + std::to_string(i % 10)).ok());
  EXPECT_EQ(driver->PartitionCount("test-driver-n-changelog"), 5);
  std::map<std::string, int64_t> counts = StoreContents(*driver, "n");
  EXPECT_EQ(counts.size(), 10u);
  for (auto& [k, n] : counts) EXPECT_EQ(n, 5) << k;
}

// --- Tables ------------------------------------------------------------------------------

TEST(Table, UpsertsAndTombstonesAsKafkaStreamsDoes) {
  StreamsBuilder builder;
  builder.Table("prices", Consumed<StringSerde, Int64Serde>(),
                Materialized<StringSerde, Int64Serde>::As("prices").WithCachingDisabled())
      .ToStream()
      .To("price-updates", Produced<StringSerde, Int64Serde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("prices", StringSerde(), Nullable<Int64Serde>());
  ASSERT_TRUE(in.PipeInput("apple", 3).ok());
  ASSERT_TRUE(in.PipeInput("pear", 4).ok());
  ASSERT_TRUE(in.PipeInput("apple", 5).ok());
  ASSERT_TRUE(in.PipeInput("pear", std::nullopt).ok());   // tombstone
  ASSERT_TRUE(in.PipeInput("plum", std::nullopt).ok());   // deleting the absent: no change
  auto out = driver->CreateOutputTopic("price-updates", StringSerde(), Nullable<Int64Serde>());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<KeyValue<std::string, OptI>>{
                {"apple", 3}, {"pear", 4}, {"apple", 5}, {"pear", std::nullopt}}));
  EXPECT_EQ(StoreContents(*driver, "prices"), (std::map<std::string, int64_t>{{"apple", 5}}));
  // The changelog ends with the tombstone, so a compacted copy holds the same.
  EXPECT_EQ(ChangelogContents(*driver, "test-driver-prices-changelog"),
            (std::map<std::string, int64_t>{{"apple", 5}}));
}

TEST(Table, NullKeysAreSkippedAndCounted) {
  StreamsBuilder builder;
  builder.Table("t", Consumed<StringSerde, StringSerde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  TestRawRecord r;
  r.value = "v";
  ASSERT_TRUE(driver->PipeRaw("t", r).ok());
  EXPECT_EQ(driver->skipped_records(), 1u);
}

TEST(Table, FilterTurnsRejectedValuesIntoDeletes) {
  StreamsBuilder builder;
  builder.Table("stock", Consumed<StringSerde, Int64Serde>(),
                Materialized<StringSerde, Int64Serde>::As("stock").WithCachingDisabled())
      .Filter([](const std::string&, int64_t n) { return n > 0; })
      .MapValues([](int64_t n) { return "in stock: " + std::to_string(n); })
      .ToStream()
      .To("available", Produced<StringSerde, StringSerde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("stock", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeInput("sku1", 2).ok());
  ASSERT_TRUE(in.PipeInput("sku1", 0).ok());
  auto out = driver->CreateOutputTopic("available", StringSerde(), Nullable<StringSerde>());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<KeyValue<std::string, OptS>>{{"sku1", "in stock: 2"}, {"sku1", std::nullopt}}));
}

TEST(Table, StreamToTableWithOptionalValuesDeletesOnNullopt) {
  StreamsBuilder builder;
  builder.Stream("events", Consumed<StringSerde, Nullable<StringSerde>>())
      .ToTable(Named::As("events-table"),
               Materialized<StringSerde, StringSerde>::As("latest").WithCachingDisabled());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("events", StringSerde(), Nullable<StringSerde>());
  ASSERT_TRUE(in.PipeInput("a", "1").ok());
  ASSERT_TRUE(in.PipeInput("b", "2").ok());
  ASSERT_TRUE(in.PipeInput("a", std::nullopt).ok());
  auto store = driver->GetKeyValueStore<StringSerde, StringSerde>("latest");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store->All().value(), (std::vector<SSKV>{{"b", "2"}}));
  EXPECT_EQ(store->ApproximateNumEntries().value() >= 1, true);
}

TEST(Table, CountOfAToStreamFeedsDownstreamOperators) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .GroupByKey()
      .Count(Materialized<StringSerde, Int64Serde>::As("n").WithCachingDisabled())
      .ToStream()
      .Filter([](const std::string&, const OptI& n) { return n && *n % 2 == 0; })
      .MapValues([](const OptI& n) { return *n; })
      .To("even-counts", Produced<StringSerde, Int64Serde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(in.PipeInput("k", "").ok());
  auto out = driver->CreateOutputTopic("even-counts", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"k", 2}, {"k", 4}}));
}

// --- Grouped tables and cogroup ------------------------------------------------------------

// Users and their regions; count users per region as users move.
void UsersPerRegion(StreamsBuilder& builder, bool cache_users, bool cache_counts) {
  auto users = Materialized<StringSerde, StringSerde>::As("users");
  if (!cache_users) users = users.WithCachingDisabled();
  auto counts = Materialized<StringSerde, Int64Serde>::As("users-per-region");
  if (!cache_counts) counts = counts.WithCachingDisabled();
  builder.Table("users", Consumed<StringSerde, StringSerde>(), users)
      .MapValues([](const std::string& region) { return "region-" + region; })
      .GroupBy([](const std::string& user, const std::string& region) {
        return KeyValue<std::string, std::string>{region, user};
      })
      .Count(counts)
      .ToStream()
      .To("region-counts", Produced<StringSerde, Int64Serde>());
}

TEST(GroupedTable, CountFollowsRowsThatMoveBetweenGroups) {
  // A cached source table reports old values on flush, as an uncached one does per write.
  for (int variant = 0; variant < 4; ++variant) {
    const bool cache_users = variant & 1, cache_counts = variant & 2;
    StreamsBuilder builder;
    UsersPerRegion(builder, cache_users, cache_counts);
    TopologyTestDriver::Options options;
    options.partitions["users"] = 3;
    auto driver = MakeDriver(builder, options);
    ASSERT_NE(driver, nullptr);
    auto in = driver->CreateInputTopic("users", StringSerde(), StringSerde());
    ASSERT_TRUE(in.PipeInput("ann", "eu").ok());
    ASSERT_TRUE(in.PipeInput("bob", "eu").ok());
    ASSERT_TRUE(in.PipeInput("cy", "us").ok());
    ASSERT_TRUE(in.PipeInput("ann", "us").ok());   // moves: eu -1, us +1
    ASSERT_TRUE(in.PipeInput("bob", "eu").ok());   // same group: -1 +1
    // Several changes of one row within one commit: the cache reports the last one
    // against the value before the first.
    std::vector<TestRawRecord> batch;
    for (const char* region : {"ap", "eu", "ap"}) {
      TestRawRecord r;
      r.key = "dee";
      r.value = region;
      batch.push_back(r);
    }
    ASSERT_TRUE(driver->PipeRawBatch("users", batch).ok());
    const std::map<std::string, int64_t> want = {{"region-ap", 1}, {"region-eu", 1}, {"region-us", 2}};
    EXPECT_EQ(StoreContents(*driver, "users-per-region"), want) << "variant " << variant;
    auto out = driver->CreateOutputTopic("region-counts", StringSerde(), Int64Serde());
    std::map<std::string, int64_t> last;
    for (auto& kv : out.ReadKeyValuesToList()) last[kv.key] = kv.value;
    EXPECT_EQ(last, want) << "variant " << variant;
  }
}

TEST(GroupedTable, ACachedTableKeepsOldValuesForAGroupByBehindAFilterOrBesideAToStream) {
  // The cache reads old values only for nodes that use them (here the GroupBy, behind a
  // Filter, and beside a ToStream that does not); the counts must still follow rows that
  // leave a region or the filter, across commits.
  StreamsBuilder builder;
  KTable<std::string, std::string> users =
      builder.Table("users", Consumed<StringSerde, StringSerde>(), Materialized<StringSerde, StringSerde>::As("users"));
  users.ToStream().To("users-out");
  users.Filter([](const std::string&, const std::string& region) { return region != "gone"; })
      .GroupBy([](const std::string& user, const std::string& region) {
        return KeyValue<std::string, std::string>{region, user};
      })
      .Count(Materialized<StringSerde, Int64Serde>::As("per-region"));
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("users", StringSerde(), Nullable<StringSerde>());
  auto out = driver->CreateOutputTopic("users-out", StringSerde(), Nullable<StringSerde>());
  ASSERT_TRUE(in.PipeInput("ann", "eu").ok());
  ASSERT_TRUE(in.PipeInput("bob", "eu").ok());
  ASSERT_TRUE(in.PipeInput("cy", "us").ok());
  ASSERT_TRUE(in.PipeInput("ann", "us").ok());    // eu -1, us +1
  ASSERT_TRUE(in.PipeInput("bob", "gone").ok());  // filtered out: eu -1
  ASSERT_TRUE(in.PipeInput("cy", std::nullopt).ok());  // deleted: us -1
  EXPECT_EQ(StoreContents(*driver, "per-region"),
            (std::map<std::string, int64_t>{{"eu", 0}, {"us", 1}}));
  std::map<std::string, std::optional<std::string>> last;
  for (auto& kv : out.ReadKeyValuesToList()) last[kv.key] = kv.value;
  EXPECT_EQ(last, (std::map<std::string, std::optional<std::string>>{
                      {"ann", "us"}, {"bob", "gone"}, {"cy", std::nullopt}}));
}

TEST(GroupedTable, ReduceWithAdderAndSubtractorSumsTheCurrentRows) {
  StreamsBuilder builder;
  builder.Table("balances", Consumed<StringSerde, Int64Serde>(),
                Materialized<StringSerde, Int64Serde>::As("balances").WithCachingDisabled())
      .GroupBy([](const std::string& account, int64_t balance) {
        return KeyValue<std::string, int64_t>{account.substr(0, 1), balance};
      })
      .Reduce([](int64_t agg, int64_t v) { return agg + v; },
              [](int64_t agg, int64_t v) { return agg - v; },
              Materialized<StringSerde, Int64Serde>::As("totals").WithCachingDisabled());
  TopologyTestDriver::Options options;
  options.partitions["balances"] = 2;
  auto driver = MakeDriver(builder, options);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("balances", StringSerde(), Nullable<Int64Serde>());
  ASSERT_TRUE(in.PipeInput("a1", 10).ok());
  ASSERT_TRUE(in.PipeInput("a2", 5).ok());
  ASSERT_TRUE(in.PipeInput("b1", 7).ok());
  ASSERT_TRUE(in.PipeInput("a1", 20).ok());          // a: 10+5 -> 20+5
  ASSERT_TRUE(in.PipeInput("a2", std::nullopt).ok()); // a2 deleted: a -= 5
  EXPECT_EQ(StoreContents(*driver, "totals"), (std::map<std::string, int64_t>{{"a", 20}, {"b", 7}}));
}

TEST(Cogroup, SeveralStreamsFoldIntoOneAggregate) {
  StreamsBuilder builder;
  auto deposits = builder.Stream<std::string, int64_t>("deposits").GroupByKey();
  auto withdrawals = builder.Stream<std::string, int64_t>("withdrawals").GroupByKey();
  auto fees = builder.Stream<std::string, std::string>("fees")
                  .SelectKey([](const std::string&, const std::string& account) { return account; })
                  .GroupByKey();
  deposits
      .Cogroup<int64_t>([](const std::string&, int64_t v, int64_t agg) { return agg + v; })
      .Cogroup(withdrawals, [](const std::string&, int64_t v, int64_t agg) { return agg - v; })
      .Cogroup(fees, [](const std::string&, const std::string&, int64_t agg) { return agg - 1; })
      .Aggregate([] { return int64_t{0}; },
                 Materialized<StringSerde, Int64Serde>::As("balance").WithCachingDisabled());
  TopologyTestDriver::Options options;
  options.default_partitions = 2;
  auto driver = MakeDriver(builder, options);
  ASSERT_NE(driver, nullptr);
  auto d = driver->CreateInputTopic("deposits", StringSerde(), Int64Serde());
  auto w = driver->CreateInputTopic("withdrawals", StringSerde(), Int64Serde());
  auto f = driver->CreateInputTopic("fees", StringSerde(), StringSerde());
  ASSERT_TRUE(d.PipeInput("acc1", 100).ok());
  ASSERT_TRUE(w.PipeInput("acc1", 30).ok());
  ASSERT_TRUE(d.PipeInput("acc2", 50).ok());
  ASSERT_TRUE(f.PipeInput("fee-1", "acc1").ok());
  ASSERT_TRUE(f.PipeInput("fee-2", "acc2").ok());
  EXPECT_EQ(StoreContents(*driver, "balance"), (std::map<std::string, int64_t>{{"acc1", 69}, {"acc2", 49}}));
}

// --- Store views and errors -------------------------------------------------------------

TEST(Stores, RangePrefixAndCountOverEveryPartition) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in").GroupByKey().Count(
      Materialized<StringSerde, Int64Serde>::As("n"));
  TopologyTestDriver::Options options;
  options.partitions["in"] = 4;
  auto driver = MakeDriver(builder, options);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  for (const char* k : {"apple", "apricot", "banana", "blueberry", "cherry", "avocado"}) {
    ASSERT_TRUE(in.PipeInput(k, "").ok());
  }
  auto store = driver->GetKeyValueStore<StringSerde, Int64Serde>("n").value();
  auto keys = [](const std::vector<SIKV>& kvs) {
    std::vector<std::string> out;
    for (auto& kv : kvs) out.push_back(kv.key);
    return out;
  };
  EXPECT_EQ(keys(store.Range("apricot", "blueberry").value()),
            (std::vector<std::string>{"apricot", "avocado", "banana", "blueberry"}));
  EXPECT_EQ(keys(store.PrefixScan("a").value()),
            (std::vector<std::string>{"apple", "apricot", "avocado"}));
  EXPECT_EQ(keys(store.Range("z", "a").value()), std::vector<std::string>{});
  EXPECT_EQ(store.All().value().size(), 6u);
  EXPECT_GE(store.ApproximateNumEntries().value(), 1u);
  auto missing = driver->GetKeyValueStore<StringSerde, Int64Serde>("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(Stores, TwoStoresWithOneNameAreRejected) {
  StreamsBuilder builder;
  auto s = builder.Stream<std::string, std::string>("in");
  s.GroupByKey().Count(Materialized<StringSerde, Int64Serde>::As("same"));
  s.MapValues([](const std::string& v) { return v; })
      .GroupByKey()
      .Count(Materialized<StringSerde, Int64Serde>::As("same"));
  absl::StatusOr<Topology> t = builder.Build();
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("two state stores are named 'same'"), std::string::npos)
      << t.status();
}

// A serde whose Serialize throws for negative numbers (like a user's to_json that rejects
// a value).
struct PickySerde {
  using Type = int64_t;
  static constexpr std::string_view kName = "PickySerde";
  void Serialize(const int64_t& v, std::string& buf) const {
    if (v < 0) throw std::domain_error("negative totals are not representable");
    Int64Serde().Serialize(v, buf);
  }
  absl::Status Deserialize(std::string_view bytes, int64_t& out) const {
    return Int64Serde().Deserialize(bytes, out);
  }
};

// With a cache, an aggregation keeps its latest aggregates decoded and holds back their
// writes; a join reading the aggregated table in the same batch still sees every update
// (the store asks the aggregation for a held-back write before it is read).
TEST(Aggregate, AJoinInTheSameBatchReadsTheLatestAggregateItsCacheHasNotSeenYet) {
  StreamsBuilder builder;
  // One topic: "w:<word>" adds a word to the key's aggregate, "q:<ask>" joins it.
  auto events = builder.Stream<std::string, std::string>("events");
  auto of = [](char kind) {
    return [kind](const std::string&, const std::string& v) { return v.size() > 2 && v[0] == kind; };
  };
  KTable<std::string, std::string> words =
      events.Filter(of('w'))
          .GroupByKey()
          .Aggregate([] { return std::string("#"); },
                     [](const std::string&, const std::string& w, std::string agg) { return agg + w.substr(2); },
                     Materialized<StringSerde, StringSerde>::As("concat"));
  events.Filter(of('q'))
      .Join(words, [](const std::string& ask, const std::string& agg) { return ask.substr(2) + "=" + agg; })
      .To("answers", Produced<StringSerde, StringSerde>());
  auto driver = MakeDriver(builder);  // cache on
  ASSERT_NE(driver, nullptr);
  auto record = [](const char* key, const char* value) {
    TestRawRecord r;
    r.key = key;
    r.value = value;
    return r;
  };
  // Each batch is one commit: the words' aggregates are still held back when the asks
  // of the same batch read them.
  ASSERT_TRUE(driver->PipeRawBatch("events", {record("k", "w:a"), record("k", "w:b"), record("k", "q:q1")}).ok());
  ASSERT_TRUE(driver->PipeRawBatch("events", {record("k", "w:c"), record("k", "q:q2"), record("x", "q:q3")}).ok());
  auto answers = driver->CreateOutputTopic("answers", StringSerde(), StringSerde());
  EXPECT_EQ(answers.ReadKeyValuesToList(), (std::vector<SSKV>{{"k", "q1=#ab"}, {"k", "q2=#abc"}}));
  auto store = driver->GetKeyValueStore<StringSerde, StringSerde>("concat");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store->Get("k").value(), std::optional<std::string>("#abc"));
}

TEST(Stores, AValueThatCannotBeSerializedIntoAStoreFailsTheTaskNamingStoreTopicPartitionOffset) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("amounts")
      .GroupByKey()
      .Reduce([](int64_t a, int64_t b) { return a + b; },
              Materialized<StringSerde, PickySerde>::As("totals"));
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("amounts", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeInput("k", 5).ok());
  absl::Status status = in.PipeInput("k", -10);
  ASSERT_FALSE(status.ok());
  const std::string message(status.message());
  EXPECT_NE(message.find("state store 'totals'"), std::string::npos) << message;
  EXPECT_NE(message.find("topic 'amounts' partition 0"), std::string::npos) << message;
  EXPECT_NE(message.find("offset 1"), std::string::npos) << message;
  EXPECT_NE(message.find("negative totals are not representable"), std::string::npos) << message;
}

TEST(Stores, AValueThatDoesNotSerializeBackFailsTheTaskNamingTheStore) {
  // A reader with the wrong serde sees a clear error naming the store.
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in").GroupByKey().Count(
      Materialized<StringSerde, Int64Serde>::As("n"));
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->CreateInputTopic("in", StringSerde(), StringSerde()).PipeInput("k", "").ok());
  auto wrong = driver->GetKeyValueStore<StringSerde, Int32Serde>("n").value();
  absl::StatusOr<std::optional<int32_t>> v = wrong.Get("k");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("state store 'n'"), std::string::npos) << v.status();
}

}  // namespace
}  // namespace sluice

namespace sluice::internal {
namespace {

TEST(KeptDecoded, ATakenValueIsGoneAndANewKeyInItsSlotEvictsTheOldOne) {
  KeptDecoded<std::string> kept(2);  // two slots: of three keys, two share one
  std::string out;
  EXPECT_FALSE(kept.Take("a", &out));  // nothing kept yet
  kept.Keep("a", "A1");
  ASSERT_TRUE(kept.Take("a", &out));
  EXPECT_EQ(out, "A1");
  EXPECT_FALSE(kept.Take("a", &out));  // taken: kept no more

  kept.Keep("a", "A2");
  kept.Keep("b", "B1");
  kept.Keep("c", "C1");
  // At least two of a, b, c share a slot: the later one evicted the earlier, which is not
  // found; no key is ever found with another key's value; the last kept is found.
  std::map<std::string, std::string> found;
  for (const auto& [key, value] : std::map<std::string, std::string>{{"a", "A2"}, {"b", "B1"}, {"c", "C1"}}) {
    if (kept.Take(key, &out)) {
      EXPECT_EQ(out, value) << key;
      found[key] = out;
    }
  }
  EXPECT_EQ(found.count("c"), 1u);
  EXPECT_LE(found.size(), 2u);

  kept.Keep("d", "D1");
  kept.Clear();
  EXPECT_FALSE(kept.Take("d", &out));
}

// The filter answers "never held" only for keys neither in the store at its start nor
// added since; a store too big to filter gets no answers.
TEST(StoreKeyFilter, NeverHeldOnlyForKeysNeitherInTheStoreAtStartNorAddedSince) {
  MemoryStore store("counts");
  ASSERT_TRUE(store.Put("held-1", "v").ok());
  ASSERT_TRUE(store.Put("held-2", "v").ok());
  StoreKeyFilter filter;
  EXPECT_FALSE(filter.NeverHeld(KeyFilter::Hash("anything")));  // not started: no answers
  ASSERT_TRUE(filter.Start(store).ok());
  EXPECT_FALSE(filter.NeverHeld(KeyFilter::Hash("held-1")));
  EXPECT_FALSE(filter.NeverHeld(KeyFilter::Hash("held-2")));
  filter.Added(KeyFilter::Hash("added"));
  EXPECT_FALSE(filter.NeverHeld(KeyFilter::Hash("added")));
  // Bloom filters may say "maybe" for a key never held, rarely: of 1,000 such keys, most
  // are known new.
  int known_new = 0;
  for (int i = 0; i < 1000; ++i) known_new += filter.NeverHeld(KeyFilter::Hash("new-" + std::to_string(i)));
  EXPECT_GT(known_new, 950);

  // Growing past its limit, it stops answering.
  for (size_t i = 0; i < StoreKeyFilter::kMaxKeys; ++i) filter.Added(KeyFilter::Hash("k" + std::to_string(i)));
  EXPECT_FALSE(filter.NeverHeld(KeyFilter::Hash("new-0")));
}

}  // namespace
}  // namespace sluice::internal
