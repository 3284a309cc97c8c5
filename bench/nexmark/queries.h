// The Nexmark queries in the Sluice DSL, their result rows, and the registry that pairs
// each with its plain-C++ reference (reference.h). Every query reads the events topic
// (key: the auction or person id, int64; value: an Event in the run's Format; timestamp:
// the event's dateTime) and writes its results to one output topic, keys and values as
// rows (row.h) or int64. What each computes, and where it departs from Flink's SQL, is in
// bench/nexmark/README.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "bench/nexmark/codec.h"
#include "bench/nexmark/model.h"
#include "bench/nexmark/row.h"
#include "sluice/streams_builder.h"

namespace sluice::nexmark {

// ---- Result rows ----

struct Q1Row {  // q1: the bid in euros
  int64_t auction = 0, bidder = 0;
  double price = 0;
  int64_t date_time = 0;
  std::string extra;
  auto Fields() { return std::tie(auction, bidder, price, date_time, extra); }
  friend bool operator==(const Q1Row&, const Q1Row&) = default;
};
struct Q2Row {
  int64_t auction = 0, price = 0;
  auto Fields() { return std::tie(auction, price); }
  friend bool operator==(const Q2Row&, const Q2Row&) = default;
};
struct Q3Row {  // keyed by the auction id
  std::string name, city, state;
  int64_t auction = 0;
  auto Fields() { return std::tie(name, city, state, auction); }
  friend bool operator==(const Q3Row&, const Q3Row&) = default;
};
struct Q4Row {  // keyed by the category
  int64_t category = 0, auctions = 0;
  double average = 0;
  auto Fields() { return std::tie(category, auctions, average); }
  friend bool operator==(const Q4Row&, const Q4Row&) = default;
};
struct AuctionMax {  // q4: an auction's category and highest bid in its lifetime
  int64_t category = 0, max = 0;
  auto Fields() { return std::tie(category, max); }
  friend bool operator==(const AuctionMax&, const AuctionMax&) = default;
};
struct CategorySum {  // q4: the auctions of a category with a highest bid, and their sum
  int64_t category = 0, auctions = 0, sum = 0;
  auto Fields() { return std::tie(category, auctions, sum); }
  friend bool operator==(const CategorySum&, const CategorySum&) = default;
};
struct Q5Row {  // keyed by the window start
  int64_t start = 0, end = 0, count = 0;
  std::vector<int64_t> auctions;  // ascending
  auto Fields() { return std::tie(start, end, count, auctions); }
  friend bool operator==(const Q5Row&, const Q5Row&) = default;
};
struct Q7Row {  // keyed by the window start
  int64_t start = 0, end = 0, price = 0;
  std::vector<Bid> bids;  // the bids at the highest price, in BidOrder
  auto Fields() { return std::tie(start, end, price, bids); }
  friend bool operator==(const Q7Row&, const Q7Row&) = default;
};
struct WindowKey {  // q8, q11, q12: an id and a window start
  int64_t id = 0, start = 0;
  auto Fields() { return std::tie(id, start); }
  friend bool operator==(const WindowKey&, const WindowKey&) = default;
};
struct Q8Row {
  int64_t id = 0;
  std::string name;
  int64_t start = 0;
  auto Fields() { return std::tie(id, name, start); }
  friend bool operator==(const Q8Row&, const Q8Row&) = default;
};
struct CountRow {  // q11, q12: bids of a bidder in a window
  int64_t bidder = 0, count = 0, start = 0, end = 0;
  auto Fields() { return std::tie(bidder, count, start, end); }
  friend bool operator==(const CountRow&, const CountRow&) = default;
};
struct Q14Row {
  int64_t auction = 0, bidder = 0;
  double price = 0;
  std::string bid_time_type;
  int64_t date_time = 0;
  std::string extra;
  int64_t c_counts = 0;
  auto Fields() { return std::tie(auction, bidder, price, bid_time_type, date_time, extra, c_counts); }
  friend bool operator==(const Q14Row&, const Q14Row&) = default;
};
struct Q17Key {
  int64_t auction = 0;
  std::string day;
  auto Fields() { return std::tie(auction, day); }
  friend bool operator==(const Q17Key&, const Q17Key&) = default;
};
struct Q17Row {
  int64_t auction = 0;
  std::string day;
  int64_t total_bids = 0, rank1_bids = 0, rank2_bids = 0, rank3_bids = 0;
  int64_t min_price = 0, max_price = 0, avg_price = 0, sum_price = 0;
  auto Fields() {
    return std::tie(auction, day, total_bids, rank1_bids, rank2_bids, rank3_bids, min_price,
                    max_price, avg_price, sum_price);
  }
  friend bool operator==(const Q17Row&, const Q17Row&) = default;
};
struct BidderAuction {  // q18's key
  int64_t bidder = 0, auction = 0;
  auto Fields() { return std::tie(bidder, auction); }
  friend bool operator==(const BidderAuction&, const BidderAuction&) = default;
};
struct Q19Row {  // keyed by the auction
  std::vector<Bid> top;  // at most 10, highest price first; equal prices in arrival order
  auto Fields() { return std::tie(top); }
  friend bool operator==(const Q19Row&, const Q19Row&) = default;
};
struct Q20Row {  // keyed by the auction
  Bid bid;
  Auction auction;
  auto Fields() { return std::tie(bid, auction); }
  friend bool operator==(const Q20Row&, const Q20Row&) = default;
};
struct Q21Row {
  int64_t auction = 0, bidder = 0, price = 0;
  std::string channel, channel_id;
  auto Fields() { return std::tie(auction, bidder, price, channel, channel_id); }
  friend bool operator==(const Q21Row&, const Q21Row&) = default;
};
struct Q22Row {
  int64_t auction = 0, bidder = 0, price = 0;
  std::string channel, dir1, dir2, dir3;  // "" where SPLIT_INDEX is NULL
  auto Fields() { return std::tie(auction, bidder, price, channel, dir1, dir2, dir3); }
  friend bool operator==(const Q22Row&, const Q22Row&) = default;
};

// A total order on bids for results that list several: (bidder, dateTime, price, auction,
// channel, url, extra).
inline bool BidOrder(const Bid& a, const Bid& b) {
  return std::tie(a.bidder, a.date_time, a.price, a.auction, a.channel, a.url, a.extra) <
         std::tie(b.bidder, b.date_time, b.price, b.auction, b.channel, b.url, b.extra);
}

// ---- The registry ----

struct QueryOptions {
  std::string input_topic = "nexmark-events";
  std::string output_topic = "nexmark-out";
  Format format = Format::kFlatBuffers;
};

// One output record as bytes: key, and value (nullopt for a tombstone).
struct OutRow {
  std::string key;
  std::optional<std::string> value;
  friend bool operator==(const OutRow&, const OutRow&) = default;
  friend bool operator<(const OutRow& a, const OutRow& b) {
    return std::tie(a.key, a.value) < std::tie(b.key, b.value);
  }
};

// What the reference sees besides the events.
struct ReferenceInput {
  const std::vector<Event>* events = nullptr;  // in generation order
  // q12: the processing time of each event (same index); empty for the other queries.
  std::vector<int64_t> processing_times;
};

struct Query {
  enum class Output {
    kAppend,  // a stream of results: compared as a multiset of records
    kTable,   // updates of a table: compared by the last value of each key
  };
  std::string name;
  std::string title;
  Output output = Output::kAppend;
  // Settings the query needs (q12: the wall-clock timestamp extractor).
  std::map<std::string, std::string> config;
  // Windows that emit when they close: how long after the input stops, at most, the last
  // one closes once stream time follows the wall clock (idle.window.close.ms): its size
  // plus the grace period. 0 for the other queries.
  int64_t closes_within_ms = 0;
  std::function<void(StreamsBuilder&, const QueryOptions&)> build;
  // The results in the same encoding (reference.cc).
  std::function<std::vector<OutRow>(const ReferenceInput&)> reference;
  // An output record as text, for messages.
  std::function<std::string(const OutRow&)> describe;
};

// The queries, in order: q0, q1, ...
const std::vector<Query>& Queries();
// nullptr if there is no such query.
const Query* FindQuery(std::string_view name);

// The results a query's output topic holds in the end: for kAppend every record, sorted;
// for kTable the last value of every key whose last record is not a tombstone, sorted.
std::vector<OutRow> Settle(Query::Output output, std::vector<OutRow> records);

}  // namespace sluice::nexmark
