// Deterministic input for order-stock-saga: stock for a set of products (some scarce, so
// reservations fail), orders over them, payment outcomes (mostly completed, some failed,
// some never), cancellations, messages delivered twice, and a few malformed records.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace saga {

struct SagaRecord {
  std::string key;
  std::string value;
};

struct SagaInput {
  std::vector<SagaRecord> orders;     // order-events
  std::vector<SagaRecord> inventory;  // inventory-events
  std::vector<SagaRecord> payments;   // payment-events
  int64_t malformed = 0;              // records the saga must dead-letter
  size_t size() const { return orders.size() + inventory.size() + payments.size(); }
};

// About `orders` orders over `products` products, from `seed`.
SagaInput GenerateSagaInput(int64_t orders, int64_t products = 40, uint64_t seed = 42);

}  // namespace saga
