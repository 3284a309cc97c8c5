// The Nexmark data model: persons, auctions and bids (Flink's Nexmark fields, which add a
// bid's channel and url to Beam's), and the event that carries one of them. Times are
// epoch milliseconds; prices are cents.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <variant>

namespace sluice::nexmark {

struct Person {
  int64_t id = 0;
  std::string name;
  std::string email_address;
  std::string credit_card;
  std::string city;
  std::string state;
  int64_t date_time = 0;
  std::string extra;
  auto Fields() { return std::tie(id, name, email_address, credit_card, city, state, date_time, extra); }
  friend bool operator==(const Person&, const Person&) = default;
};

struct Auction {
  int64_t id = 0;
  std::string item_name;
  std::string description;
  int64_t initial_bid = 0;
  int64_t reserve = 0;
  int64_t date_time = 0;
  int64_t expires = 0;
  int64_t seller = 0;  // a Person id
  int64_t category = 0;
  std::string extra;
  auto Fields() {
    return std::tie(id, item_name, description, initial_bid, reserve, date_time, expires, seller,
                    category, extra);
  }
  friend bool operator==(const Auction&, const Auction&) = default;
};

struct Bid {
  int64_t auction = 0;  // an Auction id
  int64_t bidder = 0;   // a Person id
  int64_t price = 0;
  std::string channel;
  std::string url;
  int64_t date_time = 0;
  std::string extra;
  auto Fields() { return std::tie(auction, bidder, price, channel, url, date_time, extra); }
  friend bool operator==(const Bid&, const Bid&) = default;
};

// One generated event. Its Kafka key is the entity's auction or person id (a bid's is its
// auction), so an auction and the bids on it share a partition, in generation order.
struct Event {
  std::variant<Person, Auction, Bid> payload;

  const Person* person() const { return std::get_if<Person>(&payload); }
  const Auction* auction() const { return std::get_if<Auction>(&payload); }
  const Bid* bid() const { return std::get_if<Bid>(&payload); }
  int64_t date_time() const {
    return std::visit([](const auto& p) { return p.date_time; }, payload);
  }
  int64_t key() const {
    if (const Bid* b = bid()) return b->auction;
    if (const Auction* a = auction()) return a->id;
    return person()->id;
  }
  friend bool operator==(const Event&, const Event&) = default;
};

}  // namespace sluice::nexmark
