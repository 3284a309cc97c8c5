// The order events read-model-builder consumes: an envelope
//   {"eventId": "...", "eventType": "...", "version": 1, "timestamp": <epoch ms>, "data": {...}}
// keyed by orderId. ParseOrderEvent checks everything that can be checked from the value
// alone; OrderEventSerde makes a value that fails those checks a deserialization error,
// which the App sends to the dead-letter queue.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace read_model {

enum class EventType { kOrderPlaced, kPaymentReceived, kItemsPacked, kOrderShipped, kOrderCancelled };

std::string_view Name(EventType type);

// Money in cents, so that sums are exact whatever order events arrive in.
using Cents = int64_t;
// 12.34 -> 1234; an error names `field` when the JSON is not a number with at most two
// decimals.
absl::StatusOr<Cents> ParseCents(const nlohmann::json& value, std::string_view field);
// A JSON number: whole amounts as integers, others with their decimals.
nlohmann::ordered_json CentsToJson(Cents cents);

struct Item {
  std::string product_id;
  int64_t quantity = 0;
  Cents price = 0;
  friend bool operator==(const Item&, const Item&) = default;
};

struct OrderEvent {
  std::string event_id;
  EventType type = EventType::kOrderPlaced;
  int version = 1;
  int64_t timestamp = 0;
  std::string order_id;
  // OrderPlaced (v1: totalAmount and currency; v2: total {amount, currency}).
  std::string customer_id;
  std::vector<Item> items;
  Cents total = 0;
  std::string currency;
  // PaymentReceived
  std::string payment_id;
  Cents amount = 0;
  // ItemsPacked
  std::string warehouse_id;
  // OrderShipped
  std::string carrier;
  std::string tracking_id;
  // OrderCancelled
  std::string reason;
  // The record's bytes as they came, for the serde's round trip.
  std::string raw;
};

// The event in `bytes`, or an InvalidArgument error that says what is wrong: not JSON,
// a missing eventId/eventType/data.orderId, an unknown eventType or version, or a field
// its type needs.
absl::StatusOr<OrderEvent> ParseOrderEvent(std::string_view bytes);

// Serde over ParseOrderEvent; Serialize writes the bytes the event was parsed from.
struct OrderEventSerde {
  using Type = OrderEvent;
  static constexpr std::string_view kName = "OrderEventSerde";
  void Serialize(const OrderEvent& event, std::string& out) const { out = event.raw; }
  absl::Status Deserialize(std::string_view bytes, OrderEvent& event) const;
};

}  // namespace read_model
