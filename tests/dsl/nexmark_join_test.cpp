// Nexmark q3 and q20 as Sluice stream-table joins (the table side is loaded first, so
// every stream record meets its final row), through the TopologyTestDriver on several
// partitions, checked against plain C++ computations over the same generated events.
//
// Events are Nexmark-like (persons, auctions, bids from a seeded generator) with values
// as '|'-separated fields, so that the expected results need no serde:
//   person  key id      value "name|city|state"
//   auction key id      value "seller|category|reserve"
//   bid     key bidder  value "auction|price"
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"

namespace sluice {
namespace {

using sluice::testing::Fields;
using sluice::testing::MakeDriver;
using SSKV = KeyValue<std::string, std::string>;

struct Events {
  std::vector<SSKV> persons, auctions, bids;
};

Events Generate(uint32_t seed) {
  static const char* kStates[] = {"OR", "ID", "CA", "WA", "NY", "TX"};
  std::mt19937 rng(seed);
  Events e;
  for (int p = 0; p < 200; ++p) {
    e.persons.push_back({"person-" + std::to_string(p),
                         "name" + std::to_string(p) + "|city" + std::to_string(rng() % 20) + "|" +
                             kStates[rng() % 6]});
  }
  for (int a = 0; a < 500; ++a) {
    e.auctions.push_back({"auction-" + std::to_string(a),
                          "person-" + std::to_string(rng() % 200) + "|" + std::to_string(rng() % 15) +
                              "|" + std::to_string(rng() % 1000)});
  }
  for (int b = 0; b < 3000; ++b) {
    e.bids.push_back({"person-" + std::to_string(rng() % 200),
                      "auction-" + std::to_string(rng() % 500) + "|" + std::to_string(rng() % 10000)});
  }
  return e;
}

std::vector<SSKV> Sorted(std::vector<SSKV> v) {
  std::sort(v.begin(), v.end(), [](const SSKV& a, const SSKV& b) {
    return std::tie(a.key, a.value) < std::tie(b.key, b.value);
  });
  return v;
}

// q3, local item suggestion: auctions of category 10 whose seller lives in OR, ID or CA,
// with the seller's name, city and state. The persons table is joined by the re-keyed
// auction stream (seller), so Sluice repartitions the auctions.
TEST(Nexmark, Q3LocalItemSuggestionMatchesAPlainComputation) {
  for (uint32_t seed : {7u, 8u}) {
    SCOPED_TRACE(seed);
    const Events events = Generate(seed);
    StreamsBuilder builder;
    auto persons = builder.Table<std::string, std::string>("persons").Filter(
        [](const std::string&, const std::string& p) {
          const std::string state = Fields(p)[2];
          return state == "OR" || state == "ID" || state == "CA";
        });
    builder.Stream<std::string, std::string>("auctions")
        .Filter([](const std::string&, const std::string& a) { return Fields(a)[1] == "10"; })
        .Map([](const std::string& id, const std::string& a) {
          return KeyValue<std::string, std::string>(Fields(a)[0], id);
        })
        .Join(persons,
              [](const std::string& auction, const std::string& person) {
                const std::vector<std::string> p = Fields(person);
                return p[0] + "|" + p[1] + "|" + p[2] + "|" + auction;
              })
        .To("q3");
    TopologyTestDriver::Options options;
    options.partitions["persons"] = 4;
    options.partitions["auctions"] = 3;
    auto driver = MakeDriver(builder, options);
    ASSERT_NE(driver, nullptr);
    auto p = driver->CreateInputTopic("persons", StringSerde(), StringSerde());
    auto a = driver->CreateInputTopic("auctions", StringSerde(), StringSerde());
    auto out = driver->CreateOutputTopic("q3", StringSerde(), StringSerde());
    ASSERT_TRUE(p.PipeKeyValueList(events.persons).ok());
    ASSERT_TRUE(a.PipeKeyValueList(events.auctions).ok());

    std::map<std::string, std::string> person_by_id(
        [&] {
          std::map<std::string, std::string> m;
          for (const SSKV& kv : events.persons) m[kv.key] = kv.value;
          return m;
        }());
    std::vector<SSKV> want;
    for (const SSKV& auction : events.auctions) {
      const std::vector<std::string> f = Fields(auction.value);
      if (f[1] != "10") continue;
      const std::vector<std::string> person = Fields(person_by_id.at(f[0]));
      if (person[2] != "OR" && person[2] != "ID" && person[2] != "CA") continue;
      want.push_back({f[0], person[0] + "|" + person[1] + "|" + person[2] + "|" + auction.key});
    }
    ASSERT_GT(want.size(), 5u);
    EXPECT_EQ(Sorted(out.ReadKeyValuesToList()), Sorted(want));
  }
}

// q20, expanded bids: bids of auctions of category 10, with the auction's seller and
// reserve. Bids are keyed by bidder, so Sluice repartitions them by auction.
TEST(Nexmark, Q20ExpandedBidsMatchAPlainComputation) {
  for (uint32_t seed : {11u, 12u}) {
    SCOPED_TRACE(seed);
    const Events events = Generate(seed);
    StreamsBuilder builder;
    auto auctions = builder.Table<std::string, std::string>("auctions").Filter(
        [](const std::string&, const std::string& a) { return Fields(a)[1] == "10"; });
    builder.Stream<std::string, std::string>("bids")
        .SelectKey([](const std::string&, const std::string& bid) { return Fields(bid)[0]; })
        .Join(auctions,
              [](const std::string& bid, const std::string& auction) {
                const std::vector<std::string> b = Fields(bid);
                const std::vector<std::string> a = Fields(auction);
                return b[1] + "|" + a[0] + "|" + a[2];
              },
              Joined<StringSerde, StringSerde>::As("bids-by-auction"))
        .To("q20");
    TopologyTestDriver::Options options;
    options.partitions["auctions"] = 3;
    options.partitions["bids"] = 2;
    auto driver = MakeDriver(builder, options);
    ASSERT_NE(driver, nullptr);
    auto a = driver->CreateInputTopic("auctions", StringSerde(), StringSerde());
    auto b = driver->CreateInputTopic("bids", StringSerde(), StringSerde());
    auto out = driver->CreateOutputTopic("q20", StringSerde(), StringSerde());
    ASSERT_TRUE(a.PipeKeyValueList(events.auctions).ok());
    ASSERT_TRUE(b.PipeKeyValueList(events.bids).ok());

    std::map<std::string, std::string> auction_by_id;
    for (const SSKV& kv : events.auctions) auction_by_id[kv.key] = kv.value;
    std::vector<SSKV> want;
    for (const SSKV& bid : events.bids) {
      const std::vector<std::string> f = Fields(bid.value);
      const std::vector<std::string> auction = Fields(auction_by_id.at(f[0]));
      if (auction[1] != "10") continue;
      want.push_back({f[0], f[1] + "|" + auction[0] + "|" + auction[2]});
    }
    ASSERT_GT(want.size(), 50u);
    EXPECT_EQ(Sorted(out.ReadKeyValuesToList()), Sorted(want));
  }
}

}  // namespace
}  // namespace sluice
