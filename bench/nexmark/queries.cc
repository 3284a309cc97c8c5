#include "bench/nexmark/queries.h"

#include <algorithm>
#include <chrono>

#include "bench/nexmark/reference.h"
#include "bench/nexmark/udf.h"
#include "sluice/sluice.h"

namespace sluice::nexmark {
namespace {

using std::chrono::milliseconds;
using Events = KStream<int64_t, Event>;

constexpr int64_t kWindowMs = 10'000;       // q5, q7, q8, q12: 10 s windows; q11: 10 s gap
constexpr int64_t kHopAdvanceMs = 2'000;    // q5 slides every 2 s
constexpr int64_t kGraceMs = 4'000;         // Flink's DDL: watermark = dateTime - 4 s
constexpr int64_t kDayMs = 24 * 3600 * 1000;

Events Source(StreamsBuilder& builder, const QueryOptions& o) {
  return builder.Stream(o.input_topic,
                        Consumed<Int64Serde, EventSerde>::With(Int64Serde(), EventSerde(o.format)));
}

// The bids of the events (moved out of them where the batch allows).
KStream<int64_t, Bid> Bids(const Events& events) {
  return events.Filter([](const int64_t&, const Event& e) { return e.bid() != nullptr; })
      .MapValues([](auto&& e) -> Bid { return std::get<Bid>(std::forward<decltype(e)>(e).payload); });
}

// ---- Stateless ----

void Q0(StreamsBuilder& b, const QueryOptions& o) { Bids(Source(b, o)).To(o.output_topic); }

void Q1(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .MapValues([](const Bid& bid) {
        return Q1Row{bid.auction, bid.bidder, ToEuro(bid.price), bid.date_time, bid.extra};
      })
      .To(o.output_topic);
}

void Q2(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .Filter([](const int64_t&, const Bid& bid) { return bid.auction % 123 == 0; })
      .MapValues([](const Bid& bid) { return Q2Row{bid.auction, bid.price}; })
      .To(o.output_topic);
}

void Q14(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .Filter([](const int64_t&, const Bid& bid) {
        const double euros = ToEuro(bid.price);
        return euros > 1'000'000 && euros < 50'000'000;
      })
      .MapValues([](const Bid& bid) {
        return Q14Row{bid.auction,   bid.bidder, ToEuro(bid.price), BidTimeType(bid.date_time),
                      bid.date_time, bid.extra,  CountChar(bid.extra, 'c')};
      })
      .To(o.output_topic);
}

bool HotChannel(const std::string& lower) {
  return lower == "apple" || lower == "google" || lower == "facebook" || lower == "baidu";
}

void Q21(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .Filter([](const int64_t&, const Bid& bid) {
        return HotChannel(Lower(bid.channel)) || ChannelIdParameter(bid.url).has_value();
      })
      .MapValues([](const Bid& bid) {
        const std::string lower = Lower(bid.channel);
        std::string id;
        if (lower == "apple") {
          id = "0";
        } else if (lower == "google") {
          id = "1";
        } else if (lower == "facebook") {
          id = "2";
        } else if (lower == "baidu") {
          id = "3";
        } else {
          id = ChannelIdParameter(bid.url).value_or("");
        }
        return Q21Row{bid.auction, bid.bidder, bid.price, bid.channel, std::move(id)};
      })
      .To(o.output_topic);
}

void Q22(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .MapValues([](const Bid& bid) {
        return Q22Row{bid.auction,
                      bid.bidder,
                      bid.price,
                      bid.channel,
                      SplitIndex(bid.url, '/', 3).value_or(""),
                      SplitIndex(bid.url, '/', 4).value_or(""),
                      SplitIndex(bid.url, '/', 5).value_or("")};
      })
      .To(o.output_topic);
}

// ---- Joins ----

// q3: auctions in category 10 joined with their sellers from Oregon, Idaho or
// California: a foreign-key table join, so a seller that registers after the auction
// still joins.
void Q3(StreamsBuilder& b, const QueryOptions& o) {
  Events events = Source(b, o);
  auto persons =
      events
          .Filter([](const int64_t&, const Event& e) {
            const Person* p = e.person();
            return p != nullptr && (p->state == "OR" || p->state == "ID" || p->state == "CA");
          })
          .MapValues([](const Event& e) { return *e.person(); })
          .ToTable();
  auto auctions = events
                      .Filter([](const int64_t&, const Event& e) {
                        return e.auction() != nullptr && e.auction()->category == 10;
                      })
                      .MapValues([](const Event& e) { return *e.auction(); })
                      .ToTable();
  auctions
      .Join(
          persons, [](const Auction& a) { return a.seller; },
          [](const Auction& a, const Person& p) { return Q3Row{p.name, p.city, p.state, a.id}; })
      .ToStream()
      .To(o.output_topic);
}

// An events stream's auctions as a table (keyed by auction id, as the bids on them).
template <class P>
KTable<int64_t, Auction> AuctionTable(const Events& events, P keep) {
  return events
      .Filter([keep](const int64_t&, const Event& e) { return e.auction() != nullptr && keep(*e.auction()); })
      .MapValues([](const Event& e) { return *e.auction(); })
      .ToTable();
}

// q4: the average winning price per category: each auction's highest bid placed between
// its start and its expiry, averaged over the auctions of a category. A bid joins its
// auction as the table holds it when the bid arrives (bids and auctions share a
// partition, in generation order).
void Q4(StreamsBuilder& b, const QueryOptions& o) {
  Events events = Source(b, o);
  auto auctions = AuctionTable(events, [](const Auction&) { return true; });
  Bids(events)
      .Join(auctions,
            [](const Bid& bid, const Auction& a) {
              const bool open = bid.date_time >= a.date_time && bid.date_time <= a.expires;
              return AuctionMax{a.category, open ? bid.price : -1};
            })
      .Filter([](const int64_t&, const AuctionMax& m) { return m.max >= 0; })
      .GroupByKey()
      .Reduce([](const AuctionMax& agg, const AuctionMax& m) {
        return AuctionMax{m.category, std::max(agg.max, m.max)};
      })
      .GroupBy([](const int64_t&, const AuctionMax& m) { return KeyValue<int64_t, AuctionMax>{m.category, m}; })
      .Aggregate([] { return CategorySum{}; },
                 [](const int64_t& category, const AuctionMax& m, CategorySum agg) {
                   return CategorySum{category, agg.auctions + 1, agg.sum + m.max};
                 },
                 [](const int64_t& category, const AuctionMax& m, CategorySum agg) {
                   return CategorySum{category, agg.auctions - 1, agg.sum - m.max};
                 })
      .MapValues([](const CategorySum& c) {
        return Q4Row{c.category, c.auctions,
                     c.auctions == 0 ? 0.0 : static_cast<double>(c.sum) / static_cast<double>(c.auctions)};
      })
      .ToStream()
      .To(o.output_topic);
}

// q20: bids on auctions of category 10, with the auction's fields.
void Q20(StreamsBuilder& b, const QueryOptions& o) {
  Events events = Source(b, o);
  auto auctions = AuctionTable(events, [](const Auction& a) { return a.category == 10; });
  Bids(events)
      .Join(auctions, [](const Bid& bid, const Auction& a) { return Q20Row{bid, a}; })
      .To(o.output_topic);
}

// ---- Windows ----

// q5: per hopping window (10 s every 2 s), the auctions with the most bids.
void Q5(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(milliseconds(kWindowMs), milliseconds(kGraceMs))
                      .AdvanceBy(milliseconds(kHopAdvanceMs)))
      .Emit(EmitStrategy::OnWindowClose())
      .Count()
      .ToStream()
      .Map([](const Windowed<int64_t>& w, const std::optional<int64_t>& count) {
        return KeyValue<int64_t, Q5Row>{
            w.window.start_ms, Q5Row{w.window.start_ms, w.window.end_ms, count.value_or(0), {w.key}}};
      })
      .GroupByKey()
      .Reduce([](const Q5Row& agg, const Q5Row& one) {
        if (one.count < agg.count) return agg;
        if (one.count > agg.count) return one;
        Q5Row both = agg;
        both.auctions.insert(std::lower_bound(both.auctions.begin(), both.auctions.end(), one.auctions[0]),
                             one.auctions[0]);
        return both;
      })
      .ToStream()
      .To(o.output_topic);
}

// The highest bids of a window: its price, and every bid at it in BidOrder.
Q7Row HigherBids(Q7Row agg, const Q7Row& more) {
  if (more.price < agg.price) return agg;
  if (more.price > agg.price) return more;
  for (const Bid& bid : more.bids) {
    agg.bids.insert(std::lower_bound(agg.bids.begin(), agg.bids.end(), bid, BidOrder), bid);
  }
  return agg;
}

// q7: per tumbling 10 s window, the bids at its highest price. Each auction's window
// first finds its own, then the windows' are merged.
void Q7(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(milliseconds(kWindowMs), milliseconds(kGraceMs)))
      .Emit(EmitStrategy::OnWindowClose())
      .Aggregate([] { return Q7Row{}; },
                 [](const int64_t&, const Bid& bid, Q7Row agg) {
                   Q7Row one;
                   one.price = bid.price;
                   one.bids.push_back(bid);
                   return agg.bids.empty() ? one : HigherBids(std::move(agg), one);
                 })
      .ToStream()
      .Map([](const Windowed<int64_t>& w, const std::optional<Q7Row>& row) {
        Q7Row out = row.value_or(Q7Row{});
        out.start = w.window.start_ms;
        out.end = w.window.end_ms;
        return KeyValue<int64_t, Q7Row>{w.window.start_ms, std::move(out)};
      })
      .GroupByKey()
      .Reduce([](const Q7Row& agg, const Q7Row& more) { return HigherBids(agg, more); })
      .ToStream()
      .To(o.output_topic);
}

// What q8 knows of a person in a window: its name if it registered then, and whether it
// opened an auction then.
struct Q8Seen {
  std::string name;
  bool registered = false;
  bool sold = false;
  auto Fields() { return std::tie(name, registered, sold); }
};

// q8: persons who registered and opened an auction in the same tumbling 10 s window.
void Q8(StreamsBuilder& b, const QueryOptions& o) {
  Events events = Source(b, o);
  auto registered = events.Filter([](const int64_t&, const Event& e) { return e.person() != nullptr; })
                        .MapValues([](const Event& e) { return Q8Seen{e.person()->name, true, false}; });
  auto sold = events.Filter([](const int64_t&, const Event& e) { return e.auction() != nullptr; })
                  .SelectKey([](const int64_t&, const Event& e) { return e.auction()->seller; })
                  .MapValues([](const Event&) { return Q8Seen{"", false, true}; });
  registered.Merge(sold)
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(milliseconds(kWindowMs), milliseconds(kGraceMs)))
      .Emit(EmitStrategy::OnWindowClose())
      .Aggregate([] { return Q8Seen{}; },
                 [](const int64_t&, const Q8Seen& seen, Q8Seen agg) {
                   if (seen.registered) {
                     agg.registered = true;
                     agg.name = seen.name;
                   }
                   agg.sold = agg.sold || seen.sold;
                   return agg;
                 })
      .ToStream()
      .Filter([](const Windowed<int64_t>&, const std::optional<Q8Seen>& seen) {
        return seen && seen->registered && seen->sold;
      })
      .Map([](const Windowed<int64_t>& w, const std::optional<Q8Seen>& seen) {
        return KeyValue<WindowKey, Q8Row>{WindowKey{w.key, w.window.start_ms},
                                          Q8Row{w.key, seen->name, w.window.start_ms}};
      })
      .To(o.output_topic);
}

// q11: bids per bidder session (10 s gap). A session ends 10 s after its last bid, as
// Flink's SESSION_END.
void Q11(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .SelectKey([](const int64_t&, const Bid& bid) { return bid.bidder; })
      .GroupByKey()
      .WindowedBy(SessionWindows::OfInactivityGapAndGrace(milliseconds(kWindowMs), milliseconds(kGraceMs)))
      .Emit(EmitStrategy::OnWindowClose())
      .Count()
      .ToStream()
      .Filter([](const Windowed<int64_t>&, const std::optional<int64_t>& n) { return n.has_value(); })
      .Map([](const Windowed<int64_t>& w, const std::optional<int64_t>& n) {
        return KeyValue<WindowKey, CountRow>{
            WindowKey{w.key, w.window.start_ms},
            CountRow{w.key, *n, w.window.start_ms, w.window.end_ms + kWindowMs}};
      })
      .To(o.output_topic);
}

// q12: bids per bidder per tumbling 10 s window of processing time (the query's config
// makes the wall clock every record's timestamp).
void Q12(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .SelectKey([](const int64_t&, const Bid& bid) { return bid.bidder; })
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeWithNoGrace(milliseconds(kWindowMs)))
      .Emit(EmitStrategy::OnWindowClose())
      .Count()
      .ToStream()
      .Map([](const Windowed<int64_t>& w, const std::optional<int64_t>& n) {
        return KeyValue<WindowKey, CountRow>{
            WindowKey{w.key, w.window.start_ms},
            CountRow{w.key, n.value_or(0), w.window.start_ms, w.window.end_ms}};
      })
      .To(o.output_topic);
}

// ---- Aggregations ----

// q17: per auction and day, counts by price range, min, max, average and sum. Days are
// tumbling one-day windows of the auction's bids (no repartition: bids are keyed by
// auction already).
void Q17(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .GroupByKey()
      .WindowedBy(TimeWindows::OfSizeAndGrace(milliseconds(kDayMs), milliseconds(kGraceMs)))
      .Aggregate([] { return Q17Row{}; },
                 [](const int64_t&, const Bid& bid, Q17Row agg) {
                   agg.min_price = agg.total_bids == 0 ? bid.price : std::min(agg.min_price, bid.price);
                   agg.max_price = agg.total_bids == 0 ? bid.price : std::max(agg.max_price, bid.price);
                   ++agg.total_bids;
                   agg.rank1_bids += bid.price < 10'000 ? 1 : 0;
                   agg.rank2_bids += bid.price >= 10'000 && bid.price < 1'000'000 ? 1 : 0;
                   agg.rank3_bids += bid.price >= 1'000'000 ? 1 : 0;
                   agg.sum_price += bid.price;
                   agg.avg_price = agg.sum_price / agg.total_bids;
                   return agg;
                 })
      .ToStream()
      .Map([](const Windowed<int64_t>& w, const std::optional<Q17Row>& row) {
        Q17Key key{w.key, DayOf(w.window.start_ms)};
        std::optional<Q17Row> out = row;
        if (out) {
          out->auction = key.auction;
          out->day = key.day;
        }
        return KeyValue<Q17Key, std::optional<Q17Row>>{std::move(key), std::move(out)};
      })
      .To(o.output_topic);
}

// q18: each bidder's latest bid on each auction (the later one of equal times).
void Q18(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .SelectKey([](const int64_t&, const Bid& bid) { return BidderAuction{bid.bidder, bid.auction}; })
      .GroupByKey()
      .Reduce([](const Bid& latest, const Bid& bid) { return bid.date_time >= latest.date_time ? bid : latest; })
      .ToStream()
      .To(o.output_topic);
}

// q19: each auction's ten highest bids.
void Q19(StreamsBuilder& b, const QueryOptions& o) {
  Bids(Source(b, o))
      .GroupByKey()
      .Aggregate([] { return Q19Row{}; },
                 [](const int64_t&, const Bid& bid, Q19Row agg) {
                   auto at = std::find_if(agg.top.begin(), agg.top.end(),
                                          [&](const Bid& b) { return b.price < bid.price; });
                   if (at == agg.top.end() && agg.top.size() >= 10) return agg;
                   agg.top.insert(at, bid);
                   if (agg.top.size() > 10) agg.top.pop_back();
                   return agg;
                 })
      .ToStream()
      .To(o.output_topic);
}

template <class K, class V>
std::string Describe(const OutRow& row) {
  std::string text;
  K key{};
  if (absl::Status s = DefaultSerdeFor<K>().Deserialize(row.key, key); !s.ok()) return "(bad key)";
  if constexpr (RowType<K>) {
    text = RowText(key);
  } else {
    text = std::to_string(key);
  }
  text += " -> ";
  if (!row.value) return text + "null";
  V value{};
  if (absl::Status s = RowSerde<V>().Deserialize(*row.value, value); !s.ok()) return text + "(bad value)";
  return text + RowText(value);
}

template <class K, class V>
Query Make(std::string name, std::string title, Query::Output output,
           void (*build)(StreamsBuilder&, const QueryOptions&),
           std::vector<OutRow> (*reference)(const ReferenceInput&)) {
  Query q;
  q.name = std::move(name);
  q.title = std::move(title);
  q.output = output;
  q.build = build;
  q.reference = reference;
  q.describe = &Describe<K, V>;
  return q;
}

std::vector<Query> MakeQueries() {
  using O = Query::Output;
  std::vector<Query> q;
  q.push_back(Make<int64_t, Bid>("q0", "pass-through", O::kAppend, Q0, ReferenceQ0));
  q.push_back(Make<int64_t, Q1Row>("q1", "currency conversion", O::kAppend, Q1, ReferenceQ1));
  q.push_back(Make<int64_t, Q2Row>("q2", "selection", O::kAppend, Q2, ReferenceQ2));
  q.push_back(Make<int64_t, Q3Row>("q3", "local item suggestion", O::kTable, Q3, ReferenceQ3));
  q.push_back(Make<int64_t, Q4Row>("q4", "average price per category", O::kTable, Q4, ReferenceQ4));
  q.push_back(Make<int64_t, Q5Row>("q5", "hot items", O::kTable, Q5, ReferenceQ5));
  q.push_back(Make<int64_t, Q7Row>("q7", "highest bid", O::kTable, Q7, ReferenceQ7));
  q.push_back(Make<WindowKey, Q8Row>("q8", "monitor new users", O::kAppend, Q8, ReferenceQ8));
  q.push_back(Make<WindowKey, CountRow>("q11", "user sessions", O::kAppend, Q11, ReferenceQ11));
  for (Query& windowed : q) {
    if (windowed.name == "q5" || windowed.name == "q7" || windowed.name == "q8" || windowed.name == "q11") {
      windowed.closes_within_ms = kWindowMs + kGraceMs;
    }
  }
  Query q12 = Make<WindowKey, CountRow>("q12", "processing-time windows", O::kAppend, Q12, ReferenceQ12);
  q12.config["default.timestamp.extractor"] = "WallclockTimestampExtractor";
  q12.closes_within_ms = kWindowMs;
  q.push_back(std::move(q12));
  q.push_back(Make<int64_t, Q14Row>("q14", "calculation with a UDF", O::kAppend, Q14, ReferenceQ14));
  q.push_back(Make<Q17Key, Q17Row>("q17", "auction statistics per day", O::kTable, Q17, ReferenceQ17));
  q.push_back(Make<BidderAuction, Bid>("q18", "last bid per bidder and auction", O::kTable, Q18, ReferenceQ18));
  q.push_back(Make<int64_t, Q19Row>("q19", "top-10 bids per auction", O::kTable, Q19, ReferenceQ19));
  q.push_back(Make<int64_t, Q20Row>("q20", "expand bid with auction", O::kAppend, Q20, ReferenceQ20));
  q.push_back(Make<int64_t, Q21Row>("q21", "channel id", O::kAppend, Q21, ReferenceQ21));
  q.push_back(Make<int64_t, Q22Row>("q22", "url directories", O::kAppend, Q22, ReferenceQ22));
  return q;
}

}  // namespace

const std::vector<Query>& Queries() {
  static const std::vector<Query> queries = MakeQueries();
  return queries;
}

const Query* FindQuery(std::string_view name) {
  for (const Query& q : Queries()) {
    if (q.name == name) return &q;
  }
  return nullptr;
}

std::vector<OutRow> Settle(Query::Output output, std::vector<OutRow> records) {
  if (output == Query::Output::kTable) {
    std::map<std::string, std::optional<std::string>> last;
    for (OutRow& r : records) last[r.key] = std::move(r.value);
    records.clear();
    for (auto& [key, value] : last) {
      if (value) records.push_back(OutRow{key, std::move(value)});
    }
  }
  std::sort(records.begin(), records.end());
  return records;
}

}  // namespace sluice::nexmark
