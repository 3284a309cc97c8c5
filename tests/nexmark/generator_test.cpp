// The Nexmark generator against values from Beam's generator (bench/nexmark/generator.h),
// its proportions and skew, the event codecs, the row encoding and the scalar functions.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "bench/nexmark/codec.h"
#include "bench/nexmark/generator.h"
#include "bench/nexmark/java_random.h"
#include "bench/nexmark/queries.h"
#include "bench/nexmark/row.h"
#include "bench/nexmark/udf.h"

namespace sluice::nexmark {
namespace {

std::vector<Event> Generate(int64_t n, uint64_t seed = 0) {
  GeneratorConfig config;
  config.max_events = n;
  config.seed = seed;
  Generator g(config);
  std::vector<Event> out;
  while (g.HasNext()) out.push_back(g.Next());
  return out;
}

TEST(JavaRandom, MatchesJavaUtilRandom) {
  // Values printed by Java 17's java.util.Random.
  JavaRandom r(0);
  EXPECT_EQ(r.NextInt(), -1155484576);
  EXPECT_EQ(r.NextInt(10), 8);
  EXPECT_EQ(r.NextLong(), 4437113781045784766);
  EXPECT_DOUBLE_EQ(r.NextDouble(), 0.6374174253501083);
  JavaRandom s(42);
  EXPECT_EQ(s.NextInt(13), 0);
  EXPECT_EQ(s.NextInt(26), 7);
  EXPECT_EQ(s.NextInt(10000), 1248);
}

TEST(Generator, SeedZeroReproducesBeamsPersonsAndAuctions) {
  // Beam's generator with 10,000 events/s on one generator, events 0..3 (a Java port of
  // Beam's code printed these).
  const std::vector<Event> e = Generate(60);
  const Person* p = e[0].person();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, 1000);
  EXPECT_EQ(p->name, "Peter Jones");
  EXPECT_EQ(p->email_address, "nhd@xcat.com");
  EXPECT_EQ(p->credit_card, "7241 7320 9143 4888");
  EXPECT_EQ(p->city, "Portland");
  EXPECT_EQ(p->state, "WY");
  EXPECT_EQ(p->extra.size(), 156u);
  EXPECT_EQ(p->extra.substr(0, 12), "WN_HS_bnpkki");
  EXPECT_EQ(p->date_time, 1436918400000);

  const Auction* a1 = e[1].auction();
  ASSERT_NE(a1, nullptr);
  EXPECT_EQ(a1->id, 1000);
  EXPECT_EQ(a1->item_name, "wkx mgee");
  EXPECT_EQ(a1->description.size(), 24u);
  EXPECT_EQ(a1->initial_bid, 28873);
  EXPECT_EQ(a1->reserve, 29448);
  EXPECT_EQ(a1->expires, 1436918400011);
  EXPECT_EQ(a1->seller, 1000);
  EXPECT_EQ(a1->category, 13);
  EXPECT_EQ(a1->extra.size(), 346u);

  const Auction* a2 = e[2].auction();
  ASSERT_NE(a2, nullptr);
  EXPECT_EQ(a2->id, 1001);
  EXPECT_EQ(a2->item_name, "z ck w");
  EXPECT_EQ(a2->initial_bid, 25626290);
  EXPECT_EQ(a2->reserve, 28805847);
  EXPECT_EQ(a2->expires, 1436918400202);
  EXPECT_EQ(a2->category, 12);

  const Auction* a3 = e[3].auction();
  ASSERT_NE(a3, nullptr);
  EXPECT_EQ(a3->id, 1002);
  EXPECT_EQ(a3->item_name, "gxycmhtobprpd");
  EXPECT_EQ(a3->initial_bid, 267);
  EXPECT_EQ(a3->reserve, 422398);
  EXPECT_EQ(a3->expires, 1436918400001);
  EXPECT_EQ(a3->category, 10);
}

TEST(Generator, SeedZeroReproducesBeamsBidAuctionBidderAndPrice) {
  // A bid's channel and url are drawn after its price (as Flink does), so only its
  // extra differs from Beam's.
  const std::vector<Event> e = Generate(60);
  struct Expected {
    size_t index;
    int64_t auction, bidder, price, t;
  };
  for (const Expected& x : {Expected{4, 1000, 1001, 32530001, 1436918400000},
                            Expected{5, 1000, 1009, 468715, 1436918400000},
                            Expected{6, 1000, 1001, 300435, 1436918400000},
                            Expected{10, 1000, 1001, 3522, 1436918400001},
                            Expected{59, 1000, 1001, 155, 1436918400005}}) {
    const Bid* b = e[x.index].bid();
    ASSERT_NE(b, nullptr) << "event " << x.index;
    EXPECT_EQ(b->auction, x.auction) << "event " << x.index;
    EXPECT_EQ(b->bidder, x.bidder) << "event " << x.index;
    EXPECT_EQ(b->price, x.price) << "event " << x.index;
    EXPECT_EQ(b->date_time, x.t) << "event " << x.index;
  }
}

TEST(Generator, KeepsTheProportionsAndTheIdsDense) {
  const std::vector<Event> e = Generate(50'000);
  int64_t persons = 0, auctions = 0, bids = 0;
  int64_t next_person = 1000, next_auction = 1000, last_t = 0;
  for (const Event& ev : e) {
    EXPECT_GE(ev.date_time(), last_t);
    last_t = ev.date_time();
    if (const Person* p = ev.person()) {
      EXPECT_EQ(p->id, next_person++);
      ++persons;
    } else if (const Auction* a = ev.auction()) {
      EXPECT_EQ(a->id, next_auction++);
      EXPECT_GT(a->expires, a->date_time);
      EXPECT_GE(a->category, 10);
      EXPECT_LE(a->category, 14);
      EXPECT_GE(a->reserve, a->initial_bid);
      ++auctions;
    } else {
      const Bid& b = *ev.bid();
      // A bid may name an auction up to 10 ahead of the last one, as in Beam.
      EXPECT_LT(b.auction, next_auction + 10);
      EXPECT_GE(b.price, 100);
      EXPECT_LE(b.price, 100'000'000);
      ++bids;
    }
  }
  EXPECT_EQ(persons, 1000);
  EXPECT_EQ(auctions, 3000);
  EXPECT_EQ(bids, 46000);
  // 50,000 events at 100 us each: 5 s of event time.
  EXPECT_EQ(e.back().date_time() - e.front().date_time(), 4999);
}

TEST(Generator, BidsAreSkewedToHotAuctionsBiddersAndChannels) {
  const std::vector<Event> e = Generate(100'000);
  int64_t bids = 0, hot_auction = 0, hot_bidder = 0, hot_channel = 0, cold = 0, cold_with_id = 0;
  for (const Event& ev : e) {
    const Bid* b = ev.bid();
    if (b == nullptr) continue;
    ++bids;
    hot_auction += (b->auction - 1000) % 100 == 0;
    hot_bidder += (b->bidder - 1000) % 100 == 1;
    if (b->channel == "Google" || b->channel == "Facebook" || b->channel == "Baidu" || b->channel == "Apple") {
      ++hot_channel;
      EXPECT_EQ(b->url.find("channel_id="), std::string::npos);
    } else {
      ++cold;
      EXPECT_EQ(b->channel.rfind("channel-", 0), 0u) << b->channel;
      cold_with_id += b->url.find("&channel_id=") != std::string::npos;
    }
    EXPECT_EQ(b->url.rfind("https://www.nexmark.com/", 0), 0u) << b->url;
  }
  // Hot auctions: 1/2 of the bids plus the cold draws that land on one; bidders: 3/4.
  EXPECT_GT(hot_auction, bids * 50 / 100);
  EXPECT_GT(hot_bidder, bids * 74 / 100);
  EXPECT_NEAR(static_cast<double>(hot_channel) / bids, 0.5, 0.02);
  EXPECT_NEAR(static_cast<double>(cold_with_id) / cold, 0.9, 0.02);
}

TEST(Generator, IsDeterministicPerSeed) {
  EXPECT_EQ(Generate(2000, 7), Generate(2000, 7));
  EXPECT_NE(Generate(2000, 7), Generate(2000, 8));
  EXPECT_NE(Generate(2000, 0), Generate(2000, 8));
}

class EventCodec : public ::testing::TestWithParam<Format> {};

TEST_P(EventCodec, RoundTripsEveryKindOfEvent) {
  EventSerde serde(GetParam());
  for (const Event& e : Generate(500)) {
    std::string bytes;
    serde.Serialize(e, bytes);
    // At an odd address, as in a Kafka fetch buffer.
    std::string shifted = "x" + bytes;
    Event back;
    ASSERT_TRUE(serde.Deserialize(std::string_view(shifted).substr(1), back).ok());
    EXPECT_EQ(back, e);
  }
}

TEST_P(EventCodec, RejectsBytesThatAreNotAnEvent) {
  EventSerde serde(GetParam());
  Event out;
  absl::Status s = serde.Deserialize("not an event at all", out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("nexmark event"), std::string_view::npos) << s;
  EXPECT_FALSE(serde.Deserialize(std::string_view(), out).ok());
}

INSTANTIATE_TEST_SUITE_P(Formats, EventCodec, ::testing::Values(Format::kFlatBuffers, Format::kJson),
                         [](const auto& info) { return std::string(FormatName(info.param)); });

TEST(EventCodec, ParseFormatNamesTheFlag) {
  Format f;
  EXPECT_TRUE(ParseFormat("json", &f).ok());
  EXPECT_EQ(f, Format::kJson);
  absl::Status s = ParseFormat("avro", &f);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--format"), std::string_view::npos);
}

TEST(RowSerde, RoundTripsNestedRowsAndRejectsTruncatedBytes) {
  Q7Row row{10'000, 20'000, 555, {}};
  for (const Event& e : Generate(60)) {
    if (e.bid()) row.bids.push_back(*e.bid());
  }
  RowSerde<Q7Row> serde;
  std::string bytes;
  serde.Serialize(row, bytes);
  Q7Row back;
  ASSERT_TRUE(serde.Deserialize(bytes, back).ok());
  EXPECT_EQ(back, row);
  EXPECT_FALSE(serde.Deserialize(std::string_view(bytes).substr(0, bytes.size() - 1), back).ok());
  EXPECT_FALSE(serde.Deserialize(bytes + "x", back).ok());
  Q1Row q1{1, 2, 0.908 * 12345, 3, "extra"};
  RowSerde<Q1Row> s1;
  s1.Serialize(q1, bytes);
  Q1Row q1_back;
  ASSERT_TRUE(s1.Deserialize(bytes, q1_back).ok());
  EXPECT_EQ(q1_back, q1);
  EXPECT_EQ(RowText(Q2Row{7, 8}), "{7, 8}");
}

TEST(Udf, ChannelIdAgreesWithTheRegularExpression) {
  const std::regex re("(&|^)channel_id=([^&]*)");
  std::vector<std::string> urls = {"channel_id=5",  "a&channel_id=7&b=1", "xchannel_id=9",
                                   "xchannel_id=9&channel_id=10", "?channel_id=1", "&channel_id=",
                                   "no id here"};
  for (const Event& e : Generate(3000)) {
    if (e.bid()) urls.push_back(e.bid()->url);
  }
  for (const std::string& url : urls) {
    std::smatch m;
    std::optional<std::string> expected;
    if (std::regex_search(url, m, re)) expected = m[2].str();
    EXPECT_EQ(ChannelIdParameter(url), expected) << url;
  }
}

TEST(Udf, SplitIndexDayAndHour) {
  const std::string url = "https://www.nexmark.com/abc/de_f/ghi/item.htm?query=1";
  EXPECT_EQ(SplitIndex(url, '/', 0), "https:");
  EXPECT_EQ(SplitIndex(url, '/', 1), "");
  EXPECT_EQ(SplitIndex(url, '/', 3), "abc");
  EXPECT_EQ(SplitIndex(url, '/', 5), "ghi");
  EXPECT_EQ(SplitIndex(url, '/', 6), "item.htm?query=1");
  EXPECT_EQ(SplitIndex(url, '/', 7), std::nullopt);
  EXPECT_EQ(DayOf(1436918400000), "2015-07-15");
  EXPECT_EQ(DayOf(1436918400000 - 1), "2015-07-14");
  EXPECT_EQ(DayOf(951782400000), "2000-02-29");
  EXPECT_EQ(HourOfDay(1436918400000 + 7 * 3600 * 1000 + 59), 7);
  EXPECT_EQ(BidTimeType(1436918400000 + 8 * 3600 * 1000), "dayTime");
  EXPECT_EQ(BidTimeType(1436918400000 + 7 * 3600 * 1000), "otherTime");
  EXPECT_EQ(BidTimeType(1436918400000 + 23 * 3600 * 1000), "nightTime");
  EXPECT_EQ(CountChar("accbc", 'c'), 3);
}

}  // namespace
}  // namespace sluice::nexmark
