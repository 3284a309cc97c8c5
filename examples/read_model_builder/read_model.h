// The two read models, as pure functions of the distinct events applied (whatever order
// they arrive in, however often each is delivered):
//   - OrderState: one order, folded from its events (the `order-state` store); its row
//     in `order-summary` and GET /orders/{id} is OrderSummary().
//   - CustomerState: one customer, from the orders that name it (the `customer-state`
//     store), kept per order so that an order's update replaces its contribution;
//     its row in `customer-summary` and GET /customers/{id} is CustomerSummary().
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "examples/read_model_builder/events.h"

namespace read_model {

// Among several events of one stage, the one with the smallest (timestamp, eventId)
// supplies the stage's fields, so the result does not depend on arrival order.
struct Stamp {
  int64_t timestamp = 0;
  std::string event_id;
  bool Before(const Stamp& other) const {
    return timestamp != other.timestamp ? timestamp < other.timestamp : event_id < other.event_id;
  }
};

struct Placed {
  Stamp stamp;
  std::string customer_id;
  std::vector<Item> items;
  Cents total = 0;
  std::string currency;
};
struct Shipped {
  Stamp stamp;
  std::string carrier;
  std::string tracking_id;
};
struct Cancelled {
  Stamp stamp;
  std::string reason;
};

struct OrderState {
  std::string order_id;
  std::vector<std::string> applied;  // the eventIds applied, sorted
  std::optional<Placed> placed;
  std::optional<int64_t> paid_at;
  Cents paid_amount = 0;
  std::optional<int64_t> packed_at;
  std::optional<Shipped> shipped;
  std::optional<Cancelled> cancelled;

  // Applies `event` unless an event with its eventId was applied; false if it was.
  bool Apply(const OrderEvent& event);
  // CANCELLED with a cancellation and no shipment; otherwise the furthest stage reached:
  // PLACED < PAID < PACKED < SHIPPED.
  std::string Status() const;
  int64_t events_applied() const { return static_cast<int64_t>(applied.size()); }
};

void to_json(nlohmann::json& j, const OrderState& s);
void from_json(const nlohmann::json& j, OrderState& s);

// The `order-summary` row: orderId, customerId, status, items, totalAmount, currency,
// placedAt, paidAt, packedAt, shippedAt, cancelledAt, carrier, trackingId, cancelReason,
// paidAmount, eventsApplied (null where not known yet).
nlohmann::ordered_json OrderSummary(const OrderState& s);

// What one order adds to its customer's summary. `version` (the order's eventsApplied)
// only grows, so a stale copy of an update (a repartition topic replayed after a crash)
// cannot replace a newer one.
struct OrderContribution {
  std::string order_id;
  int64_t version = 0;
  int64_t placed_at = 0;
  Cents total = 0;
  bool cancelled = false;
  friend bool operator==(const OrderContribution&, const OrderContribution&) = default;
};
void to_json(nlohmann::json& j, const OrderContribution& c);
void from_json(const nlohmann::json& j, OrderContribution& c);

// The contribution of an order whose OrderPlaced is known (nullopt otherwise).
std::optional<OrderContribution> ContributionOf(const OrderState& s);

struct CustomerState {
  std::map<std::string, OrderContribution> orders;  // by orderId

  // KGroupedTable adder and subtractor: an order's new contribution replaces an older
  // one; its old one is removed only if it is still the one held.
  void Add(const OrderContribution& c);
  void Subtract(const OrderContribution& c);
};
void to_json(nlohmann::json& j, const CustomerState& s);
void from_json(const nlohmann::json& j, CustomerState& s);

// The `customer-summary` row: customerId, orders (placed), activeOrders (not
// cancelled), totalSpent (totalAmount over orders not cancelled), lastOrderAt (latest
// placedAt).
nlohmann::ordered_json CustomerSummary(const std::string& customer_id, const CustomerState& s);

}  // namespace read_model
