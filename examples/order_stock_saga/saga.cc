#include "examples/order_stock_saga/saga.h"

#include <utility>

namespace saga {

using nlohmann::json;

namespace {

Message Make(std::string event_id, const char* type, int64_t now, json data) {
  Message m;
  m.event_id = std::move(event_id);
  m.type = type;
  m.timestamp = now;
  m.data = std::move(data);
  return m;
}

}  // namespace

// ---- Order side

void OrderSaga::Handle(const Message& m, std::vector<Out>* outs) {
  const int64_t now = m.timestamp;
  if (!seen.insert(m.event_id).second) {
    SendState(now, outs);  // a message seen before: send again what the state implies
    return;
  }
  order_id = m.OrderId();
  const std::string before = status;
  if (m.type == "OrderPlaced") {
    if (!status.empty()) return;  // another OrderPlaced for the order: the first one counts
    for (const json& item : m.data["items"]) items[item["productId"]] += item["quantity"].get<int64_t>();
    status = "PENDING";
    SendAll("ReserveItem", now, outs);
  } else if (m.type == "ItemReserved" || m.type == "ItemRejected") {
    const std::string product = m.ProductId();
    if (status != "PENDING" || results.count(product) || !items.count(product)) return;
    results[product] = m.type == "ItemReserved";
    if (results.size() == items.size()) Decide(now, outs);
  } else if (m.type == "PaymentCompleted" || m.type == "PaymentFailed") {
    if (!payment.empty()) return;  // the first payment outcome counts
    payment = m.type == "PaymentCompleted" ? "COMPLETED" : "FAILED";
    if (m.type == "PaymentFailed") payment_reason = m.data["reason"];
    Settle(now, outs);
  } else if (m.type == "OrderCancelled") {
    if (cancelled) return;
    cancelled = true;
    cancel_reason = m.data["reason"];
    Settle(now, outs);
  }
  if (status != before) outs->push_back({Dest::kOrderStatus, {}, StatusRow().dump()});
}

// Every product answered.
void OrderSaga::Decide(int64_t now, std::vector<Out>* outs) {
  std::vector<std::string> rejected;
  for (const auto& [product, ok] : results) {
    if (!ok) rejected.push_back(product);
  }
  if (!rejected.empty()) {
    status = "REJECTED";
    reason = "out of stock: ";
    for (size_t i = 0; i < rejected.size(); ++i) reason += (i ? ", " : "") + rejected[i];
    Event("StockReservationFailed", now, {{"orderId", order_id}, {"reason", reason}}, outs);
    SendAll("ReleaseItem", now, outs);  // gives back what the other products reserved
    return;
  }
  status = "RESERVED";
  Event("StockReserved", now, {{"orderId", order_id}}, outs);
  Settle(now, outs);
}

// Once reserved: a cancellation or a failed payment releases, a completed payment confirms.
void OrderSaga::Settle(int64_t now, std::vector<Out>* outs) {
  if (status != "RESERVED") return;
  if (cancelled || payment == "FAILED") {
    status = "RELEASED";
    reason = cancelled ? "cancelled: " + cancel_reason : "payment failed: " + payment_reason;
    SendAll("ReleaseItem", now, outs);
    Event("StockReleased", now, {{"orderId", order_id}, {"reason", reason}}, outs);
  } else if (payment == "COMPLETED") {
    status = "CONFIRMED";
    SendAll("ConfirmItem", now, outs);
    Event("OrderConfirmed", now, {{"orderId", order_id}}, outs);
  }
}

void OrderSaga::SendAll(const char* command, int64_t now, std::vector<Out>* outs,
                        bool unanswered_only) const {
  for (const auto& [product, quantity] : items) {
    if (unanswered_only && results.count(product)) continue;
    // Deterministic ids: a command sent again is recognizably the same command.
    outs->push_back({Dest::kProducts,
                     Make(order_id + ":" + command + ":" + product, command, now,
                          {{"orderId", order_id}, {"productId", product}, {"quantity", quantity}}),
                     {}});
  }
}

void OrderSaga::Event(const char* type, int64_t now, json data, std::vector<Out>* outs) const {
  outs->push_back({Dest::kStockEvents, Make(order_id + ":" + type, type, now, std::move(data)), {}});
}

void OrderSaga::SendState(int64_t now, std::vector<Out>* outs) const {
  if (status.empty()) return;
  if (status == "PENDING") {
    SendAll("ReserveItem", now, outs, /*unanswered_only=*/true);
  } else if (status == "RESERVED") {
    Event("StockReserved", now, {{"orderId", order_id}}, outs);
  } else if (status == "REJECTED") {
    Event("StockReservationFailed", now, {{"orderId", order_id}, {"reason", reason}}, outs);
    SendAll("ReleaseItem", now, outs);
  } else if (status == "CONFIRMED") {
    SendAll("ConfirmItem", now, outs);
    Event("OrderConfirmed", now, {{"orderId", order_id}}, outs);
  } else if (status == "RELEASED") {
    SendAll("ReleaseItem", now, outs);
    Event("StockReleased", now, {{"orderId", order_id}, {"reason", reason}}, outs);
  }
  outs->push_back({Dest::kOrderStatus, {}, StatusRow().dump()});
}

json OrderSaga::StatusRow() const {
  return {{"orderId", order_id}, {"status", status}, {"reason", reason.empty() ? json(nullptr) : json(reason)}};
}

// ---- Product side

void Product::Handle(const Message& m, std::optional<Reservation>* reservation,
                     std::vector<Out>* outs) {
  const int64_t now = m.timestamp;
  product_id = m.ProductId();
  bool changed = false;
  if (m.type == "StockAdded") {
    if (!stock_added.insert(m.event_id).second) return;
    const int64_t q = m.data["quantity"];
    available += q;
    added += q;
    changed = true;
  } else {
    const std::string order = m.OrderId();
    const int64_t q = m.data["quantity"];
    std::optional<Reservation>& r = *reservation;
    if (m.type == "ReserveItem") {
      if (!r) {
        r = Reservation{q, available >= q ? "RESERVED" : "REJECTED"};
        if (r->state == "RESERVED") {
          available -= q;
          reserved += q;
          changed = true;
        }
      }
      Result(order, *r, now, outs);  // asked again: answered again
    } else if (m.type == "ReleaseItem") {
      if (!r) {
        r = Reservation{q, "RELEASED"};  // a later ReserveItem is refused
      } else if (r->state == "RESERVED") {
        available += r->quantity;
        reserved -= r->quantity;
        r->state = "RELEASED";
        changed = true;
      }
    } else if (m.type == "ConfirmItem") {
      if (r && r->state == "RESERVED") {
        reserved -= r->quantity;
        confirmed += r->quantity;
        r->state = "CONFIRMED";
        changed = true;
      }
    }
  }
  if (changed) outs->push_back({Dest::kInventory, {}, InventoryRow().dump()});
}

void Product::Result(const std::string& order, const Reservation& r, int64_t now,
                     std::vector<Out>* outs) const {
  if (r.state == "RELEASED") return;  // settled; the order side no longer waits for it
  const char* type = r.state == "REJECTED" ? "ItemRejected" : "ItemReserved";
  outs->push_back({Dest::kOrders,
                   Make(order + ":" + type + ":" + product_id, type, now,
                        {{"orderId", order}, {"productId", product_id}, {"quantity", r.quantity}}),
                   {}});
}

json Product::InventoryRow() const {
  return {{"productId", product_id}, {"available", available}, {"reserved", reserved},
          {"added", added}, {"confirmed", confirmed}};
}

}  // namespace saga
