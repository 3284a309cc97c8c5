// KTable-KTable joins on the key through the TopologyTestDriver: inner, left and outer
// on one sequence of updates and tombstones, new and old values (a downstream GroupBy),
// materialized or not, and a join read by a later join.
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
