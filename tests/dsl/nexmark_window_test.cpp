// Nexmark q5, q7, q8 and q11 as Sluice windowed aggregations, through the
// TopologyTestDriver on three partitions, with the record cache on and off, checked
// against plain C++ computations over the same generated events.
//
// Events are Nexmark-like, from a seeded generator, with values as '|'-separated fields:
//   person  key id      value "name"           timestamp: registration
//   auction key id      value "seller|category" timestamp: creation
//   bid     key bidder  value "auction|price"   timestamp: the bid
// Timestamps spread over a minute and a half; every fifth event is up to 3 s older than
// the one before it (out of order), inside every window's 5 s grace, so no record is late
// and the plain computations need not model lateness.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"

namespace sluice {
namespace {

using sluice::testing::Fields;
using sluice::testing::MakeDriver;
using namespace std::chrono_literals;

constexpr int64_t kBase = 1'000'000;  // the first event's time (ms)
constexpr int64_t kGraceMs = 5000;

struct Event {
  std::string key, value;
  int64_t t;
  int seq = 0;  // generation order across all kinds
};
struct Events {
  std::vector<Event> persons, auctions, bids;
};

Events Generate(uint32_t seed) {
  std::mt19937 rng(seed);
  Events e;
  int64_t t = kBase;
  auto next_time = [&] {
    t += rng() % 40;
    return rng() % 5 == 0 ? t - static_cast<int64_t>(rng() % 3000) : t;
  };
  for (int i = 0; i < 2000; ++i) {
    const uint32_t kind = rng() % 10;
    if (kind == 0) {
      const std::string id = "person-" + std::to_string(e.persons.size());
      e.persons.push_back({id, "name" + std::to_string(e.persons.size()), next_time(), i});
    } else if (kind <= 2 && !e.persons.empty()) {
      // Sellers are mostly recent persons, so many open an auction soon after registering.
      const size_t n = e.persons.size();
      const std::string seller = e.persons[n - 1 - std::min<size_t>(n - 1, rng() % 6)].key;
      e.auctions.push_back({"auction-" + std::to_string(e.auctions.size()),
                            seller + "|" + std::to_string(rng() % 5), next_time(), i});
    } else if (!e.auctions.empty()) {
      // Bids favour recent auctions, so that some are hot.
      const size_t n = e.auctions.size();
      const size_t a = n - 1 - std::min<size_t>(n - 1, rng() % 8 == 0 ? rng() % n : rng() % 5);
      e.bids.push_back({"bidder-" + std::to_string(rng() % 40),
                        e.auctions[a].key + "|" + std::to_string(rng() % 10000), next_time(), i});
    }
  }
  return e;
}

void Pipe(TopologyTestDriver& driver, const std::string& topic, const std::vector<Event>& events) {
  auto in = driver.CreateInputTopic(topic, StringSerde(), StringSerde());
  for (const Event& ev : events) ASSERT_TRUE(in.PipeInput(ev.key, ev.value, ev.t).ok());
}

// Persons and auctions in the order they happened (windows of one side expire while the
// other is still being read, as they would in a running App).
void PipeInterleaved(TopologyTestDriver& driver, const Events& events) {
  auto persons = driver.CreateInputTopic("persons", StringSerde(), StringSerde());
  auto auctions = driver.CreateInputTopic("auctions", StringSerde(), StringSerde());
  size_t p = 0, a = 0;
  while (p < events.persons.size() || a < events.auctions.size()) {
    const bool person = a == events.auctions.size() ||
                        (p < events.persons.size() && events.persons[p].seq < events.auctions[a].seq);
    const Event& ev = person ? events.persons[p++] : events.auctions[a++];
    ASSERT_TRUE((person ? persons : auctions).PipeInput(ev.key, ev.value, ev.t).ok());
  }
}

// The last value per key of an output topic (nullopt values delete).
template <class KS>
std::map<std::tuple<std::string, int64_t>, std::string> Final(TopologyTestDriver& driver,
                                                               const std::string& topic, KS ks) {
  auto out = driver.CreateOutputTopic(topic, ks, Nullable<StringSerde>());
  auto records = out.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  std::map<std::tuple<std::string, int64_t>, std::string> last;
  if (!records.ok()) return last;
  for (auto& r : *records) {
    const std::tuple<std::string, int64_t> k{r.key.key, r.key.window.start_ms};
    if (r.value) {
      last[k] = *r.value;
    } else {
      last.erase(k);
    }
  }
  return last;
}

const std::vector<std::map<std::string, std::string>> kCacheOnAndOff = {
    {}, {{"cache.max.bytes.buffering", "0"}}};

std::unique_ptr<TopologyTestDriver> Driver(StreamsBuilder& builder,
                                           const std::map<std::string, std::string>& config) {
  TopologyTestDriver::Options options;
  options.default_partitions = 3;
  return MakeDriver(builder, options, config);
}

// q5, hot items: bids per auction in hopping windows of 10 s advancing by 2 s, and per
// window the auctions with the most bids. Counts only grow within a window, so a max
// over the stream of count updates ends at the final max, with every auction that
// reached it.
TEST(NexmarkWindows, Q5HotItemsMatchAPlainComputation) {
  const Events events = Generate(5);
  std::map<int64_t, std::map<std::string, int64_t>> counts;  // window start -> auction -> n
  for (const Event& b : events.bids) {
    const std::string auction = Fields(b.value)[0];
    for (int64_t start = std::max<int64_t>(0, b.t - 10000 + 2000) / 2000 * 2000; start <= b.t; start += 2000) {
      ++counts[start][auction];
    }
  }
  std::map<std::tuple<std::string, int64_t>, std::string> want;
  for (auto& [start, per_auction] : counts) {
    int64_t max = 0;
    for (auto& [a, n] : per_auction) max = std::max(max, n);
    std::string hot;
    for (auto& [a, n] : per_auction) {
      if (n == max) hot += (hot.empty() ? "" : ",") + a;
    }
    want[{"hot", start}] = std::to_string(max) + "|" + hot;
  }
  for (const auto& config : kCacheOnAndOff) {
    SCOPED_TRACE(config.empty() ? "cache on" : "cache off");
    StreamsBuilder builder;
    builder.Stream<std::string, std::string>("bids")
        .SelectKey([](const std::string&, const std::string& bid) { return Fields(bid)[0]; })
        .GroupByKey()
        .WindowedBy(TimeWindows::OfSizeAndGrace(10s, std::chrono::milliseconds(kGraceMs)).AdvanceBy(2s))
        .Count()
        .ToStream()
        .Filter([](const Windowed<std::string>&, const std::optional<int64_t>& n) { return n.has_value(); })
        .Map([](const Windowed<std::string>& w, const std::optional<int64_t>& n) {
          return KeyValue<Windowed<std::string>, std::string>(
              Windowed<std::string>{"hot", w.window}, std::to_string(*n) + "|" + w.key);
        })
        .GroupByKey(Grouped<TimeWindowedSerde<StringSerde>, StringSerde>(TimeWindowedSerde<StringSerde>(10000), {}))
        .Aggregate([] { return std::string(); },
                   [](const Windowed<std::string>&, const std::string& update, std::string best) {
                     const std::vector<std::string> u = Fields(update);
                     if (best.empty()) return update;
                     const std::vector<std::string> b = Fields(best);
                     const int64_t n = std::stoll(u[0]);
                     const int64_t max = std::stoll(b[0]);
                     if (n > max) return update;
                     if (n < max) return best;
                     std::set<std::string> hot;
                     size_t start = 0;
                     const std::string& list = b[1];
                     while (start <= list.size()) {
                       const size_t comma = list.find(',', start);
                       hot.insert(list.substr(start, comma - start));
                       if (comma == std::string::npos) break;
                       start = comma + 1;
                     }
                     hot.insert(u[1]);
                     std::string joined;
                     for (const std::string& a : hot) joined += (joined.empty() ? "" : ",") + a;
                     return b[0] + "|" + joined;
                   },
                   Materialized<TimeWindowedSerde<StringSerde>, StringSerde>(TimeWindowedSerde<StringSerde>(10000), {}))
        .ToStream()
        .To("q5", Produced<TimeWindowedSerde<StringSerde>, Nullable<StringSerde>>(TimeWindowedSerde<StringSerde>(10000), {}));
    auto driver = Driver(builder, config);
    ASSERT_NE(driver, nullptr);
    Pipe(*driver, "bids", events.bids);
    EXPECT_EQ(Final(*driver, "q5", TimeWindowedSerde<StringSerde>(10000)), want);
    EXPECT_EQ(driver->late_records(), 0u);
  }
}

// q7, highest bid: the highest price per tumbling window of 10 s.
TEST(NexmarkWindows, Q7HighestBidMatchesAPlainComputation) {
  const Events events = Generate(7);
  std::map<std::tuple<std::string, int64_t>, std::string> want;
  std::map<int64_t, int64_t> max;
  for (const Event& b : events.bids) {
    const int64_t start = b.t / 10000 * 10000;
    max[start] = std::max<int64_t>(max.count(start) ? max[start] : 0, std::stoll(Fields(b.value)[1]));
  }
  for (auto& [start, price] : max) want[{"all", start}] = std::to_string(price);
  for (const auto& config : kCacheOnAndOff) {
    SCOPED_TRACE(config.empty() ? "cache on" : "cache off");
    StreamsBuilder builder;
    builder.Stream<std::string, std::string>("bids")
        .Map([](const std::string&, const std::string& bid) {
          return KeyValue<std::string, int64_t>("all", std::stoll(Fields(bid)[1]));
        })
        .GroupByKey()
        .WindowedBy(TimeWindows::OfSizeAndGrace(10s, std::chrono::milliseconds(kGraceMs)))
        .Reduce([](int64_t a, int64_t b) { return std::max(a, b); })
        .MapValues([](int64_t price) { return std::to_string(price); })
        .ToStream()
        .To("q7", Produced<TimeWindowedSerde<StringSerde>, Nullable<StringSerde>>(TimeWindowedSerde<StringSerde>(10000), {}));
    auto driver = Driver(builder, config);
    ASSERT_NE(driver, nullptr);
    Pipe(*driver, "bids", events.bids);
    EXPECT_EQ(Final(*driver, "q7", TimeWindowedSerde<StringSerde>(10000)), want);
  }
}

// q8, monitor new users: persons who opened an auction in the same tumbling window of
// 10 s in which they registered. Each side is a windowed aggregation keyed by person and
// window, and the two windowed tables are joined on that key: "the same window" exactly.
TEST(NexmarkWindows, Q8NewUsersWithAuctionsMatchAPlainComputation) {
  const Events events = Generate(8);
  std::map<std::tuple<std::string, int64_t>, std::string> want;
  std::map<std::tuple<std::string, int64_t>, std::string> registered;
  for (const Event& p : events.persons) registered[{p.key, p.t / 10000 * 10000}] = p.value;
  std::map<std::tuple<std::string, int64_t>, int64_t> opened;
  for (const Event& a : events.auctions) ++opened[{Fields(a.value)[0], a.t / 10000 * 10000}];
  for (auto& [k, name] : registered) {
    if (opened.count(k)) want[k] = name + "|" + std::to_string(opened[k]);
  }
  ASSERT_GT(want.size(), 3u);
  for (const auto& config : kCacheOnAndOff) {
    SCOPED_TRACE(config.empty() ? "cache on" : "cache off");
    StreamsBuilder builder;
    const TimeWindows windows = TimeWindows::OfSizeAndGrace(10s, std::chrono::milliseconds(kGraceMs));
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
        .Join(auctions, [](const std::string& name, int64_t n) { return name + "|" + std::to_string(n); })
        .ToStream()
        .To("q8", Produced<TimeWindowedSerde<StringSerde>, Nullable<StringSerde>>(TimeWindowedSerde<StringSerde>(10000), {}));
    auto driver = Driver(builder, config);
    ASSERT_NE(driver, nullptr);
    PipeInterleaved(*driver, events);
    EXPECT_EQ(Final(*driver, "q8", TimeWindowedSerde<StringSerde>(10000)), want);
  }
}

// q11, user sessions: bids per bidder session (inactivity gap 10 s).
TEST(NexmarkWindows, Q11UserSessionsMatchAPlainComputation) {
  const Events events = Generate(11);
  std::map<std::string, std::vector<int64_t>> times;
  for (const Event& b : events.bids) times[b.key].push_back(b.t);
  std::map<std::tuple<std::string, int64_t>, std::string> want;
  for (auto& [bidder, ts] : times) {
    std::sort(ts.begin(), ts.end());
    size_t begin = 0;
    for (size_t i = 1; i <= ts.size(); ++i) {
      if (i == ts.size() || ts[i] - ts[i - 1] > 10000) {
        want[{bidder, ts[begin]}] = std::to_string(ts[i - 1]) + "|" + std::to_string(i - begin);
        begin = i;
      }
    }
  }
  for (const auto& config : kCacheOnAndOff) {
    SCOPED_TRACE(config.empty() ? "cache on" : "cache off");
    StreamsBuilder builder;
    builder.Stream<std::string, std::string>("bids")
        .GroupByKey()
        .WindowedBy(SessionWindows::OfInactivityGapAndGrace(10s, std::chrono::milliseconds(kGraceMs)))
        .Count()
        .ToStream()
        .Map([](const Windowed<std::string>& w, const std::optional<int64_t>& n) {
          // The session's end goes into the value, so the plain computation can check it.
          return KeyValue<Windowed<std::string>, std::optional<std::string>>(
              w, n ? std::optional<std::string>(std::to_string(w.window.end_ms) + "|" + std::to_string(*n))
                   : std::nullopt);
        })
        .To("q11", Produced<SessionWindowedSerde<StringSerde>, Nullable<StringSerde>>());
    auto driver = Driver(builder, config);
    ASSERT_NE(driver, nullptr);
    Pipe(*driver, "bids", events.bids);
    EXPECT_EQ(Final(*driver, "q11", SessionWindowedSerde<StringSerde>()), want);
  }
}

}  // namespace
}  // namespace sluice
