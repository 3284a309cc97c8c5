// Nexmark q5, q7, q8 and q11 as Sluice windowed aggregations and joins, through the
// TopologyTestDriver on several partitions, each run four ways (record cache on and off;
// one record per Pipe call, and batches of records, one per partition, as an App takes
// them after a poll), checked for exact equality against plain C++ computations over the
// same generated events.
//
// Events are Nexmark-like, from a seeded generator, with values as '|'-separated fields:
//   person  key id      value "name|t"                 timestamp: registration (t)
//   auction key id      value "seller|category|t"      timestamp: creation (t)
//   bid     key bidder  value "auction|price"          timestamp: the bid
// The generator's clock advances 0-99 ms per event over 2400 events (about two minutes);
// every fifth event is up to 3 s older than the clock (out of order). Bidders come and
// go (active 1-9 s, away 4-20 s), so their sessions split, and out-of-order bids
// sometimes bridge two sessions that already exist.
//
// Lateness. The grace period is 8 s. In the generated events no record is late: stream
// time is at most 3 s ahead of a record when piped one at a time, and at most 3.2 s
// (a batch covers 32 generated events) + 3 s in batches, less than the grace. Each query
// then pipes a few hand-placed records after the generated ones, one at a time; the
// test states for each whether it is late (dropped and counted) or in time, and the
// expected results and late_records() count follow that statement.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"
#include "tests/dsl/session_reference.h"

namespace sluice {
namespace {

using sluice::testing::Fields;
using sluice::testing::kNoCache;
using sluice::testing::MakeDriver;
using namespace std::chrono_literals;

constexpr int64_t kBase = 1'000'000;  // the generator's clock at the start (ms)
constexpr int64_t kGraceMs = 8000;
constexpr int64_t kMaxDisorderMs = 3000;
constexpr int kEvents = 2400;
constexpr int kBidders = 40;
constexpr int kBatchEvents = 32;  // generated events per batch, in the batched modes
constexpr int64_t kWindowMs = 10000;

using TWS = TimeWindowedSerde<StringSerde>;
using SWS = SessionWindowedSerde<StringSerde>;
// A windowed output row: (key, window start) -> value.
using WindowKey = std::tuple<std::string, int64_t>;
using WindowTable = std::map<WindowKey, std::string>;

struct Event {
  std::string topic, key, value;
  int64_t t = 0;
  int index = 0;  // generation order
};

struct Events {
  std::vector<Event> all;  // in generation order
  int64_t max_time = 0;
  std::vector<Event> Of(std::string_view topic) const {
    std::vector<Event> out;
    for (const Event& e : all) {
      if (e.topic == topic) out.push_back(e);
    }
    return out;
  }
};

Events Generate(uint32_t seed) {
  std::mt19937 rng(seed);
  Events e;
  int64_t now = kBase;
  struct Bidder {
    bool active = false;
    int64_t until = 0;
  };
  std::vector<Bidder> bidders(kBidders);
  for (Bidder& b : bidders) {
    b.active = rng() % 2 == 0;
    b.until = kBase + rng() % 10000;
  }
  std::vector<std::string> persons, auctions;
  for (int i = 0; i < kEvents; ++i) {
    now += rng() % 100;
    const int64_t t = rng() % 5 == 0 ? now - static_cast<int64_t>(rng() % (kMaxDisorderMs + 1)) : now;
    e.max_time = std::max(e.max_time, t);
    for (Bidder& b : bidders) {
      while (b.until <= now) {
        b.active = !b.active;
        b.until += b.active ? 1000 + rng() % 8000 : 4000 + rng() % 16000;
      }
    }
    const uint32_t kind = rng() % 10;
    if (kind == 0 || persons.empty()) {
      persons.push_back("person-" + std::to_string(persons.size()));
      e.all.push_back({"persons", persons.back(),
                       "name" + std::to_string(persons.size() - 1) + "|" + std::to_string(t), t, i});
    } else if (kind <= 2 || auctions.empty()) {
      // Sellers are mostly recent persons, so many open an auction soon after registering
      // (in the same window or the next).
      const size_t n = persons.size();
      const std::string& seller = persons[n - 1 - std::min<size_t>(n - 1, rng() % 6)];
      auctions.push_back("auction-" + std::to_string(auctions.size()));
      e.all.push_back({"auctions", auctions.back(),
                       seller + "|" + std::to_string(rng() % 5) + "|" + std::to_string(t), t, i});
    } else {
      // Bids favour recent auctions, so that some are hot; bidders are the active ones.
      const size_t n = auctions.size();
      const size_t a = n - 1 - std::min<size_t>(n - 1, rng() % 8 == 0 ? rng() % n : rng() % 5);
      std::vector<int> active;
      for (int b = 0; b < kBidders; ++b) {
        if (bidders[b].active) active.push_back(b);
      }
      const int bidder = active.empty() ? static_cast<int>(rng() % kBidders) : active[rng() % active.size()];
      e.all.push_back({"bids", "bidder-" + std::to_string(bidder),
                       auctions[a] + "|" + std::to_string(rng() % 10000), t, i});
    }
  }
  return e;
}

// The four ways each query runs.
struct Mode {
  const char* name;
  std::map<std::string, std::string> config;
  bool batched;
};
const std::vector<Mode>& Modes() {
  static const std::vector<Mode> modes = {
      {"cache on, one record per pipe", {}, false},
      {"cache off, one record per pipe", kNoCache, false},
      {"cache on, batches", {}, true},
      {"cache off, batches", kNoCache, true},
  };
  return modes;
}

// Three partitions for persons and auctions, four for bids (repartition topics take the
// largest count upstream, or that of the table they are joined with).
std::unique_ptr<TopologyTestDriver> Driver(StreamsBuilder& builder, const Mode& mode) {
  TopologyTestDriver::Options options;
  options.default_partitions = 3;
  options.partitions["bids"] = 4;
  return MakeDriver(builder, options, mode.config);
}

TestRawRecord Raw(const Event& e) {
  TestRawRecord r;
  r.key = e.key;
  r.value = e.value;
  r.timestamp = e.t;
  return r;
}

// Pipes `events` (in generation order, of any topics): one record per call, or each
// run of kBatchEvents generated events as one batch per topic.
absl::Status PipeEvents(TopologyTestDriver& driver, const std::vector<Event>& events, bool batched) {
  if (!batched) {
    for (const Event& e : events) {
      if (absl::Status s = driver.PipeRaw(e.topic, Raw(e)); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  size_t i = 0;
  while (i < events.size()) {
    const int chunk = events[i].index / kBatchEvents;
    std::map<std::string, std::vector<TestRawRecord>> per_topic;
    for (; i < events.size() && events[i].index / kBatchEvents == chunk; ++i) {
      per_topic[events[i].topic].push_back(Raw(events[i]));
    }
    for (auto& [topic, records] : per_topic) {
      if (absl::Status s = driver.PipeRawBatch(topic, std::move(records)); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status PipeBid(TopologyTestDriver& driver, const std::string& bidder, const std::string& value,
                     int64_t t) {
  return driver.PipeRaw("bids", Raw(Event{"bids", bidder, value, t, 0}));
}

// The last value per (key, window start) of a windowed output topic (nullopt deletes).
template <class KS>
WindowTable Final(TopologyTestDriver& driver, const std::string& topic, KS ks) {
  auto out = driver.CreateOutputTopic(topic, ks, Nullable<StringSerde>());
  auto records = out.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  WindowTable last;
  if (!records.ok()) return last;
  for (auto& r : *records) {
    const WindowKey k{r.key.key, r.key.window.start_ms};
    if (r.value) {
      last[k] = *r.value;
    } else {
      last.erase(k);
    }
  }
  return last;
}

// ---- q5 ----------------------------------------------------------------------------

constexpr int64_t kHopMs = 2000;

// The starts of the hopping windows [start, start + 10 s) that hold t.
std::vector<int64_t> HoppingStarts(int64_t t) {
  std::vector<int64_t> starts;
  for (int64_t start = (t - kWindowMs) / kHopMs * kHopMs + kHopMs; start <= t; start += kHopMs) {
    if (start >= 0 && start > t - kWindowMs) starts.push_back(start);
  }
  return starts;
}

// Bids per auction of one window, as "auction=n,auction=n" (sorted), and back.
using Counts = std::map<std::string, int64_t>;
Counts ParseCounts(const std::string& s) {
  Counts out;
  size_t start = 0;
  while (start < s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    const std::string item = s.substr(start, comma - start);
    const size_t eq = item.find('=');
    out[item.substr(0, eq)] = std::stoll(item.substr(eq + 1));
    start = comma + 1;
  }
  return out;
}
std::string FormatCounts(const Counts& counts) {
  std::string out;
  for (const auto& [auction, n] : counts) {
    out += (out.empty() ? "" : ",") + auction + "=" + std::to_string(n);
  }
  return out;
}

// A window's result: "max|hot auctions (sorted, comma-separated)|auctions|bids". The bid
// total and auction count make a wrong retraction visible (a stale count left behind
// never changes the max, since counts only grow).
std::string Hot(const Counts& counts) {
  int64_t max = 0, total = 0;
  for (const auto& [a, n] : counts) {
    max = std::max(max, n);
    total += n;
  }
  std::string hot;
  for (const auto& [a, n] : counts) {
    if (n == max) hot += (hot.empty() ? "" : ",") + a;
  }
  return std::to_string(max) + "|" + hot + "|" + std::to_string(counts.size()) + "|" +
         std::to_string(total);
}

// q5, hot items: bids per auction in hopping windows of 10 s advancing by 2 s, then per
// window the auctions with the most bids. The bids are keyed by bidder, so counting per
// auction repartitions them; the per-window step regroups the windowed counts by window
// (key "hot" and the window) through a second repartition.
//
// The windowed count table emits updates: a window's count for an auction comes out
// again each time it grows (with the cache on, fewer times). The per-window step must
// not add those up. Two correct ways, both built here:
//  - "table": KTable::GroupBy with an adder and a subtractor. Each update carries the
//    old count, which the subtractor takes out before the adder puts the new one in, so
//    the aggregate holds every auction's current count (an additive, order-free fold).
//  - "stream": a stream aggregation over the count updates that keeps, per auction, the
//    largest count seen. That is right only because counts within a window only grow
//    (no retraction ever lowers one) and taking a max is idempotent under the cache
//    collapsing or repeating updates; summing the updates would be wrong.
enum class Q5Plan { kStream, kTable };

void BuildQ5(StreamsBuilder& builder, Q5Plan plan) {
  KTable<Windowed<std::string>, int64_t> counts =
      builder.Stream<std::string, std::string>("bids")
          .SelectKey([](const std::string&, const std::string& bid) { return Fields(bid)[0]; })
          .GroupByKey()
          .WindowedBy(TimeWindows::OfSizeAndGrace(std::chrono::milliseconds(kWindowMs),
                                                  std::chrono::milliseconds(kGraceMs))
                          .AdvanceBy(std::chrono::milliseconds(kHopMs)))
          .Count();
  const TWS tws(kWindowMs);
  auto per_window = [&]() -> KTable<Windowed<std::string>, std::string> {
    if (plan == Q5Plan::kTable) {
      return counts
            .GroupBy(
                [](const Windowed<std::string>& w, const int64_t& n) {
                  return KeyValue<Windowed<std::string>, std::string>(Windowed<std::string>{"hot", w.window},
                                                                      w.key + "=" + std::to_string(n));
                },
                Grouped<TWS, StringSerde>(tws, {}))
            .Aggregate(
                [] { return std::string(); },
                [](const Windowed<std::string>&, const std::string& item, std::string agg) {
                  Counts c = ParseCounts(agg);
                  const Counts add = ParseCounts(item);
                  c[add.begin()->first] += add.begin()->second;
                  return FormatCounts(c);
                },
                [](const Windowed<std::string>&, const std::string& item, std::string agg) {
                  Counts c = ParseCounts(agg);
                  const Counts sub = ParseCounts(item);
                  if ((c[sub.begin()->first] -= sub.begin()->second) == 0) c.erase(sub.begin()->first);
                  return FormatCounts(c);
                },
                Materialized<TWS, StringSerde>(tws, {}));
    }
    return counts.ToStream()
            .Filter([](const Windowed<std::string>&, const std::optional<int64_t>& n) { return n.has_value(); })
            .Map([](const Windowed<std::string>& w, const std::optional<int64_t>& n) {
              return KeyValue<Windowed<std::string>, std::string>(Windowed<std::string>{"hot", w.window},
                                                                  w.key + "=" + std::to_string(*n));
            })
            .GroupByKey(Grouped<TWS, StringSerde>(tws, {}))
            .Aggregate([] { return std::string(); },
                       [](const Windowed<std::string>&, const std::string& item, std::string agg) {
                         Counts c = ParseCounts(agg);
                         const Counts update = ParseCounts(item);
                         int64_t& n = c[update.begin()->first];
                         n = std::max(n, update.begin()->second);
                         return FormatCounts(c);
                       },
                       Materialized<TWS, StringSerde>(tws, {}));
  }();
  per_window.MapValues([](const std::string& agg) { return Hot(ParseCounts(agg)); })
      .ToStream()
      .To("q5", Produced<TWS, Nullable<StringSerde>>(tws, {}));
}

TEST(NexmarkWindows, Q5HotItemsMatchAPlainComputation) {
  const Events events = Generate(5);
  const std::vector<Event> bids = events.Of("bids");

  // Hand-placed bids, piped one at a time after the generated ones, all for auction X
  // (one key, so one task, whose stream time is then exactly P):
  //   1. X at P, P a multiple of 2 s at least 30 s past every generated bid: in time.
  //   2. X at kBase - 100 s: late, every one of its windows closed long ago.
  //   3. X at P - 13 s: its windows start at P-22, -20, -18, -16 and -14 s; those ending
  //      at or before P - 8 s (grace) are closed: [P-22, P-12), [P-20, P-10), [P-18, P-8).
  //      It is counted in the two open ones and counted late once.
  const std::string x = "auction-0";
  const int64_t p = (events.max_time + 30000) / kHopMs * kHopMs + kHopMs;

  std::map<int64_t, Counts> counts;  // window start -> auction -> bids
  for (const Event& b : bids) {
    for (int64_t start : HoppingStarts(b.t)) ++counts[start][Fields(b.value)[0]];
  }
  for (int64_t start : HoppingStarts(p)) ++counts[start][x];              // 1
  for (int64_t start : {p - 16000, p - 14000}) ++counts[start][x];       // 3, open windows
  WindowTable want;
  for (const auto& [start, per_auction] : counts) want[{"hot", start}] = Hot(per_auction);

  // The data is what the test means it to be: out of order, many windows, ties.
  int out_of_order = 0, ties = 0;
  int64_t stream_time = 0;
  for (const Event& b : bids) {
    out_of_order += b.t < stream_time;
    stream_time = std::max(stream_time, b.t);
  }
  for (const auto& [k, v] : want) ties += Fields(v)[1].find(',') != std::string::npos;
  ASSERT_GT(out_of_order, 100);
  ASSERT_GT(want.size(), 50u);
  ASSERT_GT(ties, 5);

  for (Q5Plan plan : {Q5Plan::kStream, Q5Plan::kTable}) {
    for (const Mode& mode : Modes()) {
      SCOPED_TRACE(std::string(plan == Q5Plan::kTable ? "table GroupBy, " : "stream max, ") + mode.name);
      StreamsBuilder builder;
      BuildQ5(builder, plan);
      auto driver = Driver(builder, mode);
      ASSERT_NE(driver, nullptr);
      ASSERT_TRUE(PipeEvents(*driver, bids, mode.batched).ok());
      EXPECT_EQ(driver->late_records(), 0u) << "no generated bid is late";
      ASSERT_TRUE(PipeBid(*driver, "bidder-x", x + "|1", p).ok());                // 1
      ASSERT_TRUE(PipeBid(*driver, "bidder-x", x + "|2", kBase - 100000).ok());   // 2
      ASSERT_TRUE(PipeBid(*driver, "bidder-x", x + "|3", p - 13000).ok());        // 3
      EXPECT_EQ(Final(*driver, "q5", TWS(kWindowMs)), want);
      EXPECT_EQ(driver->late_records(), 2u);
    }
  }
}

// ---- q7 ----------------------------------------------------------------------------

// "price|auction|bidder": the higher price wins; equal prices go to the smaller
// "auction|bidder", so the result does not depend on the order bids arrive in.
std::string HigherBid(const std::string& a, const std::string& b) {
  const std::vector<std::string> fa = Fields(a), fb = Fields(b);
  const int64_t pa = std::stoll(fa[0]), pb = std::stoll(fb[0]);
  if (pa != pb) return pa > pb ? a : b;
  return a < b ? a : b;
}

// q7, highest bid: per tumbling window of 10 s, the highest bid (price, auction,
// bidder). All bids are grouped under one key, so one task sees every bid and its
// stream time is the largest bid time piped so far.
TEST(NexmarkWindows, Q7HighestBidMatchesAPlainComputation) {
  const Events events = Generate(7);
  const std::vector<Event> bids = events.Of("bids");
  auto as_bid = [](const Event& b) {
    const std::vector<std::string> f = Fields(b.value);
    return f[1] + "|" + f[0] + "|" + b.key;
  };

  // Hand-placed bids after the generated ones, one at a time; W is a window start 10-20 s
  // past every generated bid, so [W-10 s, W) and [W, W+10 s) hold none of them.
  //   a. W + 7999, price 5: in time; stream time W + 7999.
  //   b. W - 1, price 99997: out of order, in time: [W-10 s, W) closes at W + 8 s.
  //   c. W + 8000, price 6: in time; stream time W + 8000, which closes [W-10 s, W).
  //   d. W - 2, price 99996: late (its window closed exactly at this stream time).
  //   e. kBase + 20 s, price 99999: late (a window of the generated bids, closed).
  const int64_t w = (events.max_time / kWindowMs + 2) * kWindowMs;
  struct Extra {
    int64_t t;
    std::string value;  // "auction|price"
    bool late;
  };
  const std::vector<Extra> extras = {{w + 7999, "auction-1|5", false},
                                     {w - 1, "auction-2|99997", false},
                                     {w + 8000, "auction-3|6", false},
                                     {w - 2, "auction-4|99996", true},
                                     {kBase + 20000, "auction-5|99999", true}};

  std::map<int64_t, std::string> best;  // window start -> highest bid
  auto add = [&](const Event& b) {
    const int64_t start = b.t / kWindowMs * kWindowMs;
    auto it = best.find(start);
    best[start] = it == best.end() ? as_bid(b) : HigherBid(it->second, as_bid(b));
  };
  for (const Event& b : bids) add(b);
  for (const Extra& e : extras) {
    if (!e.late) add(Event{"bids", "bidder-x", e.value, e.t, 0});
  }
  WindowTable want;
  for (const auto& [start, bid] : best) want[{"all", start}] = bid;
  ASSERT_GE(want.size(), 12u);
  ASSERT_EQ(want[WindowKey("all", w - kWindowMs)], "99997|auction-2|bidder-x");
  ASSERT_EQ(want[WindowKey("all", w)], "6|auction-3|bidder-x");

  for (const Mode& mode : Modes()) {
    SCOPED_TRACE(mode.name);
    StreamsBuilder builder;
    builder.Stream<std::string, std::string>("bids")
        .Map([](const std::string& bidder, const std::string& bid) {
          const std::vector<std::string> f = Fields(bid);
          return KeyValue<std::string, std::string>("all", f[1] + "|" + f[0] + "|" + bidder);
        })
        .GroupByKey()
        .WindowedBy(TimeWindows::OfSizeAndGrace(std::chrono::milliseconds(kWindowMs),
                                                std::chrono::milliseconds(kGraceMs)))
        .Reduce([](const std::string& a, const std::string& b) { return HigherBid(a, b); })
        .ToStream()
        .To("q7", Produced<TWS, Nullable<StringSerde>>(TWS(kWindowMs), {}));
    auto driver = Driver(builder, mode);
    ASSERT_NE(driver, nullptr);
    ASSERT_TRUE(PipeEvents(*driver, bids, mode.batched).ok());
    EXPECT_EQ(driver->late_records(), 0u) << "no generated bid is late";
    for (const Extra& e : extras) ASSERT_TRUE(PipeBid(*driver, "bidder-x", e.value, e.t).ok());
    EXPECT_EQ(Final(*driver, "q7", TWS(kWindowMs)), want);
    EXPECT_EQ(driver->late_records(), 2u);
  }
}

// ---- q8 ----------------------------------------------------------------------------

// The persons who opened an auction in the tumbling window of 10 s in which they
// registered: (person, window start) -> (person's value, the auctions they opened then).
struct Q8Want {
  WindowTable per_window;                                    // -> "name|t|auctions opened"
  std::vector<KeyValue<std::string, std::string>> pairs;     // person -> "auction|window start"
};
Q8Want ComputeQ8(const Events& events) {
  std::map<std::string, std::pair<int64_t, std::string>> registered;  // person -> (window, value)
  for (const Event& p : events.Of("persons")) registered[p.key] = {p.t / kWindowMs * kWindowMs, p.value};
  std::map<WindowKey, int64_t> opened;
  Q8Want want;
  for (const Event& a : events.Of("auctions")) {
    const std::string seller = Fields(a.value)[0];
    const int64_t start = a.t / kWindowMs * kWindowMs;
    if (registered.at(seller).first != start) continue;
    ++opened[{seller, start}];
    want.pairs.push_back({seller, a.key + "|" + std::to_string(start)});
  }
  for (const auto& [k, n] : opened) {
    want.per_window[k] = registered.at(std::get<0>(k)).second + "|" + std::to_string(n);
  }
  std::sort(want.pairs.begin(), want.pairs.end(), [](const auto& a, const auto& b) {
    return std::tie(a.key, a.value) < std::tie(b.key, b.value);
  });
  return want;
}

// q8, monitor new users, as two windowed aggregations joined: persons per person and
// tumbling window (Reduce keeps the registration), auctions counted per seller and
// tumbling window. A KTable-KTable join on Windowed<person> pairs rows of the same key
// and the same window, which is "the same tumbling window" exactly; a join of the
// streams with JoinWindows would pair records up to the window size apart across a
// window boundary (see the next test for what that takes).
TEST(NexmarkWindows, Q8NewUsersWithAuctionsMatchAPlainComputation) {
  const Events events = Generate(8);
  std::vector<Event> persons_and_auctions = events.Of("persons");
  for (const Event& a : events.Of("auctions")) persons_and_auctions.push_back(a);
  std::sort(persons_and_auctions.begin(), persons_and_auctions.end(),
            [](const Event& a, const Event& b) { return a.index < b.index; });
  const Q8Want want = ComputeQ8(events);
  ASSERT_GT(want.per_window.size(), 20u);

  for (const Mode& mode : Modes()) {
    SCOPED_TRACE(mode.name);
    StreamsBuilder builder;
    const TimeWindows windows = TimeWindows::OfSizeAndGrace(std::chrono::milliseconds(kWindowMs),
                                                            std::chrono::milliseconds(kGraceMs));
    auto persons = builder.Stream<std::string, std::string>("persons")
                       .GroupByKey()
                       .WindowedBy(windows)
                       .Reduce([](const std::string& a, const std::string&) { return a; });
    auto auctions = builder.Stream<std::string, std::string>("auctions")
                        .SelectKey([](const std::string&, const std::string& a) { return Fields(a)[0]; })
                        .GroupByKey()
                        .WindowedBy(windows)
                        .Count();
    persons
        .Join(auctions, [](const std::string& person, int64_t n) { return person + "|" + std::to_string(n); })
        .ToStream()
        .To("q8", Produced<TWS, Nullable<StringSerde>>(TWS(kWindowMs), {}));
    auto driver = Driver(builder, mode);
    ASSERT_NE(driver, nullptr);
    // Persons and auctions in the order they happened (windows of one side expire while
    // the other is still being read, as they would in a running App).
    ASSERT_TRUE(PipeEvents(*driver, persons_and_auctions, mode.batched).ok());
    EXPECT_EQ(Final(*driver, "q8", TWS(kWindowMs)), want.per_window);
    EXPECT_EQ(driver->late_records(), 0u);
  }
}

// q8 again, as a KStream-KStream join. Two events in the same tumbling window of 10 s are
// at most 9999 ms apart, so JoinWindows of 9999 ms each way pair every such person and
// auction; the join also pairs some across a window boundary, which the filter on the
// two registration/creation times drops. The result is every (person, auction) pair of
// the same window, each exactly once.
TEST(NexmarkWindows, Q8NewUsersThroughAStreamStreamJoinMatchAPlainComputation) {
  const Events events = Generate(18);
  std::vector<Event> persons_and_auctions = events.Of("persons");
  for (const Event& a : events.Of("auctions")) persons_and_auctions.push_back(a);
  std::sort(persons_and_auctions.begin(), persons_and_auctions.end(),
            [](const Event& a, const Event& b) { return a.index < b.index; });
  const Q8Want want = ComputeQ8(events);
  ASSERT_GT(want.pairs.size(), 40u);

  for (const Mode& mode : Modes()) {
    SCOPED_TRACE(mode.name);
    StreamsBuilder builder;
    auto persons = builder.Stream<std::string, std::string>("persons");
    auto auctions = builder.Stream<std::string, std::string>("auctions").Map(
        [](const std::string& id, const std::string& a) {
          const std::vector<std::string> f = Fields(a);
          return KeyValue<std::string, std::string>(f[0], id + "|" + f[2]);  // seller -> "auction|t"
        });
    persons
        .Join(auctions,
              [](const std::string& person, const std::string& auction) { return person + "|" + auction; },
              JoinWindows::OfTimeDifferenceAndGrace(std::chrono::milliseconds(kWindowMs - 1),
                                                    std::chrono::milliseconds(kGraceMs)))
        // "name|person t|auction|auction t"
        .Filter([](const std::string&, const std::string& v) {
          const std::vector<std::string> f = Fields(v);
          return std::stoll(f[1]) / kWindowMs == std::stoll(f[3]) / kWindowMs;
        })
        .MapValues([](const std::string& v) {
          const std::vector<std::string> f = Fields(v);
          return f[2] + "|" + std::to_string(std::stoll(f[3]) / kWindowMs * kWindowMs);
        })
        .To("q8", Produced<StringSerde, StringSerde>());
    auto driver = Driver(builder, mode);
    ASSERT_NE(driver, nullptr);
    ASSERT_TRUE(PipeEvents(*driver, persons_and_auctions, mode.batched).ok());
    auto out = driver->CreateOutputTopic("q8", StringSerde(), StringSerde());
    std::vector<KeyValue<std::string, std::string>> got = out.ReadKeyValuesToList();
    std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) {
      return std::tie(a.key, a.value) < std::tie(b.key, b.value);
    });
    EXPECT_EQ(got, want.pairs);
    EXPECT_EQ(driver->late_records(), 0u);
  }
}

// ---- q11 ---------------------------------------------------------------------------

constexpr int64_t kGapMs = 10000;

// Sessions of each bidder's bid times: sorted, split where two are more than the gap
// apart (records exactly the gap apart share a session, as in Kafka Streams).
// (bidder, start) -> "end|bids".
WindowTable Sessions(const std::vector<std::pair<std::string, int64_t>>& bids) {
  std::map<std::string, std::vector<int64_t>> times;
  for (const auto& [bidder, t] : bids) times[bidder].push_back(t);
  WindowTable out;
  for (const auto& [session, count] : testing::SessionReference(std::move(times), kGapMs)) {
    const auto& [bidder, start, end] = session;
    out[{bidder, start}] = std::to_string(end) + "|" + std::to_string(count);
  }
  return out;
}

// How many bids, in the order they are piped, join two or more sessions that already
// exist (only to check that the data exercises merging).
int Bridges(const std::vector<Event>& bids) {
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> sessions;
  int bridges = 0;
  for (const Event& b : bids) {
    auto& list = sessions[b.key];
    std::pair<int64_t, int64_t> merged{b.t, b.t};
    std::vector<std::pair<int64_t, int64_t>> keep;
    int found = 0;
    for (const auto& s : list) {
      if (s.second >= b.t - kGapMs && s.first <= b.t + kGapMs) {
        ++found;
        merged = {std::min(merged.first, s.first), std::max(merged.second, s.second)};
      } else {
        keep.push_back(s);
      }
    }
    bridges += found >= 2;
    keep.push_back(merged);
    list = std::move(keep);
  }
  return bridges;
}

// q11, user sessions: bids per bidder session (inactivity gap 10 s). The bids are keyed
// by bidder already: no repartition.
TEST(NexmarkWindows, Q11UserSessionsMatchAPlainComputation) {
  const Events events = Generate(11);
  const std::vector<Event> bids = events.Of("bids");

  // Hand-placed bids of bidder B after the generated ones, one at a time (one key, so
  // one task, whose stream time is then P, 100 s past every generated bid):
  //   1. P: in time; session [P, P].
  //   2. P - 20 s: late. It is more than the gap from [P, P], so it would form its own
  //      session, which ends before stream time - gap - grace (18 s).
  //   3. P - 9 s: in time though 9 s behind stream time: it extends [P, P] to
  //      [P - 9 s, P], which still ends at stream time.
  //   4. P - 20 s again: late (11 s from the session's start: more than the gap).
  //   5. P - 18.5 s: in time, extends the session to [P - 18.5 s, P].
  //   6. kBase - 100 s: late.
  //   7. P + 10 s: exactly the gap after the session's end: extends it (in time).
  //   8. P + 20001: one ms more than the gap: a new session.
  const std::string b = "bidder-0";
  const int64_t p = events.max_time + 100000;
  struct Extra {
    int64_t t;
    bool late;
  };
  const std::vector<Extra> extras = {{p, false},         {p - 20000, true}, {p - 9000, false},
                                     {p - 20000, true},  {p - 18500, false}, {kBase - 100000, true},
                                     {p + 10000, false}, {p + 20001, false}};

  std::vector<std::pair<std::string, int64_t>> in_time;
  for (const Event& e : bids) in_time.push_back({e.key, e.t});
  for (const Extra& e : extras) {
    if (!e.late) in_time.push_back({b, e.t});
  }
  const WindowTable want = Sessions(in_time);
  ASSERT_EQ(want.at(WindowKey(b, p - 18500)), std::to_string(p + 10000) + "|4");
  ASSERT_EQ(want.at(WindowKey(b, p + 20001)), std::to_string(p + 20001) + "|1");
  // The generated bids split into many sessions, and some bridge two existing ones.
  ASSERT_GT(want.size(), 3u * kBidders);
  ASSERT_GE(Bridges(bids), 2);

  for (const Mode& mode : Modes()) {
    SCOPED_TRACE(mode.name);
    StreamsBuilder builder;
    builder.Stream<std::string, std::string>("bids")
        .GroupByKey()
        .WindowedBy(SessionWindows::OfInactivityGapAndGrace(std::chrono::milliseconds(kGapMs),
                                                            std::chrono::milliseconds(kGraceMs)))
        .Count()
        .ToStream()
        .Map([](const Windowed<std::string>& w, const std::optional<int64_t>& n) {
          // The session's end goes into the value, so the plain computation checks it.
          return KeyValue<Windowed<std::string>, std::optional<std::string>>(
              w, n ? std::optional<std::string>(std::to_string(w.window.end_ms) + "|" + std::to_string(*n))
                   : std::nullopt);
        })
        .To("q11", Produced<SWS, Nullable<StringSerde>>());
    auto driver = Driver(builder, mode);
    ASSERT_NE(driver, nullptr);
    ASSERT_TRUE(PipeEvents(*driver, bids, mode.batched).ok());
    EXPECT_EQ(driver->late_records(), 0u) << "no generated bid is late";
    for (const Extra& e : extras) ASSERT_TRUE(PipeBid(*driver, b, "auction-0|1", e.t).ok());
    EXPECT_EQ(Final(*driver, "q11", SWS()), want);
    EXPECT_EQ(driver->late_records(), 3u);
  }
}

}  // namespace
}  // namespace sluice
