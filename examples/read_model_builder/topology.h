// The read-model-builder topology:
//
//   order-events --(OrderEventSerde: bad JSON, fields, types, versions -> DLQ)-->
//     check-key (record key == data.orderId, else DLQ) --> group by orderId -->
//     aggregate OrderState [order-state] --> order-summary
//                     \--> orders with a customer --> group by customerId -->
//                          aggregate CustomerState [customer-state] --> customer-summary
//
// Bad records reach the dead-letter topic through the App's settings (AppConfig):
// default.deserialization.exception.handler and processing.exception.handler set to
// continue, and errors.dead.letter.queue.topic.name.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "sluice/sluice.h"

namespace read_model {

struct Topics {
  std::string input = "order-events";
  std::string dlq = "order-events.dlq";
  std::string order_summary = "order-summary";        // compacted, key orderId
  std::string customer_summary = "customer-summary";  // compacted, key customerId
};

// The state stores, for interactive queries.
inline constexpr char kOrderStore[] = "order-state";
inline constexpr char kCustomerStore[] = "customer-state";

absl::StatusOr<sluice::Topology> BuildTopology(const Topics& topics);

// The App settings the topology relies on (the dead-letter queue), beside the caller's.
std::map<std::string, std::string> AppConfig(const Topics& topics, std::map<std::string, std::string> props);

}  // namespace read_model
