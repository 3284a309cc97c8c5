#include "bench/nexmark/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sluice::nexmark {
namespace {

constexpr std::array<const char*, 6> kUsStates = {"AZ", "CA", "ID", "OR", "WA", "WY"};
constexpr std::array<const char*, 10> kUsCities = {"Phoenix", "Los Angeles", "San Francisco",
                                                   "Boise",   "Portland",    "Bend",
                                                   "Redmond", "Seattle",     "Kent",
                                                   "Cheyenne"};
constexpr std::array<const char*, 11> kFirstNames = {"Peter", "Paul",  "Luke",  "John",
                                                     "Saul",  "Vicky", "Kate",  "Julie",
                                                     "Sarah", "Deiter", "Walter"};
constexpr std::array<const char*, 9> kLastNames = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                                   "Walton", "Smith",  "Jones",   "Noris"};
constexpr int64_t kPersonIdLead = 10;   // persons a bid or auction may name before they exist
constexpr int64_t kAuctionIdLead = 10;  // auctions a bid may name before they exist
constexpr int64_t kHotSellerRatio = 100;
constexpr int64_t kHotAuctionRatio = 100;
constexpr int64_t kHotBidderRatio = 100;
constexpr int kMinStringLength = 3;

// Java's String.trim(): drops leading and trailing characters <= ' '.
std::string Trim(std::string s) {
  size_t begin = 0;
  while (begin < s.size() && static_cast<unsigned char>(s[begin]) <= ' ') ++begin;
  size_t end = s.size();
  while (end > begin && static_cast<unsigned char>(s[end - 1]) <= ' ') --end;
  return s.substr(begin, end - begin);
}

// Beam's StringsGenerator.nextString: 3 .. max_length - 1 characters of a-z, each one
// `special` with probability 1/13, trimmed.
std::string NextString(JavaRandom& r, int max_length, char special = ' ') {
  const int len = kMinStringLength + r.NextInt(max_length - kMinStringLength);
  std::string s;
  s.reserve(static_cast<size_t>(len));
  for (int i = 0; i < len; ++i) {
    if (r.NextInt(13) == 0) {
      s.push_back(special);
    } else {
      s.push_back(static_cast<char>('a' + r.NextInt(26)));
    }
  }
  return Trim(std::move(s));
}

// Beam's nextExactString: six characters per 32 random bits. The remainder of a negative
// int is negative, so characters run from 'H' to 'z', as in Beam.
std::string NextExactString(JavaRandom& r, int length) {
  std::string s;
  s.reserve(static_cast<size_t>(length));
  int32_t rnd = 0;
  int n = 0;
  for (int i = 0; i < length; ++i) {
    if (n == 0) {
      rnd = r.NextInt();
      n = 6;
    }
    s.push_back(static_cast<char>('a' + rnd % 26));
    rnd /= 26;
    --n;
  }
  return s;
}

// Java's Math.round for the non-negative values used here.
int64_t JavaRound(double x) { return static_cast<int64_t>(std::floor(x + 0.5)); }

// Padding that brings a record to about `average` bytes: +-20% of what it lacks.
std::string NextExtra(JavaRandom& r, int current_size, int average) {
  if (current_size > average) return "";
  const int lacking = average - current_size;
  const int delta = static_cast<int>(JavaRound(lacking * 0.2));
  const int min_size = lacking - delta;
  const int size = min_size + (delta == 0 ? 0 : r.NextInt(2 * delta));
  return NextExactString(r, size);
}

// Log-uniform in [$1, $1,000,000], in cents.
int64_t NextPrice(JavaRandom& r) { return JavaRound(std::pow(10.0, r.NextDouble() * 6.0) * 100.0); }

std::string BaseUrl(JavaRandom& r) {
  std::string url = "https://www.nexmark.com/";
  for (int i = 0; i < 3; ++i) url += NextString(r, 5, '_') + "/";
  return url + "item.htm?query=1";
}

// Java's Math.abs(Integer.reverse(i)) (Math.abs of INT_MIN stays INT_MIN).
int64_t ReversedChannelId(uint32_t i) {
  uint32_t v = 0;
  for (int bit = 0; bit < 32; ++bit) v |= ((i >> bit) & 1u) << (31 - bit);
  const auto reversed = static_cast<int32_t>(v);
  return reversed == INT32_MIN ? INT32_MIN : (reversed < 0 ? -static_cast<int64_t>(reversed) : reversed);
}

}  // namespace

Generator::Generator(GeneratorConfig config) : config_(config) {
  JavaRandom r(static_cast<int64_t>(config_.seed));
  for (std::string& url : hot_urls_) url = BaseUrl(r);
  channels_.reserve(kChannels);
  for (int i = 0; i < kChannels; ++i) {
    std::string url = BaseUrl(r);
    if (r.NextInt(10) > 0) url += "&channel_id=" + std::to_string(ReversedChannelId(static_cast<uint32_t>(i)));
    channels_.emplace_back("channel-" + std::to_string(i), std::move(url));
  }
}

int64_t Generator::LastBase0PersonId(int64_t event_id) {
  const int64_t epoch = event_id / kProportionDenominator;
  int64_t offset = event_id % kProportionDenominator;
  if (offset >= kPersonProportion) offset = kPersonProportion - 1;
  return epoch * kPersonProportion + offset;
}

int64_t Generator::LastBase0AuctionId(int64_t event_id) {
  int64_t epoch = event_id / kProportionDenominator;
  int64_t offset = event_id % kProportionDenominator;
  if (offset < kPersonProportion) {
    // A person: the last auction of the previous epoch.
    --epoch;
    offset = kAuctionProportion - 1;
  } else if (offset >= kPersonProportion + kAuctionProportion) {
    // A bid: the last auction of this epoch.
    offset = kAuctionProportion - 1;
  } else {
    offset -= kPersonProportion;
  }
  return epoch * kAuctionProportion + offset;
}

int64_t Generator::NextBase0PersonId(int64_t event_id, JavaRandom& r) const {
  const int64_t people = LastBase0PersonId(event_id) + 1;
  const int64_t active = std::min<int64_t>(people, config_.num_active_people);
  const int64_t n = r.NextLong(active + kPersonIdLead);
  return people - active + n;
}

int64_t Generator::NextBase0AuctionId(int64_t event_id, JavaRandom& r) const {
  const int64_t max_id = LastBase0AuctionId(event_id);
  const int64_t min_id = std::max<int64_t>(max_id - config_.num_in_flight_auctions, 0);
  return min_id + r.NextLong(max_id - min_id + 1 + kAuctionIdLead);
}

Event Generator::Next() {
  // Events are generated in order (Beam's out-of-order group size 1): the event number is
  // both the id's and the timestamp's.
  const int64_t number = config_.first_event_number + count_;
  const int64_t event_id = config_.first_event_id + number;
  const int64_t t = config_.Timestamp(number);
  JavaRandom r(event_id ^ static_cast<int64_t>(config_.seed * 0x9E3779B97F4A7C15ULL));
  const int64_t rem = event_id % kProportionDenominator;
  Event e;
  if (rem < kPersonProportion) {
    e.payload = NextPerson(event_id, r, t);
  } else if (rem < kPersonProportion + kAuctionProportion) {
    e.payload = NextAuction(number, event_id, r, t);
  } else {
    e.payload = NextBid(event_id, r, t);
  }
  ++count_;
  return e;
}

Person Generator::NextPerson(int64_t event_id, JavaRandom& r, int64_t t) const {
  Person p;
  p.id = LastBase0PersonId(event_id) + kFirstPersonId;
  p.name = kFirstNames[static_cast<size_t>(r.NextInt(kFirstNames.size()))];
  p.name += ' ';
  p.name += kLastNames[static_cast<size_t>(r.NextInt(kLastNames.size()))];
  // Two statements: the operands of one + expression may be evaluated in any order.
  p.email_address = NextString(r, 7);
  p.email_address += "@" + NextString(r, 5) + ".com";
  char card[20];
  const int a = r.NextInt(10000), b = r.NextInt(10000), c = r.NextInt(10000), d = r.NextInt(10000);
  std::snprintf(card, sizeof card, "%04d %04d %04d %04d", a, b, c, d);
  p.credit_card = card;
  p.city = kUsCities[static_cast<size_t>(r.NextInt(kUsCities.size()))];
  p.state = kUsStates[static_cast<size_t>(r.NextInt(kUsStates.size()))];
  const int size = static_cast<int>(8 + p.name.size() + p.email_address.size() + p.credit_card.size() +
                                    p.city.size() + p.state.size());
  p.extra = NextExtra(r, size, config_.avg_person_bytes);
  p.date_time = t;
  return p;
}

Auction Generator::NextAuction(int64_t event_number, int64_t event_id, JavaRandom& r,
                               int64_t t) const {
  Auction a;
  a.id = LastBase0AuctionId(event_id) + kFirstAuctionId;
  if (r.NextInt(config_.hot_sellers_ratio) > 0) {
    a.seller = (LastBase0PersonId(event_id) / kHotSellerRatio) * kHotSellerRatio;
  } else {
    a.seller = NextBase0PersonId(event_id, r);
  }
  a.seller += kFirstPersonId;
  a.category = kFirstCategoryId + r.NextInt(kNumCategories);
  a.initial_bid = NextPrice(r);
  // About as long as it takes for num_in_flight_auctions more auctions to start.
  const int64_t events_for_auctions =
      (config_.num_in_flight_auctions * kProportionDenominator) / kAuctionProportion;
  const int64_t horizon = config_.Timestamp(event_number + events_for_auctions) - t;
  a.expires = t + 1 + r.NextLong(std::max<int64_t>(horizon * 2, 1));
  a.item_name = NextString(r, 20);
  a.description = NextString(r, 100);
  a.reserve = a.initial_bid + NextPrice(r);
  const int size = static_cast<int>(8 + a.item_name.size() + a.description.size() + 8 * 5);
  a.extra = NextExtra(r, size, config_.avg_auction_bytes);
  a.date_time = t;
  return a;
}

Bid Generator::NextBid(int64_t event_id, JavaRandom& r, int64_t t) const {
  Bid b;
  if (r.NextInt(config_.hot_auction_ratio) > 0) {
    b.auction = (LastBase0AuctionId(event_id) / kHotAuctionRatio) * kHotAuctionRatio;
  } else {
    b.auction = NextBase0AuctionId(event_id, r);
  }
  b.auction += kFirstAuctionId;
  if (r.NextInt(config_.hot_bidders_ratio) > 0) {
    b.bidder = (LastBase0PersonId(event_id) / kHotBidderRatio) * kHotBidderRatio + 1;
  } else {
    b.bidder = NextBase0PersonId(event_id, r);
  }
  b.bidder += kFirstPersonId;
  b.price = NextPrice(r);
  if (r.NextInt(2) > 0) {
    const auto hot = static_cast<size_t>(r.NextInt(kHotChannels.size()));
    b.channel = kHotChannels[hot];
    b.url = hot_urls_[hot];
  } else {
    const auto& [channel, url] = channels_[static_cast<size_t>(r.NextInt(kChannels))];
    b.channel = channel;
    b.url = url;
  }
  b.extra = NextExtra(r, 32, config_.avg_bid_bytes);
  b.date_time = t;
  return b;
}

}  // namespace sluice::nexmark
