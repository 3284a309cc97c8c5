// An independent computation of read-model-builder's read models: from the set of
// distinct valid events, in one pass, with plain nlohmann/json and none of the example's
// code. The tests compare what the builder wrote and serves with this.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "examples/read_model_builder/generator.h"

namespace read_model::reference {

using nlohmann::json;

struct Expected {
  std::map<std::string, json> orders;     // orderId -> order-summary row
  std::map<std::string, json> customers;  // customerId -> customer-summary row
  int64_t malformed = 0;                  // records the builder must dead-letter
};

inline int64_t Cents(const json& v) { return std::llround(v.get<double>() * 100); }
inline json Amount(int64_t cents) { return static_cast<double>(cents) / 100; }

// The builder's rules for a valid event, stated on their own.
inline bool Valid(const std::string& key, const json& e) {
  static const std::set<std::string> kTypes = {"OrderPlaced", "PaymentReceived", "ItemsPacked",
                                               "OrderShipped", "OrderCancelled"};
  if (!e.is_object() || !e.contains("eventId") || !e["eventId"].is_string()) return false;
  if (!e.contains("eventType") || !kTypes.count(e["eventType"].get<std::string>())) return false;
  const int64_t version = e.value("version", int64_t{0});
  if (version != 1 && !(version == 2 && e["eventType"] == "OrderPlaced")) return false;
  if (!e.contains("data") || !e["data"].contains("orderId")) return false;
  return e["data"]["orderId"] == key;
}

inline Expected Compute(const std::vector<GeneratedRecord>& records) {
  Expected out;
  std::map<std::string, std::map<std::string, json>> events;  // orderId -> eventId -> event
  for (const GeneratedRecord& r : records) {
    json e = json::parse(r.value, nullptr, false);
    if (e.is_discarded() || !Valid(r.key, e)) {
      ++out.malformed;
      continue;
    }
    events[r.key].emplace(e["eventId"].get<std::string>(), e);  // the first copy counts
  }
  struct Contribution {
    int64_t placed_at;
    int64_t total;
    bool cancelled;
  };
  std::map<std::string, std::vector<Contribution>> by_customer;
  for (const auto& [order, distinct] : events) {
    // The earliest (timestamp, eventId) event of each type carries that stage's fields.
    std::map<std::string, std::tuple<int64_t, std::string, const json*>> first;
    std::optional<int64_t> paid_at, packed_at;
    int64_t paid = 0;
    for (const auto& [id, e] : distinct) {
      const std::string type = e["eventType"];
      const int64_t t = e["timestamp"];
      auto key = std::make_tuple(t, id, &e);
      auto it = first.find(type);
      if (it == first.end() || std::tie(t, id) < std::tie(std::get<0>(it->second), std::get<1>(it->second))) {
        first[type] = key;
      }
      if (type == "PaymentReceived") paid += Cents(e["data"]["amount"]);
    }
    auto stage = [&](const char* type) -> const json* {
      auto it = first.find(type);
      return it == first.end() ? nullptr : std::get<2>(it->second);
    };
    const json* placed = stage("OrderPlaced");
    const json* shipped = stage("OrderShipped");
    const json* cancelled = stage("OrderCancelled");
    if (const json* p = stage("PaymentReceived")) paid_at = (*p)["timestamp"].get<int64_t>();
    if (const json* p = stage("ItemsPacked")) packed_at = (*p)["timestamp"].get<int64_t>();
    std::string status = "PLACED";
    if (cancelled && !shipped) {
      status = "CANCELLED";
    } else if (shipped) {
      status = "SHIPPED";
    } else if (packed_at) {
      status = "PACKED";
    } else if (paid_at) {
      status = "PAID";
    }
    json row = {{"orderId", order}, {"status", status}, {"paidAmount", Amount(paid)},
                {"eventsApplied", distinct.size()}};
    auto at = [](const json* e) { return e ? (*e)["timestamp"] : json(nullptr); };
    row["placedAt"] = at(placed);
    row["shippedAt"] = at(shipped);
    row["cancelledAt"] = at(cancelled);
    row["paidAt"] = paid_at ? json(*paid_at) : json(nullptr);
    row["packedAt"] = packed_at ? json(*packed_at) : json(nullptr);
    row["carrier"] = shipped ? (*shipped)["data"]["carrier"] : json(nullptr);
    row["trackingId"] = shipped ? (*shipped)["data"]["trackingId"] : json(nullptr);
    row["cancelReason"] = cancelled ? (*cancelled)["data"]["reason"] : json(nullptr);
    row["customerId"] = row["items"] = row["totalAmount"] = row["currency"] = nullptr;
    if (placed) {
      const json& d = (*placed)["data"];
      const bool v1 = (*placed)["version"] == 1;
      const int64_t total = Cents(v1 ? d["totalAmount"] : d["total"]["amount"]);
      row["customerId"] = d["customerId"];
      row["totalAmount"] = Amount(total);
      row["currency"] = v1 ? d["currency"] : d["total"]["currency"];
      json items = json::array();
      for (const json& i : d["items"]) {
        items.push_back({{"productId", i["productId"]}, {"quantity", i["quantity"]},
                         {"price", Amount(Cents(i["price"]))}});
      }
      row["items"] = items;
      by_customer[d["customerId"].get<std::string>()].push_back(
          {(*placed)["timestamp"].get<int64_t>(), total, status == "CANCELLED"});
    }
    out.orders[order] = row;
  }
  for (const auto& [customer, orders] : by_customer) {
    int64_t active = 0, spent = 0, last = orders.front().placed_at;
    for (const Contribution& c : orders) {
      if (!c.cancelled) {
        ++active;
        spent += c.total;
      }
      last = std::max(last, c.placed_at);
    }
    out.customers[customer] = {{"customerId", customer}, {"orders", orders.size()},
                               {"activeOrders", active}, {"totalSpent", Amount(spent)},
                               {"lastOrderAt", last}};
  }
  return out;
}

// The last value per key of a compacted topic's records, parsed.
template <class Records>
std::map<std::string, json> LastPerKey(const Records& records) {
  std::map<std::string, json> out;
  for (const auto& r : records) {
    if (r.key && r.value) out[*r.key] = json::parse(*r.value);
  }
  return out;
}

}  // namespace read_model::reference
