// The order-stock-saga topology (see saga.h for the two state machines):
//
//   order-events, payment-events (checked) + saga-item-results
//       --> repartition "order-log" (by orderId) --> order saga [order-saga store]
//             --> stock-events, order-status
//             --> item commands + inventory-events (checked)
//                   --> repartition "product-log" (by productId)
//                         --> products [inventory-store, reservations]
//                         --> inventory, saga-item-results (back to the order side)
//
// Each side reads one log, so after a crash it replays the same messages in the same
// order. Input that fails the checks (JSON, fields, type for its topic, key) goes to the
// dead-letter topic.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "sluice/sluice.h"

namespace saga {

struct Topics {
  std::string orders = "order-events";
  std::string inventory_events = "inventory-events";
  std::string payments = "payment-events";
  std::string stock_events = "stock-events";
  std::string order_status = "order-status";  // compacted, key orderId
  std::string inventory = "inventory";        // compacted, key productId
  std::string item_results = "saga-item-results";
  std::string dlq = "saga.dlq";
};

inline constexpr char kOrderStore[] = "order-saga";
inline constexpr char kProductStore[] = "inventory-store";
inline constexpr char kReservationStore[] = "reservations";  // "<productId>/<orderId>"

absl::StatusOr<sluice::Topology> BuildTopology(const Topics& topics);

// The App settings the topology relies on (the dead-letter queue), beside the caller's.
std::map<std::string, std::string> AppConfig(const Topics& topics, std::map<std::string, std::string> props);

}  // namespace saga
