#include "examples/read_model_builder/read_model.h"

#include <algorithm>
#include <utility>

namespace read_model {

using nlohmann::json;

namespace {

json Optional(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

void ToJson(json& j, const Stamp& s) { j = {{"t", s.timestamp}, {"id", s.event_id}}; }
void FromJson(const json& j, Stamp& s) {
  j.at("t").get_to(s.timestamp);
  j.at("id").get_to(s.event_id);
}

nlohmann::ordered_json ItemsJson(const std::vector<Item>& items) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Item& i : items) {
    out.push_back({{"productId", i.product_id}, {"quantity", i.quantity}, {"price", CentsToJson(i.price)}});
  }
  return out;
}

}  // namespace

bool OrderState::Apply(const OrderEvent& e) {
  auto at = std::lower_bound(applied.begin(), applied.end(), e.event_id);
  if (at != applied.end() && *at == e.event_id) return false;
  applied.insert(at, e.event_id);
  order_id = e.order_id;
  const Stamp stamp{e.timestamp, e.event_id};
  switch (e.type) {
    case EventType::kOrderPlaced:
      if (!placed || stamp.Before(placed->stamp)) {
        placed = Placed{stamp, e.customer_id, e.items, e.total, e.currency};
      }
      break;
    case EventType::kPaymentReceived:
      paid_at = paid_at ? std::min(*paid_at, e.timestamp) : e.timestamp;
      paid_amount += e.amount;
      break;
    case EventType::kItemsPacked:
      packed_at = packed_at ? std::min(*packed_at, e.timestamp) : e.timestamp;
      break;
    case EventType::kOrderShipped:
      if (!shipped || stamp.Before(shipped->stamp)) shipped = Shipped{stamp, e.carrier, e.tracking_id};
      break;
    case EventType::kOrderCancelled:
      if (!cancelled || stamp.Before(cancelled->stamp)) cancelled = Cancelled{stamp, e.reason};
      break;
  }
  return true;
}

std::string OrderState::Status() const {
  if (cancelled && !shipped) return "CANCELLED";
  if (shipped) return "SHIPPED";
  if (packed_at) return "PACKED";
  if (paid_at) return "PAID";
  return "PLACED";
}

void to_json(json& j, const OrderState& s) {
  j = {{"orderId", s.order_id}, {"applied", s.applied}, {"paidAt", Optional(s.paid_at)},
       {"paidCents", s.paid_amount}, {"packedAt", Optional(s.packed_at)}};
  if (s.placed) {
    json items = json::array();
    for (const Item& i : s.placed->items) items.push_back({i.product_id, i.quantity, i.price});
    json stamp;
    ToJson(stamp, s.placed->stamp);
    j["placed"] = {{"stamp", stamp}, {"customerId", s.placed->customer_id}, {"items", items},
                   {"totalCents", s.placed->total}, {"currency", s.placed->currency}};
  }
  if (s.shipped) {
    json stamp;
    ToJson(stamp, s.shipped->stamp);
    j["shipped"] = {{"stamp", stamp}, {"carrier", s.shipped->carrier},
                    {"trackingId", s.shipped->tracking_id}};
  }
  if (s.cancelled) {
    json stamp;
    ToJson(stamp, s.cancelled->stamp);
    j["cancelled"] = {{"stamp", stamp}, {"reason", s.cancelled->reason}};
  }
}

void from_json(const json& j, OrderState& s) {
  s = OrderState{};
  j.at("orderId").get_to(s.order_id);
  j.at("applied").get_to(s.applied);
  if (!j.at("paidAt").is_null()) s.paid_at = j.at("paidAt").get<int64_t>();
  j.at("paidCents").get_to(s.paid_amount);
  if (!j.at("packedAt").is_null()) s.packed_at = j.at("packedAt").get<int64_t>();
  if (auto p = j.find("placed"); p != j.end()) {
    Placed placed;
    FromJson(p->at("stamp"), placed.stamp);
    p->at("customerId").get_to(placed.customer_id);
    for (const json& i : p->at("items")) {
      placed.items.push_back(Item{i.at(0).get<std::string>(), i.at(1).get<int64_t>(), i.at(2).get<Cents>()});
    }
    p->at("totalCents").get_to(placed.total);
    p->at("currency").get_to(placed.currency);
    s.placed = std::move(placed);
  }
  if (auto p = j.find("shipped"); p != j.end()) {
    Shipped shipped;
    FromJson(p->at("stamp"), shipped.stamp);
    p->at("carrier").get_to(shipped.carrier);
    p->at("trackingId").get_to(shipped.tracking_id);
    s.shipped = std::move(shipped);
  }
  if (auto p = j.find("cancelled"); p != j.end()) {
    Cancelled cancelled;
    FromJson(p->at("stamp"), cancelled.stamp);
    p->at("reason").get_to(cancelled.reason);
    s.cancelled = std::move(cancelled);
  }
}

nlohmann::ordered_json OrderSummary(const OrderState& s) {
  using json = nlohmann::ordered_json;
  return {
      {"orderId", s.order_id},
      {"customerId", s.placed ? json(s.placed->customer_id) : json(nullptr)},
      {"status", s.Status()},
      {"items", s.placed ? ItemsJson(s.placed->items) : json(nullptr)},
      {"totalAmount", s.placed ? CentsToJson(s.placed->total) : json(nullptr)},
      {"currency", s.placed ? json(s.placed->currency) : json(nullptr)},
      {"placedAt", s.placed ? json(s.placed->stamp.timestamp) : json(nullptr)},
      {"paidAt", s.paid_at ? json(*s.paid_at) : json(nullptr)},
      {"packedAt", s.packed_at ? json(*s.packed_at) : json(nullptr)},
      {"shippedAt", s.shipped ? json(s.shipped->stamp.timestamp) : json(nullptr)},
      {"cancelledAt", s.cancelled ? json(s.cancelled->stamp.timestamp) : json(nullptr)},
      {"carrier", s.shipped ? json(s.shipped->carrier) : json(nullptr)},
      {"trackingId", s.shipped ? json(s.shipped->tracking_id) : json(nullptr)},
      {"cancelReason", s.cancelled ? json(s.cancelled->reason) : json(nullptr)},
      {"paidAmount", CentsToJson(s.paid_amount)},
      {"eventsApplied", s.events_applied()},
  };
}

void to_json(json& j, const OrderContribution& c) {
  j = {{"orderId", c.order_id}, {"version", c.version}, {"placedAt", c.placed_at},
       {"totalCents", c.total}, {"cancelled", c.cancelled}};
}
void from_json(const json& j, OrderContribution& c) {
  j.at("orderId").get_to(c.order_id);
  j.at("version").get_to(c.version);
  j.at("placedAt").get_to(c.placed_at);
  j.at("totalCents").get_to(c.total);
  j.at("cancelled").get_to(c.cancelled);
}

std::optional<OrderContribution> ContributionOf(const OrderState& s) {
  if (!s.placed) return std::nullopt;
  return OrderContribution{s.order_id, s.events_applied(), s.placed->stamp.timestamp,
                           s.placed->total, s.Status() == "CANCELLED"};
}

void CustomerState::Add(const OrderContribution& c) {
  auto it = orders.find(c.order_id);
  if (it == orders.end()) {
    orders.emplace(c.order_id, c);
  } else if (it->second.version <= c.version) {
    it->second = c;
  }
}

void CustomerState::Subtract(const OrderContribution& c) {
  auto it = orders.find(c.order_id);
  if (it != orders.end() && it->second.version == c.version) orders.erase(it);
}

void to_json(json& j, const CustomerState& s) {
  j = json::array();
  for (const auto& [id, c] : s.orders) j.push_back(c);
}
void from_json(const json& j, CustomerState& s) {
  s.orders.clear();
  for (const json& c : j) {
    OrderContribution contribution = c.get<OrderContribution>();
    s.orders.emplace(contribution.order_id, std::move(contribution));
  }
}

nlohmann::ordered_json CustomerSummary(const std::string& customer_id, const CustomerState& s) {
  int64_t active = 0;
  Cents spent = 0;
  std::optional<int64_t> last;
  for (const auto& [id, c] : s.orders) {
    if (!c.cancelled) {
      ++active;
      spent += c.total;
    }
    last = last ? std::max(*last, c.placed_at) : c.placed_at;
  }
  return {{"customerId", customer_id},
          {"orders", static_cast<int64_t>(s.orders.size())},
          {"activeOrders", active},
          {"totalSpent", CentsToJson(spent)},
          {"lastOrderAt", last ? nlohmann::ordered_json(*last) : nlohmann::ordered_json(nullptr)}};
}

}  // namespace read_model
