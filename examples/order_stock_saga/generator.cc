#include "examples/order_stock_saga/generator.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>

namespace saga {

namespace {

using nlohmann::json;

constexpr int64_t kBaseTime = 1767225600000;  // 2026-01-01T00:00:00Z

std::string Id(const char* prefix, int64_t n, int width) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s-%0*lld", prefix, width, static_cast<long long>(n));
  return buf;
}

std::string Envelope(const std::string& id, const char* type, int version, int64_t t, json data) {
  return json{{"eventId", id}, {"eventType", type}, {"version", version}, {"timestamp", t},
              {"data", std::move(data)}}
      .dump();
}

}  // namespace

SagaInput GenerateSagaInput(int64_t orders, int64_t products, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto below = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  SagaInput in;
  int64_t t = kBaseTime;
  // Stock: each product gets a first delivery.
  int64_t deliveries = 0;
  auto deliver = [&](int64_t product, int64_t quantity) {
    const std::string p = Id("product", product, 3);
    in.inventory.push_back({p, Envelope(Id("stock", ++deliveries, 6), "StockAdded", 1, t,
                                        {{"productId", p}, {"quantity", quantity}})});
  };
  // About 5 units are ordered per order; most products get 40-100% of their share at
  // first, one in eight is scarce.
  const int64_t share = std::max<int64_t>(10, 5 * orders / products);
  for (int64_t p = 0; p < products; ++p) {
    deliver(p, p % 8 == 0 ? 1 + below(5) : share * 4 / 10 + below(share * 6 / 10 + 1));
  }
  for (int64_t o = 0; o < orders; ++o) {
    t += 100 + below(400);
    const std::string order = Id("order", o, 6);
    json items = json::array();
    for (int64_t i = 0, n = 1 + below(3); i < n; ++i) {
      items.push_back({{"productId", Id("product", below(products), 3)}, {"quantity", 1 + below(4)},
                       {"price", 1 + below(100)}});
    }
    json placed = {{"orderId", order}, {"customerId", Id("customer", below(100), 3)}, {"items", items}};
    const int version = below(2) == 0 ? 1 : 2;
    if (version == 1) {
      placed["totalAmount"] = 10;
      placed["currency"] = "EUR";
    } else {
      placed["total"] = {{"amount", 10}, {"currency", "EUR"}};
    }
    in.orders.push_back({order, Envelope(order + "-placed", "OrderPlaced", version, t, placed)});
    const int64_t outcome = below(100);
    const int64_t pay_at = t + 1000 + below(5000);
    if (outcome < 75) {
      in.payments.push_back({order, Envelope(order + "-paid", "PaymentCompleted", 1, pay_at,
                                             {{"orderId", order}, {"amount", 10}})});
    } else if (outcome < 87) {
      in.payments.push_back({order, Envelope(order + "-payfail", "PaymentFailed", 1, pay_at,
                                             {{"orderId", order}, {"reason", "card declined"}})});
    }
    if (below(100) < 8) {
      in.orders.push_back({order, Envelope(order + "-cancel", "OrderCancelled", 1, t + below(8000),
                                           {{"orderId", order}, {"reason", "customer request"}})});
    }
    if (o % 25 == 24) deliver(below(products), 5 + below(30));  // restocking
  }
  // Disorder within each topic: one message in ten moves a few places later; 4% are
  // delivered twice.
  for (std::vector<SagaRecord>* topic : {&in.orders, &in.inventory, &in.payments}) {
    for (size_t i = 0; i + 1 < topic->size(); ++i) {
      if (below(10) == 0) std::swap((*topic)[i], (*topic)[std::min(topic->size() - 1, i + 1 + below(6))]);
    }
    const size_t n = topic->size();
    for (size_t i = 0; i < n; ++i) {
      if (below(25) == 0) topic->push_back((*topic)[i]);
    }
  }
  // Malformed records, one of each kind per topic.
  const std::string o = Id("order", 0, 6);
  in.orders.push_back({o, "{not json"});
  in.orders.push_back({o, Envelope("bad-1", "OrderShipped", 1, t, {{"orderId", o}})});      // unknown type
  in.orders.push_back({o, Envelope("bad-2", "StockAdded", 1, t,                              // wrong topic
                                   {{"productId", o}, {"quantity", 1}})});
  in.orders.push_back({Id("order", 1, 6), Envelope("bad-3", "OrderCancelled", 1, t,          // wrong key
                                                   {{"orderId", o}, {"reason", "x"}})});
  in.inventory.push_back({"product-000", Envelope("bad-4", "StockAdded", 1, t,               // bad quantity
                                                  {{"productId", "product-000"}, {"quantity", -3}})});
  in.payments.push_back({o, Envelope("bad-5", "PaymentCompleted", 3, t,                      // unknown version
                                     {{"orderId", o}, {"amount", 10}})});
  in.malformed = 6;
  return in;
}

}  // namespace saga
