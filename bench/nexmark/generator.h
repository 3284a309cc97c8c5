// The Nexmark event generator, following Apache Beam's (sdks/java/testing/nexmark,
// sources/generator): persons, auctions and bids in the proportions 1 : 3 : 46 by event
// id; hot auctions, hot bidders and hot sellers; log-uniform prices; auctions that expire
// about a hundred auctions later; padding ("extra") to the configured average sizes; event
// time advancing a fixed delay per event.
//
// Deterministic: every event draws its fields from a java.util.Random seeded with its event
// id (XOR a scrambled `seed`), as Beam does, so seed 0 reproduces Beam's persons and
// auctions and the auction, bidder and price of its bids. Bids also get Flink Nexmark's
// `channel` and `url` (drawn after the price, as Flink does, so a bid's `extra` differs
// from Beam's): half from four hot channels, half from 10,000 channels whose urls carry a
// `channel_id` nine times in ten. Flink builds that table from an unseeded random; ours
// comes from `seed`. Flink's bidder ids are offset by 2000 (it adds the first person id
// twice); ours by 1000, as Beam's and as the sellers'.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/nexmark/java_random.h"
#include "bench/nexmark/model.h"

namespace sluice::nexmark {

struct GeneratorConfig {
  uint64_t seed = 0;
  // Event time of event number 0: 2015-07-15T00:00:00Z, Beam's BASE_TIME.
  int64_t base_time_ms = 1436918400000;
  // Event time per event; 100 us is Beam's default rate of 10,000 events/s.
  int64_t inter_event_delay_us = 100;
  int64_t first_event_id = 0;
  int64_t first_event_number = 0;
  int64_t max_events = 100000;
  int avg_person_bytes = 200;
  int avg_auction_bytes = 500;
  int avg_bid_bytes = 100;
  // P(hot auction) = 1 - 1/hot_auction_ratio, and likewise for sellers and bidders.
  int hot_auction_ratio = 2;
  int hot_sellers_ratio = 4;
  int hot_bidders_ratio = 4;
  int num_in_flight_auctions = 100;
  int num_active_people = 1000;

  // The event time of event number `n`.
  int64_t Timestamp(int64_t n) const { return base_time_ms + n * inter_event_delay_us / 1000; }
};

class Generator {
 public:
  static constexpr int64_t kFirstPersonId = 1000;
  static constexpr int64_t kFirstAuctionId = 1000;
  static constexpr int64_t kFirstCategoryId = 10;
  static constexpr int64_t kPersonProportion = 1;
  static constexpr int64_t kAuctionProportion = 3;
  static constexpr int64_t kBidProportion = 46;
  static constexpr int64_t kProportionDenominator =
      kPersonProportion + kAuctionProportion + kBidProportion;
  static constexpr int kNumCategories = 5;
  static constexpr int kChannels = 10000;
  static constexpr std::array<const char*, 4> kHotChannels = {"Google", "Facebook", "Baidu", "Apple"};

  explicit Generator(GeneratorConfig config);

  bool HasNext() const { return count_ < config_.max_events; }
  // The next event; call only while HasNext().
  Event Next();
  int64_t events_so_far() const { return count_; }
  const GeneratorConfig& config() const { return config_; }

  // The id of the last person (auction) that exists when event `event_id` is generated,
  // base 0 (Beam's lastBase0PersonId / lastBase0AuctionId).
  static int64_t LastBase0PersonId(int64_t event_id);
  static int64_t LastBase0AuctionId(int64_t event_id);

 private:
  Person NextPerson(int64_t event_id, JavaRandom& r, int64_t t) const;
  Auction NextAuction(int64_t event_number, int64_t event_id, JavaRandom& r, int64_t t) const;
  Bid NextBid(int64_t event_id, JavaRandom& r, int64_t t) const;
  int64_t NextBase0PersonId(int64_t event_id, JavaRandom& r) const;
  int64_t NextBase0AuctionId(int64_t event_id, JavaRandom& r) const;

  GeneratorConfig config_;
  int64_t count_ = 0;
  // (channel, url) of the cold channels, and the urls of the hot ones.
  std::vector<std::pair<std::string, std::string>> channels_;
  std::array<std::string, kHotChannels.size()> hot_urls_;
};

}  // namespace sluice::nexmark
