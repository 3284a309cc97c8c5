#include "examples/read_model_builder/topology.h"

#include <memory>
#include <stdexcept>
#include <utility>

#include <sluice/serde_json.h>

#include "examples/read_model_builder/events.h"
#include "examples/read_model_builder/read_model.h"

namespace read_model {

namespace {

using sluice::Grouped;
using sluice::JsonSerde;
using sluice::KeyValue;
using sluice::Materialized;
using sluice::StringSerde;

// An event filed under another order than the one it names is refused: its record key
// decides the partition, and so which task folds it. Throwing sends it to the
// dead-letter queue (processing.exception.handler=continue).
class CheckKey : public sluice::Processor<std::string, OrderEvent, std::string, OrderEvent> {
 public:
  void Init(Context& context) override { context_ = &context; }
  void Process(const sluice::InputRecord<std::string, OrderEvent>& r) override {
    if (r.key != r.value.order_id) {
      throw std::invalid_argument("record key '" + r.key + "' differs from data.orderId '" +
                                  r.value.order_id + "'");
    }
    context_->Forward(r.key, r.value);
  }

 private:
  Context* context_ = nullptr;
};

}  // namespace

absl::StatusOr<sluice::Topology> BuildTopology(const Topics& topics) {
  sluice::StreamsBuilder builder;
  sluice::KTable<std::string, OrderState> orders =
      builder.Stream(topics.input, sluice::Consumed<StringSerde, OrderEventSerde>())
          .ProcessValues([] { return std::make_unique<CheckKey>(); }, {}, sluice::Named::As("check-key"))
          .GroupByKey(Grouped<StringSerde, OrderEventSerde>())
          .Aggregate([] { return OrderState{}; },
                     [](const std::string&, const OrderEvent& event, OrderState state) {
                       state.Apply(event);
                       return state;
                     },
                     Materialized<StringSerde, JsonSerde<OrderState>>::As(kOrderStore));

  // Aggregations never delete, so the table's stream carries no nulls.
  orders.ToStream(sluice::Named::As("order-updates"))
      .MapValues([](const std::optional<OrderState>& s) { return OrderSummary(*s).dump(); },
                 sluice::Named::As("order-summary-row"))
      .To(topics.order_summary, sluice::Produced<StringSerde, StringSerde>());

  orders.Filter([](const std::string&, const OrderState& s) { return s.placed.has_value(); },
                sluice::Named::As("placed-orders"))
      .GroupBy(
          [](const std::string&, const OrderState& s) {
            return KeyValue<std::string, OrderContribution>{s.placed->customer_id, *ContributionOf(s)};
          },
          Grouped<StringSerde, JsonSerde<OrderContribution>>::As("orders-by-customer"))
      .Aggregate([] { return CustomerState{}; },
                 [](const std::string&, const OrderContribution& c, CustomerState s) {
                   s.Add(c);
                   return s;
                 },
                 [](const std::string&, const OrderContribution& c, CustomerState s) {
                   s.Subtract(c);
                   return s;
                 },
                 Materialized<StringSerde, JsonSerde<CustomerState>>::As(kCustomerStore))
      .ToStream(sluice::Named::As("customer-updates"))
      .MapValues(
          [](const std::string& customer, const std::optional<CustomerState>& s) {
            return CustomerSummary(customer, *s).dump();
          },
          sluice::Named::As("customer-summary-row"))
      .To(topics.customer_summary, sluice::Produced<StringSerde, StringSerde>());
  return builder.Build();
}

std::map<std::string, std::string> AppConfig(const Topics& topics,
                                             std::map<std::string, std::string> props) {
  props["default.deserialization.exception.handler"] = "continue";
  props["processing.exception.handler"] = "continue";
  props["errors.dead.letter.queue.topic.name"] = topics.dlq;
  return props;
}

}  // namespace read_model
