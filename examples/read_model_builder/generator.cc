#include "examples/read_model_builder/generator.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>

namespace read_model {

namespace {

using nlohmann::json;

constexpr int64_t kBaseTime = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr const char* kCarriers[] = {"DHL", "UPS", "FedEx", "PostNL"};
constexpr const char* kReasons[] = {"customer request", "payment timeout", "out of stock"};

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  int64_t Below(int64_t n) { return static_cast<int64_t>(engine_() % static_cast<uint64_t>(n)); }
  bool Chance(int percent) { return Below(100) < percent; }

 private:
  std::mt19937_64 engine_;
};

std::string Id(const char* prefix, int64_t n, int width) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s-%0*lld", prefix, width, static_cast<long long>(n));
  return buf;
}

json Money(int64_t cents) {
  if (cents % 100 == 0) return cents / 100;
  return static_cast<double>(cents) / 100;
}

json Envelope(const std::string& event_id, const char* type, int version, int64_t timestamp,
              json data) {
  return {{"eventId", event_id}, {"eventType", type}, {"version", version},
          {"timestamp", timestamp}, {"data", std::move(data)}};
}

// One order's events, in the order they happened.
std::vector<GeneratedRecord> OrderLifecycle(int64_t index, int64_t customers, Rng& rng) {
  const std::string order = Id("order", index, 6);
  int64_t t = kBaseTime + index * 500;
  int n = 0;
  auto event_id = [&] { return order + "-e" + std::to_string(++n); };
  std::vector<GeneratedRecord> out;
  auto emit = [&](json e) { out.push_back({order, e.dump()}); };

  json items = json::array();
  int64_t total = 0;
  for (int64_t i = 0, count = 1 + rng.Below(3); i < count; ++i) {
    const int64_t quantity = 1 + rng.Below(5);
    const int64_t price = 100 + rng.Below(20000);
    total += quantity * price;
    items.push_back({{"productId", Id("product", rng.Below(200), 3)}, {"quantity", quantity},
                     {"price", Money(price)}});
  }
  json placed = {{"orderId", order}, {"customerId", Id("customer", rng.Below(customers), 4)},
                 {"items", items}};
  const int version = rng.Chance(50) ? 1 : 2;
  if (version == 1) {
    placed["totalAmount"] = Money(total);
    placed["currency"] = "EUR";
  } else {
    placed["total"] = {{"amount", Money(total)}, {"currency", "EUR"}};
    if (rng.Chance(70)) placed["shippingAddress"] = {{"city", "Utrecht"}, {"zip", "3511"}};
  }
  emit(Envelope(event_id(), "OrderPlaced", version, t, placed));

  const bool cancel = rng.Chance(8);
  const int stages = cancel ? static_cast<int>(rng.Below(4)) : 3;  // how far it gets
  if (stages >= 1 && rng.Chance(92)) {
    const bool split = rng.Chance(10);
    const int64_t first = split ? total / 2 : total;
    t += 1000 + rng.Below(60000);
    emit(Envelope(event_id(), "PaymentReceived", 1, t,
                  {{"orderId", order}, {"paymentId", Id("pay", index * 2, 7)}, {"amount", Money(first)}}));
    if (split) {
      t += 1000 + rng.Below(60000);
      emit(Envelope(event_id(), "PaymentReceived", 1, t,
                    {{"orderId", order}, {"paymentId", Id("pay", index * 2 + 1, 7)},
                     {"amount", Money(total - first)}}));
    }
    if (stages >= 2 && rng.Chance(90)) {
      t += 60000 + rng.Below(3600000);
      emit(Envelope(event_id(), "ItemsPacked", 1, t,
                    {{"orderId", order}, {"warehouseId", Id("wh", rng.Below(5), 1)}}));
      if (stages >= 3 && rng.Chance(90)) {
        t += 60000 + rng.Below(3600000);
        emit(Envelope(event_id(), "OrderShipped", 1, t,
                      {{"orderId", order}, {"carrier", kCarriers[rng.Below(4)]},
                       {"trackingId", Id("trk", index, 8)}}));
      }
    }
  }
  if (cancel) {
    t += 1000 + rng.Below(600000);
    emit(Envelope(event_id(), "OrderCancelled", 1, t,
                  {{"orderId", order}, {"reason", kReasons[rng.Below(3)]}}));
  }
  return out;
}

// A record the builder must refuse, of kind `kind` (cycled through).
GeneratedRecord Malformed(int64_t kind, int64_t n) {
  const std::string order = Id("order", n, 6);
  json good = Envelope(order + "-bad" + std::to_string(kind), "ItemsPacked", 1, kBaseTime,
                       {{"orderId", order}, {"warehouseId", "wh-1"}});
  switch (kind % 6) {
    case 0:
      return {order, "{\"eventId\": \"truncated"};  // not JSON
    case 1:
      good.erase("eventId");
      return {order, good.dump()};
    case 2:
      good["eventType"] = "OrderTeleported";
      return {order, good.dump()};
    case 3:
      good["version"] = 7;
      return {order, good.dump()};
    case 4:
      return {Id("order", n + 1, 6), good.dump()};  // key differs from data.orderId
    default:
      good["data"].erase("orderId");
      return {order, good.dump()};
  }
}

}  // namespace

Generated GenerateOrderEvents(int64_t count, uint64_t seed) {
  Rng rng(seed);
  Generated g;
  const int64_t customers = std::max<int64_t>(10, count / 40);
  std::vector<GeneratedRecord> records;
  int64_t orders = 0;
  while (static_cast<int64_t>(records.size()) < count) {
    for (GeneratedRecord& r : OrderLifecycle(orders, customers, rng)) records.push_back(std::move(r));
    ++orders;
  }
  // Disorder: about one record in ten moves up to 8 places later; 3% are delivered again
  // up to 50 places later; one in 200 records is malformed.
  for (size_t i = 0; i + 1 < records.size(); ++i) {
    if (rng.Chance(10)) {
      const size_t j = std::min(records.size() - 1, i + 1 + static_cast<size_t>(rng.Below(8)));
      std::swap(records[i], records[j]);
    }
  }
  std::vector<GeneratedRecord> out;
  out.reserve(records.size() + records.size() / 10);
  std::vector<std::pair<size_t, GeneratedRecord>> pending;  // (due position, duplicate)
  int64_t malformed_kind = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    out.push_back(records[i]);
    if (rng.Chance(3)) pending.emplace_back(out.size() + 1 + static_cast<size_t>(rng.Below(50)), records[i]);
    if (rng.Below(200) == 0) out.push_back(Malformed(malformed_kind++, static_cast<int64_t>(i)));
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->first <= out.size()) {
        out.push_back(std::move(it->second));
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : pending) out.push_back(std::move(p.second));
  out.resize(std::min<size_t>(out.size(), static_cast<size_t>(count)));

  // Count what was kept.
  std::vector<std::string> seen_events;
  std::vector<std::string> seen_orders;
  for (const GeneratedRecord& r : out) {
    json doc = json::parse(r.value, nullptr, false);
    const bool valid = !doc.is_discarded() && doc.contains("eventId") &&
                       doc.value("version", 0) >= 1 && doc.value("version", 0) <= 2 &&
                       doc.value("eventType", "") != "OrderTeleported" &&
                       doc["data"].contains("orderId") && doc["data"]["orderId"] == r.key &&
                       (doc.value("version", 0) == 1 || doc.value("eventType", "") == "OrderPlaced");
    if (!valid) {
      ++g.malformed;
      continue;
    }
    seen_events.push_back(doc["eventId"].get<std::string>());
    seen_orders.push_back(r.key);
  }
  auto distinct = [](std::vector<std::string>& v) {
    std::sort(v.begin(), v.end());
    return static_cast<int64_t>(std::unique(v.begin(), v.end()) - v.begin());
  };
  const int64_t valid = static_cast<int64_t>(seen_events.size());
  g.duplicates = valid - distinct(seen_events);
  g.orders = distinct(seen_orders);
  g.records = std::move(out);
  return g;
}

}  // namespace read_model
