// The two sides of the order/stock-reservation saga, as plain state machines. Each reads
// one ordered log (a repartition topic per side, so a replay after a crash sees the same
// messages in the same order) and is idempotent: a message it has seen again makes it
// send again what its current state implies (the first sending may have been lost), and
// never changes the state a second time.
//
// Order side (key orderId): OrderPlaced -> ReserveItem for each product; when every
// product answered: all ItemReserved -> RESERVED (StockReserved), any ItemRejected ->
// REJECTED (StockReservationFailed, and ReleaseItem for every product, which releases
// the ones that were reserved). Once RESERVED: PaymentCompleted -> CONFIRMED
// (ConfirmItem for each product, OrderConfirmed); PaymentFailed or OrderCancelled ->
// RELEASED (ReleaseItem for each product, StockReleased). Payments and cancellations that
// arrive before the reservation completes wait for it; a cancellation wins over a payment.
//
// Product side (key productId): StockAdded adds to `available`; ReserveItem moves the
// quantity to `reserved` if available (else ItemRejected); ReleaseItem moves a
// reservation back; ConfirmItem takes it out of stock. A reservation is released or
// confirmed at most once, so available + reserved == added - confirmed and available >= 0.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "examples/order_stock_saga/messages.h"

namespace saga {

// Where a handler's output goes.
enum class Dest {
  kProducts,     // a command for the product side (key productId)
  kOrders,       // an item result for the order side (key orderId)
  kStockEvents,  // stock-events (key orderId)
  kOrderStatus,  // the order-status table row (key orderId)
  kInventory,    // the inventory table row (key productId)
};

struct Out {
  Dest dest = Dest::kProducts;
  Message message;  // for kProducts, kOrders, kStockEvents
  std::string row;  // JSON, for kOrderStatus and kInventory
};

struct OrderSaga {
  std::string order_id;
  std::string status;                     // "" until OrderPlaced, then PENDING, RESERVED,
                                          // REJECTED, CONFIRMED or RELEASED
  std::map<std::string, int64_t> items;   // productId -> quantity
  std::map<std::string, bool> results;    // productId -> reserved?
  std::string payment;                    // "", COMPLETED or FAILED
  std::string payment_reason;
  bool cancelled = false;
  std::string cancel_reason;
  std::string reason;                     // why REJECTED or RELEASED
  std::set<std::string> seen;             // eventIds handled

  // Handles a message of the order log (key orderId); `outs` gets what to send.
  void Handle(const Message& m, std::vector<Out>* outs);
  nlohmann::json StatusRow() const;

 private:
  void Decide(int64_t now, std::vector<Out>* outs);
  void Settle(int64_t now, std::vector<Out>* outs);
  // `command` for every product of the order (`unanswered_only`: those without a result).
  void SendAll(const char* command, int64_t now, std::vector<Out>* outs,
               bool unanswered_only = false) const;
  void SendState(int64_t now, std::vector<Out>* outs) const;
  void Event(const char* type, int64_t now, nlohmann::json data, std::vector<Out>* outs) const;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OrderSaga, order_id, status, items, results, payment,
                                   payment_reason, cancelled, cancel_reason, reason, seen)

// One order's reservation of one product (stored under its own key, so a product's
// state does not grow with its orders).
struct Reservation {
  int64_t quantity = 0;
  std::string state;  // RESERVED, REJECTED, RELEASED or CONFIRMED
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Reservation, quantity, state)

struct Product {
  std::string product_id;
  int64_t available = 0;
  int64_t reserved = 0;
  int64_t added = 0;
  int64_t confirmed = 0;
  std::set<std::string> stock_added;  // StockAdded eventIds applied

  // Handles a message of the product log (key productId). For an item command,
  // `reservation` is the order's reservation of this product (nullopt: none yet); the
  // caller stores what it becomes.
  void Handle(const Message& m, std::optional<Reservation>* reservation, std::vector<Out>* outs);
  nlohmann::json InventoryRow() const;

 private:
  void Result(const std::string& order, const Reservation& r, int64_t now, std::vector<Out>* outs) const;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Product, product_id, available, reserved, added, confirmed,
                                   stock_added)

}  // namespace saga
