#include "examples/read_model_builder/events.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>


namespace read_model {

using nlohmann::json;

namespace {

constexpr std::pair<EventType, std::string_view> kTypes[] = {
    {EventType::kOrderPlaced, "OrderPlaced"},
    {EventType::kPaymentReceived, "PaymentReceived"},
    {EventType::kItemsPacked, "ItemsPacked"},
    {EventType::kOrderShipped, "OrderShipped"},
    {EventType::kOrderCancelled, "OrderCancelled"},
};

// Concatenates strings and integers, for error messages.
template <class... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  auto add = [&out](const auto& part) {
    if constexpr (std::is_integral_v<std::decay_t<decltype(part)>>) {
      out += std::to_string(part);
    } else {
      out += std::string_view(part);
    }
  };
  (add(parts), ...);
  return out;
}

absl::Status Bad(const std::string& what) { return absl::InvalidArgumentError(what); }

// The string member `name` of `object` (`where` names the object in errors).
absl::StatusOr<std::string> String(const json& object, std::string_view name, std::string_view where) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return Bad(Cat("missing ", where, name));
  if (!it->is_string()) return Bad(Cat(where, name, " is not a string"));
  std::string value = it->get<std::string>();
  if (value.empty()) return Bad(Cat(where, name, " is empty"));
  return value;
}

absl::StatusOr<int64_t> Integer(const json& object, std::string_view name, std::string_view where) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return Bad(Cat("missing ", where, name));
  if (!it->is_number_integer()) return Bad(Cat(where, name, " is not an integer"));
  return it->get<int64_t>();
}

absl::StatusOr<Cents> Money(const json& object, std::string_view name, std::string_view where) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return Bad(Cat("missing ", where, name));
  return ParseCents(*it, Cat(where, name));
}

#define RM_ASSIGN(lhs, expr)              \
  do {                                    \
    auto _value = (expr);                 \
    if (!_value.ok()) return _value.status(); \
    lhs = std::move(*_value);             \
  } while (false)

absl::Status ParseOrderPlaced(const json& data, int version, OrderEvent& e) {
  RM_ASSIGN(e.customer_id, String(data, "customerId", "data."));
  auto items = data.find("items");
  if (items == data.end() || !items->is_array() || items->empty()) {
    return Bad("data.items must be a non-empty array");
  }
  for (const json& item : *items) {
    if (!item.is_object()) return Bad("data.items holds a value that is not an object");
    Item i;
    RM_ASSIGN(i.product_id, String(item, "productId", "data.items[]."));
    RM_ASSIGN(i.quantity, Integer(item, "quantity", "data.items[]."));
    RM_ASSIGN(i.price, Money(item, "price", "data.items[]."));
    if (i.quantity <= 0) return Bad("data.items[].quantity must be positive");
    e.items.push_back(std::move(i));
  }
  if (version == 1) {
    RM_ASSIGN(e.total, Money(data, "totalAmount", "data."));
    RM_ASSIGN(e.currency, String(data, "currency", "data."));
  } else {
    auto total = data.find("total");
    if (total == data.end() || !total->is_object()) return Bad("missing data.total (OrderPlaced v2)");
    RM_ASSIGN(e.total, Money(*total, "amount", "data.total."));
    RM_ASSIGN(e.currency, String(*total, "currency", "data.total."));
  }
  return absl::OkStatus();
}

absl::Status ParseData(const json& data, OrderEvent& e) {
  switch (e.type) {
    case EventType::kOrderPlaced:
      return ParseOrderPlaced(data, e.version, e);
    case EventType::kPaymentReceived:
      RM_ASSIGN(e.payment_id, String(data, "paymentId", "data."));
      RM_ASSIGN(e.amount, Money(data, "amount", "data."));
      return absl::OkStatus();
    case EventType::kItemsPacked:
      RM_ASSIGN(e.warehouse_id, String(data, "warehouseId", "data."));
      return absl::OkStatus();
    case EventType::kOrderShipped:
      RM_ASSIGN(e.carrier, String(data, "carrier", "data."));
      RM_ASSIGN(e.tracking_id, String(data, "trackingId", "data."));
      return absl::OkStatus();
    case EventType::kOrderCancelled:
      RM_ASSIGN(e.reason, String(data, "reason", "data."));
      return absl::OkStatus();
  }
  return Bad("unreachable event type");
}

}  // namespace

std::string_view Name(EventType type) {
  for (const auto& [t, name] : kTypes) {
    if (t == type) return name;
  }
  return "?";
}

absl::StatusOr<Cents> ParseCents(const json& value, std::string_view field) {
  if (value.is_number_integer()) return value.get<int64_t>() * 100;
  if (!value.is_number_float()) return Bad(Cat(field, " is not a number"));
  const double cents = value.get<double>() * 100;
  const double rounded = std::round(cents);
  if (!std::isfinite(cents) || std::fabs(cents - rounded) > 1e-6 * std::max(1.0, std::fabs(cents))) {
    return Bad(Cat(field, " has more than two decimals"));
  }
  return static_cast<Cents>(rounded);
}

nlohmann::ordered_json CentsToJson(Cents cents) {
  if (cents % 100 == 0) return cents / 100;
  return static_cast<double>(cents) / 100;
}

absl::StatusOr<OrderEvent> ParseOrderEvent(std::string_view bytes) {
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad("not JSON");
  if (!doc.is_object()) return Bad("not a JSON object");
  OrderEvent e;
  RM_ASSIGN(e.event_id, String(doc, "eventId", ""));
  std::string type;
  RM_ASSIGN(type, String(doc, "eventType", ""));
  bool known = false;
  for (const auto& [t, name] : kTypes) {
    if (name == type) {
      e.type = t;
      known = true;
    }
  }
  if (!known) return Bad(Cat("unknown eventType '", type, "'"));
  int64_t version = 0;
  RM_ASSIGN(version, Integer(doc, "version", ""));
  const int64_t newest = e.type == EventType::kOrderPlaced ? 2 : 1;
  if (version < 1 || version > newest) {
    return Bad(Cat("unknown version ", version, " of ", type, " (known: 1",
                            newest == 2 ? ", 2" : "", ")"));
  }
  e.version = static_cast<int>(version);
  RM_ASSIGN(e.timestamp, Integer(doc, "timestamp", ""));
  auto data = doc.find("data");
  if (data == doc.end() || !data->is_object()) return Bad("missing data");
  RM_ASSIGN(e.order_id, String(*data, "orderId", "data."));
  if (absl::Status s = ParseData(*data, e); !s.ok()) return s;
  e.raw.assign(bytes.data(), bytes.size());
  return e;
}

#undef RM_ASSIGN

absl::Status OrderEventSerde::Deserialize(std::string_view bytes, OrderEvent& event) const {
  if (bytes.data() == nullptr) return Bad("a null value (a tombstone) is not an event");
  absl::StatusOr<OrderEvent> parsed = ParseOrderEvent(bytes);
  if (!parsed.ok()) return parsed.status();
  event = std::move(*parsed);
  return absl::OkStatus();
}

}  // namespace read_model
