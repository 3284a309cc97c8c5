// The stateless DSL, end to end through the TopologyTestDriver: every operator's
// semantics, ordering across branches and merges, partitioning, repartitioning,
// metadata propagation and the failure paths.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"
#include "src/partitioner.h"

namespace sluice {

namespace {

using sluice::testing::MakeDriver;

using SKV = KeyValue<std::string, std::string>;
using SIKV = KeyValue<std::string, int64_t>;

// --- Filter / FilterNot ---------------------------------------------------------------

TEST(Stateless, FilterKeepsRecordsThePredicateAccepts) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Filter([](const std::string& k, int64_t v) { return v > 10 || k == "keep"; })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 5}, {"b", 50}, {"keep", 1}, {"c", 11}, {"d", 10}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SIKV>{{"b", 50}, {"keep", 1}, {"c", 11}}));
  EXPECT_TRUE(out.IsEmpty());
}

TEST(Stateless, FilterNotDropsRecordsThePredicateAccepts) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .FilterNot([](const std::string&, int64_t v) { return v % 2 == 0; })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 1}, {"c", 3}}));
}

// --- Map ------------------------------------------------------------------------------

TEST(Stateless, MapWithKeyValueResultChangesBothTypes) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Map([](const std::string& k, int64_t v) {
        return KeyValue<int64_t, std::string>{v * 10, k + "!"};
      })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", Int64Serde(), StringSerde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 1}, {"b", 2}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<KeyValue<int64_t, std::string>>{{10, "a!"}, {20, "b!"}}));
}

TEST(Stateless, MapWithStdPairResult) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .Map([](const std::string& k, const std::string& v) { return std::make_pair(v, k); })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeKeyValueList({{"k1", "v1"}, {"k2", "v2"}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SKV>{{"v1", "k1"}, {"v2", "k2"}}));
}

TEST(Stateless, MapSameTypesInPlaceDoesNotDisturbASibling) {
  // The source has two children, so neither may rewrite the records in place.
  StreamsBuilder builder;
  auto s = builder.Stream<std::string, std::string>("in");
  s.Map([](const std::string& k, const std::string& v) { return KeyValue{v, k}; }).To("swapped");
  s.To("copy");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto swapped = driver->CreateOutputTopic("swapped", StringSerde(), StringSerde());
  auto copy = driver->CreateOutputTopic("copy", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeKeyValueList({{"k1", "v1"}, {"k2", "v2"}}).ok());
  EXPECT_EQ(swapped.ReadKeyValuesToList(), (std::vector<SKV>{{"v1", "k1"}, {"v2", "k2"}}));
  EXPECT_EQ(copy.ReadKeyValuesToList(), (std::vector<SKV>{{"k1", "v1"}, {"k2", "v2"}}));
}

// --- MapValues ------------------------------------------------------------------------

TEST(Stateless, MapValuesValueOnlyChangesType) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .MapValues([](const std::string& v) { return static_cast<int64_t>(v.size()); })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", "xyz"}, {"b", ""}, {"c", "hello"}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 3}, {"b", 0}, {"c", 5}}));
}

TEST(Stateless, MapValuesWithKeyAndValue) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .MapValues([](const std::string& k, int64_t v) { return k + ":" + std::to_string(v); })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 1}, {"b", 22}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SKV>{{"a", "a:1"}, {"b", "b:22"}}));
}

TEST(Stateless, MapValuesSameTypeInPlaceChain) {
  StreamsBuilder builder;
  auto s = builder.Stream<std::string, std::string>("in");
  s.MapValues([](std::string v) { return v + "-1"; })
      .MapValues([](const std::string& k, const std::string& v) { return v + "-" + k; })
      .To("out");
  s.To("original");  // a sibling: the first MapValues must copy, not rewrite
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  auto original = driver->CreateOutputTopic("original", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", "x"}, {"b", "y"}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SKV>{{"a", "x-1-a"}, {"b", "y-1-b"}}));
  EXPECT_EQ(original.ReadKeyValuesToList(), (std::vector<SKV>{{"a", "x"}, {"b", "y"}}));
}

// --- SelectKey ------------------------------------------------------------------------

TEST(Stateless, SelectKeyReplacesTheKeyAndKeepsTheValue) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .SelectKey([](const std::string& k, int64_t v) { return v + static_cast<int64_t>(k.size()); })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", Int64Serde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"ab", 1}, {"c", 7}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<KeyValue<int64_t, int64_t>>{{3, 1}, {8, 7}}));
}

TEST(Stateless, SelectKeySameTypeKeepsValue) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .SelectKey([](const std::string&, const std::string& v) { return "k-" + v; })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", "x"}, {"b", "y"}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SKV>{{"k-x", "x"}, {"k-y", "y"}}));
}

// --- FlatMap / FlatMapValues ----------------------------------------------------------

TEST(Stateless, FlatMapZeroOneOrManyInOrder) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .FlatMap([](const std::string& k, int64_t n) {
        std::vector<KeyValue<std::string, int64_t>> out;
        for (int64_t i = 0; i < n; ++i) out.push_back({k + std::to_string(i), i});
        return out;
      })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 0}, {"b", 1}, {"c", 3}, {"d", 0}, {"e", 2}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SIKV>{{"b0", 0}, {"c0", 0}, {"c1", 1}, {"c2", 2}, {"e0", 0}, {"e1", 1}}));
}

TEST(Stateless, FlatMapWithPairsChangesTypes) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .FlatMap([](const std::string&, const std::string& v) {
        std::vector<std::pair<int64_t, std::string>> out;
        for (char c : v) out.emplace_back(static_cast<int64_t>(c), std::string(1, c));
        return out;
      })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", Int64Serde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("k", "ab").ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<KeyValue<int64_t, std::string>>{{'a', "a"}, {'b', "b"}}));
}

TEST(Stateless, FlatMapValuesKeepsTheKey) {
  StreamsBuilder builder;
  auto s = builder.Stream<std::string, std::string>("in");
  s.FlatMapValues([](const std::string& v) {
     std::vector<std::string> parts;
     for (char c : v) parts.emplace_back(1, c);
     return parts;
   })
      .To("chars");
  s.FlatMapValues([](const std::string& k, const std::string& v) {
     return std::vector<int64_t>{static_cast<int64_t>(k.size()), static_cast<int64_t>(v.size())};
   })
      .To("sizes");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto chars = driver->CreateOutputTopic("chars", StringSerde(), StringSerde());
  auto sizes = driver->CreateOutputTopic("sizes", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"k", "xy"}, {"e", ""}, {"kk", "z"}}).ok());
  EXPECT_EQ(chars.ReadKeyValuesToList(),
            (std::vector<SKV>{{"k", "x"}, {"k", "y"}, {"kk", "z"}}));
  EXPECT_EQ(sizes.ReadKeyValuesToList(),
            (std::vector<SIKV>{{"k", 1}, {"k", 2}, {"e", 1}, {"e", 0}, {"kk", 2}, {"kk", 1}}));
}

// --- Peek / Foreach -------------------------------------------------------------------

TEST(Stateless, PeekSeesEveryRecordAndPassesItOnUnchanged) {
  auto seen = std::make_shared<std::vector<SIKV>>();
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Peek([seen](const std::string& k, int64_t v) { seen->push_back({k, v}); })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 1}, {"b", 2}}).ok());
  ASSERT_TRUE(in.PipeInput("c", 3).ok());
  const std::vector<SIKV> expected{{"a", 1}, {"b", 2}, {"c", 3}};
  EXPECT_EQ(*seen, expected);
  EXPECT_EQ(out.ReadKeyValuesToList(), expected);
}

TEST(Stateless, ForeachCallsTheActionForEveryRecord) {
  auto seen = std::make_shared<std::vector<SIKV>>();
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Filter([](const std::string&, int64_t v) { return v != 2; })
      .Foreach([seen](const std::string& k, int64_t v) { seen->push_back({k, v}); });
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 1}, {"b", 2}, {"c", 3}}).ok());
  EXPECT_EQ(*seen, (std::vector<SIKV>{{"a", 1}, {"c", 3}}));
}

// --- Split / Branch -------------------------------------------------------------------

TEST(Stateless, SplitFirstMatchWinsAndDefaultTakesTheRest) {
  StreamsBuilder builder;
  auto branches = builder.Stream<std::string, int64_t>("in")
                      .Split(Named::As("s-"))
                      .Branch([](const std::string&, int64_t v) { return v > 100; })
                      .Branch([](const std::string&, int64_t v) { return v > 10; })
                      .DefaultBranch();
  ASSERT_EQ(branches.size(), 3u);
  ASSERT_TRUE(branches.contains("s-1"));
  ASSERT_TRUE(branches.contains("s-2"));
  ASSERT_TRUE(branches.contains("s-0"));
  branches.at("s-1").To("big");
  branches.at("s-2").To("medium");
  branches.at("s-0").To("small");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto big = driver->CreateOutputTopic("big", StringSerde(), Int64Serde());
  auto medium = driver->CreateOutputTopic("medium", StringSerde(), Int64Serde());
  auto small = driver->CreateOutputTopic("small", StringSerde(), Int64Serde());
  // 500 matches both predicates: only the first branch gets it.
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 500}, {"b", 50}, {"c", 5}, {"d", 101}, {"e", 11}}).ok());
  EXPECT_EQ(big.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 500}, {"d", 101}}));
  EXPECT_EQ(medium.ReadKeyValuesToList(), (std::vector<SIKV>{{"b", 50}, {"e", 11}}));
  EXPECT_EQ(small.ReadKeyValuesToList(), (std::vector<SIKV>{{"c", 5}}));
}

TEST(Stateless, SplitWithoutDefaultBranchDropsUnmatchedRecords) {
  StreamsBuilder builder;
  auto branches = builder.Stream<std::string, int64_t>("in")
                      .Split(Named::As("s-"))
                      .Branch([](const std::string&, int64_t v) { return v == 1; })
                      .Branch([](const std::string&, int64_t v) { return v == 2; })
                      .NoDefaultBranch();
  ASSERT_EQ(branches.size(), 2u);
  branches.at("s-1").To("one");
  branches.at("s-2").To("two");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto one = driver->CreateOutputTopic("one", StringSerde(), Int64Serde());
  auto two = driver->CreateOutputTopic("two", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 1}, {"b", 3}, {"c", 2}, {"d", 4}, {"e", 1}}).ok());
  EXPECT_EQ(one.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 1}, {"e", 1}}));
  EXPECT_EQ(two.ReadKeyValuesToList(), (std::vector<SIKV>{{"c", 2}}));
}

TEST(Stateless, SplitBranchNamesFunctionsAndConsumers) {
  StreamsBuilder builder;
  auto branches =
      builder.Stream<std::string, int64_t>("in")
          .Split(Named::As("foo-"))
          .Branch([](const std::string&, int64_t v) { return v == 1; },
                  Branched<std::string, int64_t>::As("bar"))
          .Branch([](const std::string&, int64_t v) { return v == 2; },
                  Branched<std::string, int64_t>::WithConsumer(
                      [](KStream<std::string, int64_t> ks) { ks.To("consumed"); }))
          .Branch([](const std::string&, int64_t v) { return v == 3; },
                  Branched<std::string, int64_t>::WithFunction(
                      [](KStream<std::string, int64_t> ks) {
                        return ks.MapValues([](int64_t v) { return v * 100; });
                      }))
          .Branch([](const std::string&, int64_t v) { return v == 4; })
          .DefaultBranch(Branched<std::string, int64_t>::As("rest"));
  std::vector<std::string> names;
  for (const auto& [name, stream] : branches) names.push_back(name);
  // The consumer's branch (position 2) is not in the map; positions count every branch.
  EXPECT_EQ(names, (std::vector<std::string>{"foo-3", "foo-4", "foo-bar", "foo-rest"}));
  branches.at("foo-bar").To("bar");
  branches.at("foo-3").To("three");
  branches.at("foo-4").To("four");
  branches.at("foo-rest").To("rest");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}}).ok());
  auto read = [&](const std::string& topic) {
    return driver->CreateOutputTopic(topic, StringSerde(), Int64Serde()).ReadKeyValuesToList();
  };
  EXPECT_EQ(read("bar"), (std::vector<SIKV>{{"a", 1}}));
  EXPECT_EQ(read("consumed"), (std::vector<SIKV>{{"b", 2}}));
  EXPECT_EQ(read("three"), (std::vector<SIKV>{{"c", 300}}));
  EXPECT_EQ(read("four"), (std::vector<SIKV>{{"d", 4}}));
  EXPECT_EQ(read("rest"), (std::vector<SIKV>{{"e", 5}}));
}

TEST(Stateless, SplitWithoutNameUsesTheGeneratedSplitterNameAsPrefix) {
  StreamsBuilder builder;
  auto branches = builder.Stream<std::string, int64_t>("in")
                      .Split()
                      .Branch([](const std::string&, int64_t v) { return v > 0; })
                      .DefaultBranch();
  std::vector<std::string> names;
  for (const auto& [name, stream] : branches) names.push_back(name);
  // Sluice separates the generated splitter name and the position with '-'.
  EXPECT_EQ(names, (std::vector<std::string>{"KSTREAM-BRANCH-0000000001-0",
                                             "KSTREAM-BRANCH-0000000001-1"}));
}

// --- Merge ----------------------------------------------------------------------------

TEST(Stateless, MergeOfTwoInputTopics) {
  StreamsBuilder builder;
  auto a = builder.Stream<std::string, int64_t>("a");
  auto b = builder.Stream<std::string, int64_t>("b");
  a.Merge(b).MapValues([](int64_t v) { return v + 1; }).To("out");
  auto driver = MakeDriver(builder);
  auto in_a = driver->CreateInputTopic("a", StringSerde(), Int64Serde());
  auto in_b = driver->CreateInputTopic("b", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  ASSERT_TRUE(in_a.PipeInput("a1", 10).ok());
  ASSERT_TRUE(in_b.PipeInput("b1", 20).ok());
  ASSERT_TRUE(in_a.PipeInput("a2", 30).ok());
  ASSERT_TRUE(in_b.PipeKeyValueList({{"b2", 40}, {"b3", 50}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SIKV>{{"a1", 11}, {"b1", 21}, {"a2", 31}, {"b2", 41}, {"b3", 51}}));
}

TEST(Stateless, MergeOfTwoBranchesKeepsInputOrder) {
  StreamsBuilder builder;
  auto branches = builder.Stream<std::string, std::string>("in")
                      .Split(Named::As("s-"))
                      .Branch([](const std::string&, const std::string& v) { return v == "p"; })
                      .Branch([](const std::string&, const std::string& v) { return v == "q"; })
                      .NoDefaultBranch();
  auto p = branches.at("s-1").MapValues([](const std::string& v) { return v + "!"; });
  auto q = branches.at("s-2").MapValues([](const std::string& v) { return v + "?"; });
  p.Merge(q).To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a1", "p"}, {"a2", "q"}, {"a3", "p"}, {"a4", "q"},
                                   {"a5", "q"}, {"a6", "x"}, {"a7", "p"}})
                  .ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SKV>{{"a1", "p!"}, {"a2", "q?"}, {"a3", "p!"}, {"a4", "q?"},
                              {"a5", "q?"}, {"a7", "p!"}}));
}

TEST(Stateless, MergeOfTheSameStreamTwiceEmitsEachRecordTwiceInDepthFirstOrder) {
  StreamsBuilder builder;
  auto s = builder.Stream<std::string, std::string>("in");
  auto x = s.MapValues([](const std::string& v) { return v + "-x"; });
  auto y = s.MapValues([](const std::string& v) { return v + "-y"; });
  x.Merge(y).To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", "1"}, {"b", "2"}}).ok());
  // Kafka Streams processes each record depth first: a through x, then a through y.
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SKV>{{"a", "1-x"}, {"a", "1-y"}, {"b", "2-x"}, {"b", "2-y"}}));
}

TEST(Stateless, TwoBranchSinksToOneTopicKeepInputOrder) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .Split(Named::As("s-"))
      .Branch([](const std::string&, const std::string& v) { return v == "p"; },
              Branched<std::string, std::string>::WithConsumer(
                  [](KStream<std::string, std::string> ks) {
                    ks.MapValues([](const std::string& v) { return v + "1"; }).To("out");
                  }))
      .DefaultBranch(Branched<std::string, std::string>::WithConsumer(
          [](KStream<std::string, std::string> ks) {
            ks.MapValues([](const std::string& v) { return v + "0"; }).To("out");
          }));
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a1", "p"}, {"a2", "q"}, {"a3", "p"}, {"a4", "r"}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SKV>{{"a1", "p1"}, {"a2", "q0"}, {"a3", "p1"}, {"a4", "r0"}}));
}

// --- To: partitioners and topic extractors --------------------------------------------

TEST(Stateless, ToWithStreamPartitionerChoosesThePartition) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To(
      "out", Produced<StringSerde, Int64Serde>().WithStreamPartitioner(
                 [](std::string_view topic, const std::string&, const int64_t& v,
                    int32_t n) -> std::optional<int32_t> {
                   EXPECT_EQ(topic, "out");
                   EXPECT_EQ(n, 4);
                   if (v < 0) return std::nullopt;
                   return static_cast<int32_t>(v % n);
                 }));
  TopologyTestDriver::Options options;
  options.partitions["out"] = 4;
  auto driver = MakeDriver(builder, options);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 1}, {"b", 2}, {"c", 7}, {"d", -1}, {"e", 4}}).ok());
  auto records = out.ReadRecordsToList();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 5u);
  EXPECT_EQ((*records)[0].partition, 1);
  EXPECT_EQ((*records)[1].partition, 2);
  EXPECT_EQ((*records)[2].partition, 3);
  // std::nullopt falls back to murmur2 of the serialized key.
  EXPECT_EQ((*records)[3].key, "d");
  EXPECT_EQ((*records)[3].partition, internal::DefaultPartition("d", 4));
  EXPECT_EQ((*records)[4].partition, 0);
}

TEST(Stateless, ToWithOutOfRangePartitionFailsNamingTheTopic) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To(
      "out", Produced<StringSerde, Int64Serde>().WithStreamPartitioner(
                 [](std::string_view, const std::string&, const int64_t& v,
                    int32_t) -> std::optional<int32_t> { return static_cast<int32_t>(v); }));
  TopologyTestDriver::Options options;
  options.partitions["out"] = 2;
  auto driver = MakeDriver(builder, options);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeInput("a", 1).ok());
  absl::Status status = in.PipeInput("b", 2);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'out'"), std::string_view::npos) << status;
  EXPECT_NE(status.message().find("partition 2"), std::string_view::npos) << status;
  EXPECT_NE(status.message().find("2 partitions"), std::string_view::npos) << status;
  EXPECT_NE(status.message().find("task 0_0"), std::string_view::npos) << status;
  status = in.PipeInput("c", -1);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("partition -1"), std::string_view::npos) << status;
  EXPECT_EQ(driver->QueueSize("out"), 1u);
}

TEST(Stateless, ToWithTopicNameExtractorChoosesTheTopicPerRecord) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To(
      [](const std::string& k, const int64_t& v, const RecordContext& context) {
        EXPECT_EQ(context.topic, "in");
        EXPECT_GE(context.offset, 0);
        return (v % 2 == 0 ? "even-" : "odd-") + k;
      },
      Produced<StringSerde, Int64Serde>());
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"x", 1}, {"y", 2}, {"x", 4}}).ok());
  auto read = [&](const std::string& topic) {
    return driver->CreateOutputTopic(topic, StringSerde(), Int64Serde()).ReadKeyValuesToList();
  };
  EXPECT_EQ(read("odd-x"), (std::vector<SIKV>{{"x", 1}}));
  EXPECT_EQ(read("even-y"), (std::vector<SIKV>{{"y", 2}}));
  EXPECT_EQ(read("even-x"), (std::vector<SIKV>{{"x", 4}}));
}

// --- Repartition ----------------------------------------------------------------------

TEST(Stateless, RepartitionRoutesByMurmur2OfTheNewKey) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .SelectKey([](const std::string&, int64_t v) { return "user-" + std::to_string(v); })
      .Repartition(Repartitioned<StringSerde, Int64Serde>::As("rekey").WithNumberOfPartitions(5))
      .MapValues([](int64_t v) { return v * 2; })
      .To("out");
  auto driver = MakeDriver(builder);
  EXPECT_EQ(driver->PartitionCount("test-driver-rekey-repartition"), 5);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  std::vector<SIKV> input;
  for (int64_t i = 0; i < 20; ++i) input.push_back({"k", i});
  ASSERT_TRUE(in.PipeKeyValueList(input).ok());

  auto repartition =
      driver->CreateOutputTopic("test-driver-rekey-repartition", StringSerde(), Int64Serde());
  auto records = repartition.ReadRecordsToList();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 20u);
  for (size_t i = 0; i < records->size(); ++i) {
    const auto& r = (*records)[i];
    EXPECT_EQ(r.key, "user-" + std::to_string(i));
    EXPECT_EQ(r.value, static_cast<int64_t>(i));
    EXPECT_EQ(r.partition, internal::DefaultPartition(r.key, 5)) << r.key;
  }
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  auto outputs = out.ReadKeyValuesToList();
  ASSERT_EQ(outputs.size(), 20u);
  // The downstream sub-topology processes the repartition topic partition by partition;
  // each output is its input doubled.
  std::map<std::string, int64_t> by_key;
  for (const auto& kv : outputs) by_key[kv.key] = kv.value;
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(by_key["user-" + std::to_string(i)], 2 * i);
}

TEST(Stateless, RepartitionDefaultsToTheLargestUpstreamPartitionCount) {
  StreamsBuilder builder;
  auto a = builder.Stream<std::string, int64_t>("a");
  auto b = builder.Stream<std::string, int64_t>("b");
  a.Merge(b).Repartition().To("out");
  TopologyTestDriver::Options options;
  options.partitions["a"] = 3;
  options.partitions["b"] = 7;
  auto driver = MakeDriver(builder, options);
  // Indexes: source a 0, source b 1, merge 2, repartition 3.
  EXPECT_EQ(driver->PartitionCount("test-driver-KSTREAM-REPARTITION-0000000003-repartition"), 7);
  auto in = driver->CreateInputTopic("a", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeInput("key", 1).ok());
  auto rp = driver->CreateOutputTopic("test-driver-KSTREAM-REPARTITION-0000000003-repartition",
                                      StringSerde(), Int64Serde());
  auto r = rp.ReadRecord();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->partition, internal::DefaultPartition("key", 7));
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"key", 1}}));
}

TEST(Stateless, RepartitionWithStreamPartitioner) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Repartition(Repartitioned<StringSerde, Int64Serde>::As("byvalue")
                       .WithNumberOfPartitions(3)
                       .WithStreamPartitioner([](std::string_view, const std::string&,
                                                 const int64_t& v, int32_t n) {
                         return std::optional<int32_t>(static_cast<int32_t>(v % n));
                       }))
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeKeyValueList({{"a", 0}, {"b", 1}, {"c", 2}, {"d", 5}}).ok());
  auto rp = driver->CreateOutputTopic("test-driver-byvalue-repartition", StringSerde(),
                                      Int64Serde());
  auto records = rp.ReadRecordsToList();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 4u);
  EXPECT_EQ((*records)[0].partition, 0);
  EXPECT_EQ((*records)[1].partition, 1);
  EXPECT_EQ((*records)[2].partition, 2);
  EXPECT_EQ((*records)[3].partition, 2);
  EXPECT_EQ(driver->CreateOutputTopic("out", StringSerde(), Int64Serde()).QueueSize(), 4u);
}

// --- Partitions, batches, metadata ----------------------------------------------------

TEST(Stateless, MultiPartitionInputIsProcessedInBatchesPerPartition) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .MapValues([](int64_t v) { return v + 1000; })
      .To("out");
  TopologyTestDriver::Options options;
  options.partitions["in"] = 3;
  options.partitions["out"] = 3;
  auto driver = MakeDriver(builder, options);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  std::vector<SIKV> input;
  for (int64_t i = 0; i < 30; ++i) input.push_back({"key-" + std::to_string(i % 7), i});
  ASSERT_TRUE(in.PipeKeyValueList(input).ok());

  // Expected: partitions in the order their first record arrived, each in offset order.
  std::vector<int32_t> partition_order;
  std::map<int32_t, std::vector<SIKV>> per_partition;
  for (const auto& kv : input) {
    int32_t p = internal::DefaultPartition(kv.key, 3);
    if (!per_partition.contains(p)) partition_order.push_back(p);
    per_partition[p].push_back({kv.key, kv.value + 1000});
  }
  std::vector<SIKV> expected;
  for (int32_t p : partition_order) {
    expected.insert(expected.end(), per_partition[p].begin(), per_partition[p].end());
  }
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  auto records = out.ReadRecordsToList();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ((*records)[i].key, expected[i].key) << i;
    EXPECT_EQ((*records)[i].value, expected[i].value) << i;
    EXPECT_EQ((*records)[i].partition, internal::DefaultPartition(expected[i].key, 3)) << i;
  }
}

TEST(Stateless, ExplicitInputPartitionOutOfRangeIsAnError) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To("out");
  TopologyTestDriver::Options options;
  options.partitions["in"] = 2;
  auto driver = MakeDriver(builder, options);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeInputToPartition(1, "a", 1).ok());
  absl::Status status = in.PipeInputToPartition(2, "a", 1);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'in'"), std::string_view::npos) << status;
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_EQ(out.QueueSize(), 1u);
}

TEST(Stateless, TimestampsAndHeadersPropagateFromInputToOutput) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .MapValues([](int64_t v) { return std::to_string(v); })
      .Filter([](const std::string&, const std::string& v) { return v != "0"; })
      .To("out");
  TopologyTestDriver::Options options;
  options.start_timestamp_ms = 1000;
  auto driver = MakeDriver(builder, options);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  const std::vector<TestHeader> headers{{"trace", "abc"}, {"empty", std::nullopt}};
  ASSERT_TRUE(in.PipeInput("a", 1, 42, headers).ok());
  ASSERT_TRUE(in.PipeInput("b", 2).ok());  // driver clock: 1000
  ASSERT_TRUE(in.PipeInput("c", 0).ok());  // 1001, filtered
  ASSERT_TRUE(in.PipeInput("d", 3).ok());  // 1002
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  auto records = out.ReadRecordsToList();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].timestamp, 42);
  EXPECT_EQ((*records)[0].headers, headers);
  EXPECT_EQ((*records)[0].value, "1");
  EXPECT_EQ((*records)[1].timestamp, 1000);
  EXPECT_TRUE((*records)[1].headers.empty());
  EXPECT_EQ((*records)[2].timestamp, 1002);
  EXPECT_EQ((*records)[2].key, "d");
}

TEST(Stateless, NullKeysAndNullableValuesRoundTripAsKafkaNulls) {
  StreamsBuilder builder;
  builder
      .Stream("in", Consumed<StringSerde, Nullable<Int64Serde>>())
      .MapValues([](const std::optional<int64_t>& v) {
        return v ? std::optional<int64_t>(*v + 1) : std::nullopt;
      })
      .To("out", Produced<StringSerde, Nullable<Int64Serde>>());
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Nullable<Int64Serde>());
  ASSERT_TRUE(in.PipeInput("a", std::nullopt).ok());
  ASSERT_TRUE(in.PipeInput("b", 5).ok());
  ASSERT_TRUE(in.PipeValue(7).ok());  // null key

  std::vector<TestRawRecord> raw = driver->ReadRaw("out");
  ASSERT_EQ(raw.size(), 3u);
  EXPECT_EQ(raw[0].key, std::optional<std::string>("a"));
  EXPECT_EQ(raw[0].value, std::nullopt);  // a tombstone stays a tombstone
  EXPECT_EQ(raw[1].key, std::optional<std::string>("b"));
  ASSERT_TRUE(raw[1].value.has_value());
  EXPECT_EQ(raw[1].value->size(), 8u);
  // StringSerde reads a null key as "" and writes "" back: a present, empty key.
  EXPECT_EQ(raw[2].key, std::optional<std::string>(""));
  ASSERT_TRUE(raw[2].value.has_value());

  ASSERT_TRUE(in.PipeValue(std::nullopt).ok());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Nullable<Int64Serde>());
  auto kv = out.ReadKeyValue();
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->key, "");
  EXPECT_EQ(kv->value, std::nullopt);
}

TEST(Stateless, NullableKeysRoundTripAsKafkaNulls) {
  StreamsBuilder builder;
  builder.Stream("in", Consumed<Nullable<StringSerde>, StringSerde>())
      .To("out", Produced<Nullable<StringSerde>, StringSerde>());
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", Nullable<StringSerde>(), StringSerde());
  ASSERT_TRUE(in.PipeInput(std::nullopt, "v").ok());
  ASSERT_TRUE(in.PipeInput(std::string(""), "w").ok());
  std::vector<TestRawRecord> raw = driver->ReadRaw("out");
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[0].key, std::nullopt);
  EXPECT_EQ(raw[1].key, std::optional<std::string>(""));
  EXPECT_EQ(raw[1].value, std::optional<std::string>("w"));
}

TEST(Stateless, LongChainOverManyRecordsInBatches) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Map([](const std::string& k, int64_t v) { return KeyValue{k + "/" + std::to_string(v % 10), v}; })
      .Filter([](const std::string&, int64_t v) { return v % 3 != 0; })
      .MapValues([](int64_t v) { return v * v; })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  std::vector<SIKV> expected;
  for (int batch = 0; batch < 10; ++batch) {
    std::vector<SIKV> input;
    for (int64_t i = 0; i < 500; ++i) {
      int64_t v = batch * 500 + i;
      input.push_back({"k", v});
      if (v % 3 != 0) expected.push_back({"k/" + std::to_string(v % 10), v * v});
    }
    ASSERT_TRUE(in.PipeKeyValueList(input).ok());
  }
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), expected);
}

// --- Failure paths --------------------------------------------------------------------

TEST(Stateless, UndeserializableRecordFailsNamingTopicPartitionOffsetAndSerde) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeInput("a", 1).ok());
  TestRawRecord bad;
  bad.key = "b";
  bad.value = "abc";  // 3 bytes: not an Int64
  absl::Status status = driver->PipeRaw("in", bad);
  ASSERT_FALSE(status.ok());
  const std::string message(status.message());
  EXPECT_NE(message.find("topic 'in'"), std::string::npos) << message;
  EXPECT_NE(message.find("partition 0"), std::string::npos) << message;
  EXPECT_NE(message.find("offset 1"), std::string::npos) << message;
  EXPECT_NE(message.find("Int64"), std::string::npos) << message;
  EXPECT_NE(message.find("value"), std::string::npos) << message;
  EXPECT_NE(message.find("task 0_0"), std::string::npos) << message;
  EXPECT_EQ(driver->skipped_records(), 0u);
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 1}}));
}

TEST(Stateless, UndeserializableKeyNamesTheKeySerde) {
  StreamsBuilder builder;
  builder.Stream<int64_t, std::string>("in").To("out");
  auto driver = MakeDriver(builder);
  TestRawRecord bad;
  bad.key = "xy";
  bad.value = "v";
  absl::Status status = driver->PipeRaw("in", bad);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("key"), std::string_view::npos) << status;
  EXPECT_NE(status.message().find("Int64"), std::string_view::npos) << status;
  EXPECT_NE(status.message().find("offset 0"), std::string_view::npos) << status;
}

TEST(Stateless, ContinueHandlerSkipsBadRecordsAndCountsThem) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .MapValues([](int64_t v) { return v + 1; })
      .To("out");
  auto driver = MakeDriver(builder, {}, {{"default.deserialization.exception.handler", "continue"}});
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto good = [](const std::string& k, int64_t v) {
    TestRawRecord r;
    r.key = k;
    std::string buf;
    Int64Serde().Serialize(v, buf);
    r.value = buf;
    return r;
  };
  TestRawRecord bad;
  bad.key = "bad";
  bad.value = "x";
  ASSERT_TRUE(driver->PipeRawBatch("in", {good("a", 1), bad, good("b", 2), bad, good("c", 3)}).ok());
  EXPECT_EQ(driver->skipped_records(), 2u);
  ASSERT_TRUE(driver->PipeRaw("in", bad).ok());
  EXPECT_EQ(driver->skipped_records(), 3u);
  ASSERT_TRUE(in.PipeInput("d", 4).ok());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(),
            (std::vector<SIKV>{{"a", 2}, {"b", 3}, {"c", 4}, {"d", 5}}));
}

TEST(Stateless, ThrowingLambdaFailsTheTaskWithTheExceptionText) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .MapValues([](int64_t v) {
        if (v == 13) throw std::runtime_error("unlucky value 13");
        return v;
      })
      .To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeInput("a", 1).ok());
  absl::Status status = in.PipeInput("b", 13);
  ASSERT_FALSE(status.ok());
  const std::string message(status.message());
  EXPECT_NE(message.find("task 0_0"), std::string::npos) << message;
  EXPECT_NE(message.find("unlucky value 13"), std::string::npos) << message;
  EXPECT_NE(message.find("topic 'in'"), std::string::npos) << message;
  EXPECT_NE(message.find("offsets 1..1"), std::string::npos) << message;
  // The driver goes on with the next record.
  ASSERT_TRUE(in.PipeInput("c", 2).ok());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 1}, {"c", 2}}));
}

// KNOWN BUG (not fixed here: the fix belongs in operators/processor_graph.cc or
// engine/task.cc plus a reset hook in internal/node.h): when user code throws after one
// parent of a merge has handed records to it, MergeNode::pending_ keeps pointers into the
// failed batch's buffers, and the next batch emits them again (they now alias the new
// batch's records: the output here is a3, a3, a4). Enable once failed batches reset
// their merge nodes.
TEST(Stateless, FailedBatchLeavesNothingBehindInAMerge) {
  // A batch fails after one branch has handed records to the merge: the next batch must
  // not emit them again.
  StreamsBuilder builder;
  auto branches = builder.Stream<std::string, std::string>("in")
                      .Split(Named::As("s-"))
                      .Branch([](const std::string&, const std::string& v) { return v == "p"; })
                      .DefaultBranch();
  auto q = branches.at("s-0").MapValues([](const std::string& v) {
    if (v == "bad") throw std::runtime_error("bad value");
    return v;
  });
  branches.at("s-1").Merge(q).To("out");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  EXPECT_FALSE(in.PipeKeyValueList({{"a1", "p"}, {"a2", "bad"}}).ok());
  ASSERT_TRUE(in.PipeKeyValueList({{"a3", "p"}, {"a4", "q"}}).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SKV>{{"a3", "p"}, {"a4", "q"}}));
}

TEST(Stateless, FailedBatchLeavesNothingBehindWithTwoSinks) {
  StreamsBuilder builder;
  auto s = builder.Stream<std::string, std::string>("in");
  s.To("copy");
  s.MapValues([](const std::string& v) {
     if (v == "bad") throw std::runtime_error("bad value");
     return v;
   }).To("checked");
  auto driver = MakeDriver(builder);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  EXPECT_FALSE(in.PipeKeyValueList({{"a1", "ok"}, {"a2", "bad"}}).ok());
  ASSERT_TRUE(in.PipeInput("a3", "ok").ok());
  // With several sinks, outputs are held until the batch ends, so a failed batch sends
  // nothing; either way the next batch must produce its own records exactly once.
  auto copy = driver->CreateOutputTopic("copy", StringSerde(), StringSerde());
  auto checked = driver->CreateOutputTopic("checked", StringSerde(), StringSerde());
  EXPECT_EQ(copy.ReadKeyValuesToList(), (std::vector<SKV>{{"a3", "ok"}}));
  EXPECT_EQ(checked.ReadKeyValuesToList(), (std::vector<SKV>{{"a3", "ok"}}));
}

TEST(Stateless, DriverRejectsBadOptionsAndConfig) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok());
  TopologyTestDriver::Options options;
  options.partitions["in"] = 0;
  auto driver = TopologyTestDriver::Create(*topology, options);
  ASSERT_FALSE(driver.ok());
  EXPECT_NE(driver.status().message().find("'in'"), std::string_view::npos);
  auto bad_config = TopologyTestDriver::Create(
      *topology, {}, {{"default.deserialization.exception.handler", "ignore"}});
  ASSERT_FALSE(bad_config.ok());
  EXPECT_NE(bad_config.status().message().find("default.deserialization.exception.handler"),
            std::string_view::npos);
}

TEST(Stateless, ReadingAnEmptyOutputTopicIsNotFound) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To("out");
  auto driver = MakeDriver(builder);
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  auto r = out.ReadKeyValue();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("'out'"), std::string_view::npos);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// The test driver's list readers do not drop a record that fails to deserialize.
TEST(TestDriver, ListReadersReportUndeserializableOutput) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in").To("out");
  auto driver = TopologyTestDriver::Create(builder.Build().value()).value();
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("k", "not eight bytes").ok());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_THROW(out.ReadKeyValuesToList(), std::runtime_error);
  ASSERT_TRUE(in.PipeInput("k", "again").ok());
  auto records = out.ReadRecordsToList();
  ASSERT_FALSE(records.ok());
  EXPECT_NE(std::string(records.status().message()).find("output topic 'out'"), std::string::npos);
}

}  // namespace
}  // namespace sluice
