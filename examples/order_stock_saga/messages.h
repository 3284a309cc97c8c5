// The messages of order-stock-saga, all in one JSON envelope
//   {"eventId": "...", "eventType": "...", "version": 1, "timestamp": <epoch ms>, "data": {...}}
// Inputs (validated; a bad one is a deserialization error, sent to the dead-letter topic):
//   order-events     key orderId    OrderPlaced {orderId, customerId, items[{productId,
//                                   quantity, price}], ...} (v1 or v2), OrderCancelled
//                                   {orderId, reason}
//   inventory-events key productId  StockAdded {productId, quantity}
//   payment-events   key orderId    PaymentCompleted {orderId, amount},
//                                   PaymentFailed {orderId, reason}
// Internal (written by the saga itself, so trusted): ReserveItem, ReleaseItem,
// ConfirmItem {orderId, productId, quantity} keyed by productId; ItemReserved,
// ItemRejected {orderId, productId, quantity} keyed by orderId.
// Outputs on stock-events (key orderId): StockReserved, StockReservationFailed,
// StockReleased, OrderConfirmed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace saga {

struct Message {
  std::string event_id;
  std::string type;
  int version = 1;
  int64_t timestamp = 0;
  nlohmann::json data;

  std::string Json() const;
  // The id the message is about: data.orderId, or data.productId for StockAdded and the
  // item commands (which are keyed by product).
  std::string OrderId() const { return data.value("orderId", ""); }
  std::string ProductId() const { return data.value("productId", ""); }
};

// Parses and checks a message: the envelope, a known eventType and version, and the
// fields its type needs (named in the error).
absl::StatusOr<Message> ParseMessage(std::string_view bytes);

struct MessageSerde {
  using Type = Message;
  static constexpr std::string_view kName = "saga::MessageSerde";
  void Serialize(const Message& m, std::string& out) const { out = m.Json(); }
  absl::Status Deserialize(std::string_view bytes, Message& m) const;
};

}  // namespace saga
