#include "bench/nexmark/reference.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "bench/nexmark/udf.h"

namespace sluice::nexmark {
namespace {

constexpr int64_t kWindowMs = 10'000;
constexpr int64_t kHopAdvanceMs = 2'000;

// The encodings of the output topics: int64 keys big-endian (Kafka's LongSerializer),
// rows as RowSerde.
std::string Key(int64_t k) {
  std::string out(8, '\0');
  auto u = static_cast<uint64_t>(k);
  for (int i = 7; i >= 0; --i, u >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(u & 0xff);
  return out;
}
template <RowType R>
std::string Key(const R& row) {
  std::string out;
  RowSerde<R>().Serialize(row, out);
  return out;
}
template <RowType R>
std::string Value(const R& row) {
  std::string out;
  RowSerde<R>().Serialize(row, out);
  return out;
}
template <class K, RowType R>
OutRow Out(const K& key, const R& row) {
  return OutRow{Key(key), Value(row)};
}

// Calls f(bid) for every bid, in order.
template <class F>
void ForEachBid(const ReferenceInput& in, F f) {
  for (const Event& e : *in.events) {
    if (const Bid* b = e.bid()) f(*b);
  }
}

int64_t FloorTo(int64_t t, int64_t unit) { return t / unit * unit; }  // t >= 0

}  // namespace

std::vector<OutRow> ReferenceQ0(const ReferenceInput& in) {
  std::vector<OutRow> out;
  ForEachBid(in, [&](const Bid& b) { out.push_back(Out(b.auction, b)); });
  return out;
}

std::vector<OutRow> ReferenceQ1(const ReferenceInput& in) {
  std::vector<OutRow> out;
  ForEachBid(in, [&](const Bid& b) {
    out.push_back(Out(b.auction, Q1Row{b.auction, b.bidder, 0.908 * static_cast<double>(b.price),
                                       b.date_time, b.extra}));
  });
  return out;
}

std::vector<OutRow> ReferenceQ2(const ReferenceInput& in) {
  std::vector<OutRow> out;
  ForEachBid(in, [&](const Bid& b) {
    if (b.auction % 123 == 0) out.push_back(Out(b.auction, Q2Row{b.auction, b.price}));
  });
  return out;
}

std::vector<OutRow> ReferenceQ3(const ReferenceInput& in) {
  // Every person and every category-10 auction; an auction joins its seller whenever
  // either arrives.
  std::unordered_map<int64_t, const Person*> persons;
  std::vector<const Auction*> auctions;
  for (const Event& e : *in.events) {
    if (const Person* p = e.person()) persons[p->id] = p;
    if (const Auction* a = e.auction(); a != nullptr && a->category == 10) auctions.push_back(a);
  }
  std::vector<OutRow> out;
  for (const Auction* a : auctions) {
    auto it = persons.find(a->seller);
    if (it == persons.end()) continue;
    const Person& p = *it->second;
    if (p.state == "OR" || p.state == "ID" || p.state == "CA") {
      out.push_back(Out(a->id, Q3Row{p.name, p.city, p.state, a->id}));
    }
  }
  return out;
}

std::vector<OutRow> ReferenceQ4(const ReferenceInput& in) {
  // A bid counts for an auction generated before it, if placed in the auction's lifetime.
  std::unordered_map<int64_t, const Auction*> auctions;
  std::map<int64_t, std::pair<int64_t, int64_t>> highest;  // auction -> (category, price)
  for (const Event& e : *in.events) {
    if (const Auction* a = e.auction()) auctions[a->id] = a;
    const Bid* b = e.bid();
    if (b == nullptr) continue;
    auto it = auctions.find(b->auction);
    if (it == auctions.end()) continue;
    const Auction& a = *it->second;
    if (b->date_time < a.date_time || b->date_time > a.expires) continue;
    auto [h, fresh] = highest.try_emplace(a.id, a.category, b->price);
    if (!fresh) h->second.second = std::max(h->second.second, b->price);
  }
  std::map<int64_t, std::pair<int64_t, int64_t>> categories;  // category -> (auctions, sum)
  for (const auto& [auction, category_price] : highest) {
    auto& [n, sum] = categories[category_price.first];
    ++n;
    sum += category_price.second;
  }
  std::vector<OutRow> out;
  for (const auto& [category, n_sum] : categories) {
    const auto& [n, sum] = n_sum;
    out.push_back(Out(category, Q4Row{category, n, static_cast<double>(sum) / static_cast<double>(n)}));
  }
  return out;
}

std::vector<OutRow> ReferenceQ5(const ReferenceInput& in) {
  // (window start, auction) -> bids, for every hopping window holding the bid.
  std::map<std::pair<int64_t, int64_t>, int64_t> counts;
  ForEachBid(in, [&](const Bid& b) {
    for (int64_t start = FloorTo(b.date_time, kHopAdvanceMs); start > b.date_time - kWindowMs && start >= 0;
         start -= kHopAdvanceMs) {
      ++counts[{start, b.auction}];
    }
  });
  std::map<int64_t, Q5Row> windows;
  for (const auto& [window_auction, n] : counts) {
    const auto& [start, auction] = window_auction;
    Q5Row& row = windows[start];
    row.start = start;
    row.end = start + kWindowMs;
    if (n > row.count) {
      row.count = n;
      row.auctions.clear();
    }
    if (n == row.count) row.auctions.push_back(auction);  // ascending: the map's order
  }
  std::vector<OutRow> out;
  for (const auto& [start, row] : windows) out.push_back(Out(start, row));
  return out;
}

std::vector<OutRow> ReferenceQ7(const ReferenceInput& in) {
  std::map<int64_t, Q7Row> windows;
  ForEachBid(in, [&](const Bid& b) {
    const int64_t start = FloorTo(b.date_time, kWindowMs);
    Q7Row& row = windows[start];
    if (row.bids.empty() || b.price > row.price) {
      row = Q7Row{start, start + kWindowMs, b.price, {b}};
    } else if (b.price == row.price) {
      row.bids.push_back(b);
    }
  });
  std::vector<OutRow> out;
  for (auto& [start, row] : windows) {
    std::sort(row.bids.begin(), row.bids.end(), BidOrder);
    out.push_back(Out(start, row));
  }
  return out;
}

std::vector<OutRow> ReferenceQ8(const ReferenceInput& in) {
  std::map<std::pair<int64_t, int64_t>, std::string> registered;  // (id, window) -> name
  std::set<std::pair<int64_t, int64_t>> sold;                     // (seller, window)
  for (const Event& e : *in.events) {
    if (const Person* p = e.person()) registered[{p->id, FloorTo(p->date_time, kWindowMs)}] = p->name;
    if (const Auction* a = e.auction()) sold.insert({a->seller, FloorTo(a->date_time, kWindowMs)});
  }
  std::vector<OutRow> out;
  for (const auto& [id_window, name] : registered) {
    if (!sold.contains(id_window)) continue;
    const auto& [id, start] = id_window;
    out.push_back(Out(WindowKey{id, start}, Q8Row{id, name, start}));
  }
  return out;
}

std::vector<OutRow> ReferenceQ11(const ReferenceInput& in) {
  // Each bidder's bid times, sorted; a session goes on while the next bid is at most the
  // gap after the last one (Kafka Streams' inclusive inactivity gap).
  std::map<int64_t, std::vector<int64_t>> times;
  ForEachBid(in, [&](const Bid& b) { times[b.bidder].push_back(b.date_time); });
  std::vector<OutRow> out;
  for (auto& [bidder, ts] : times) {
    std::sort(ts.begin(), ts.end());
    size_t first = 0;
    for (size_t i = 1; i <= ts.size(); ++i) {
      if (i < ts.size() && ts[i] - ts[i - 1] <= kWindowMs) continue;
      const int64_t start = ts[first], last = ts[i - 1];
      out.push_back(Out(WindowKey{bidder, start},
                        CountRow{bidder, static_cast<int64_t>(i - first), start, last + kWindowMs}));
      first = i;
    }
  }
  return out;
}

std::vector<OutRow> ReferenceQ12(const ReferenceInput& in) {
  std::map<std::pair<int64_t, int64_t>, int64_t> counts;  // (bidder, window) -> bids
  for (size_t i = 0; i < in.events->size(); ++i) {
    if (const Bid* b = (*in.events)[i].bid()) {
      ++counts[{b->bidder, FloorTo(in.processing_times.at(i), kWindowMs)}];
    }
  }
  std::vector<OutRow> out;
  for (const auto& [bidder_window, n] : counts) {
    const auto& [bidder, start] = bidder_window;
    out.push_back(Out(WindowKey{bidder, start}, CountRow{bidder, n, start, start + kWindowMs}));
  }
  return out;
}

std::vector<OutRow> ReferenceQ14(const ReferenceInput& in) {
  std::vector<OutRow> out;
  ForEachBid(in, [&](const Bid& b) {
    const double euros = 0.908 * static_cast<double>(b.price);
    if (!(euros > 1'000'000 && euros < 50'000'000)) return;
    int64_t cs = std::count(b.extra.begin(), b.extra.end(), 'c');
    out.push_back(Out(b.auction, Q14Row{b.auction, b.bidder, euros, BidTimeType(b.date_time),
                                        b.date_time, b.extra, cs}));
  });
  return out;
}

std::vector<OutRow> ReferenceQ17(const ReferenceInput& in) {
  std::map<std::pair<int64_t, std::string>, std::vector<int64_t>> prices;
  ForEachBid(in, [&](const Bid& b) { prices[{b.auction, DayOf(b.date_time)}].push_back(b.price); });
  std::vector<OutRow> out;
  for (const auto& [auction_day, ps] : prices) {
    const auto& [auction, day] = auction_day;
    Q17Row r;
    r.auction = auction;
    r.day = day;
    r.total_bids = static_cast<int64_t>(ps.size());
    for (int64_t p : ps) {
      r.rank1_bids += p < 10'000;
      r.rank2_bids += p >= 10'000 && p < 1'000'000;
      r.rank3_bids += p >= 1'000'000;
      r.sum_price += p;
    }
    r.min_price = *std::min_element(ps.begin(), ps.end());
    r.max_price = *std::max_element(ps.begin(), ps.end());
    r.avg_price = r.sum_price / r.total_bids;
    out.push_back(Out(Q17Key{auction, day}, r));
  }
  return out;
}

std::vector<OutRow> ReferenceQ18(const ReferenceInput& in) {
  std::map<std::pair<int64_t, int64_t>, Bid> last;  // (bidder, auction)
  ForEachBid(in, [&](const Bid& b) {
    auto [it, fresh] = last.try_emplace({b.bidder, b.auction}, b);
    if (!fresh && b.date_time >= it->second.date_time) it->second = b;
  });
  std::vector<OutRow> out;
  for (const auto& [key, bid] : last) out.push_back(Out(BidderAuction{key.first, key.second}, bid));
  return out;
}

std::vector<OutRow> ReferenceQ19(const ReferenceInput& in) {
  std::map<int64_t, std::vector<Bid>> bids;
  ForEachBid(in, [&](const Bid& b) { bids[b.auction].push_back(b); });
  std::vector<OutRow> out;
  for (auto& [auction, all] : bids) {
    std::stable_sort(all.begin(), all.end(), [](const Bid& a, const Bid& b) { return a.price > b.price; });
    if (all.size() > 10) all.resize(10);
    out.push_back(Out(auction, Q19Row{all}));
  }
  return out;
}

std::vector<OutRow> ReferenceQ20(const ReferenceInput& in) {
  std::unordered_map<int64_t, const Auction*> auctions;  // category 10, generated so far
  std::vector<OutRow> out;
  for (const Event& e : *in.events) {
    if (const Auction* a = e.auction(); a != nullptr && a->category == 10) auctions[a->id] = a;
    if (const Bid* b = e.bid()) {
      auto it = auctions.find(b->auction);
      if (it != auctions.end()) out.push_back(Out(b->auction, Q20Row{*b, *it->second}));
    }
  }
  return out;
}

std::vector<OutRow> ReferenceQ21(const ReferenceInput& in) {
  static const std::map<std::string, std::string> kHot = {
      {"apple", "0"}, {"google", "1"}, {"facebook", "2"}, {"baidu", "3"}};
  std::vector<OutRow> out;
  ForEachBid(in, [&](const Bid& b) {
    std::optional<std::string> id;
    if (auto it = kHot.find(Lower(b.channel)); it != kHot.end()) {
      id = it->second;
    } else {
      id = ChannelIdParameter(b.url);
    }
    if (id) out.push_back(Out(b.auction, Q21Row{b.auction, b.bidder, b.price, b.channel, *id}));
  });
  return out;
}

std::vector<OutRow> ReferenceQ22(const ReferenceInput& in) {
  std::vector<OutRow> out;
  ForEachBid(in, [&](const Bid& b) {
    std::vector<std::string> parts;
    size_t begin = 0;
    while (true) {
      const size_t at = b.url.find('/', begin);
      parts.push_back(b.url.substr(begin, at == std::string::npos ? std::string::npos : at - begin));
      if (at == std::string::npos) break;
      begin = at + 1;
    }
    auto part = [&](size_t i) { return i < parts.size() ? parts[i] : std::string(); };
    out.push_back(Out(b.auction, Q22Row{b.auction, b.bidder, b.price, b.channel, part(3), part(4), part(5)}));
  });
  return out;
}

}  // namespace sluice::nexmark
