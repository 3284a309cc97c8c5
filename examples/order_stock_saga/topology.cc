#include "examples/order_stock_saga/topology.h"

#include <memory>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include <sluice/serde_json.h>

#include "examples/order_stock_saga/messages.h"
#include "examples/order_stock_saga/saga.h"

namespace saga {

namespace {

using sluice::Materialized;
using sluice::Named;
using sluice::StringSerde;
using Stream = sluice::KStream<std::string, Message>;

// Refuses a message of a type that does not belong on its topic, or filed under another
// key than the id it names (processing.exception.handler=continue: dead-lettered).
class CheckInput : public sluice::Processor<std::string, Message, std::string, Message> {
 public:
  CheckInput(std::string topic, std::set<std::string> types, bool by_product)
      : topic_(std::move(topic)), types_(std::move(types)), by_product_(by_product) {}
  void Init(Context& context) override { context_ = &context; }
  void Process(const sluice::InputRecord<std::string, Message>& r) override {
    if (!types_.count(r.value.type)) {
      throw std::invalid_argument("eventType '" + r.value.type + "' does not belong on '" + topic_ + "'");
    }
    const std::string id = by_product_ ? r.value.ProductId() : r.value.OrderId();
    if (r.key != id) {
      throw std::invalid_argument("record key '" + r.key + "' differs from data." +
                                  (by_product_ ? "productId" : "orderId") + " '" + id + "'");
    }
    context_->Forward(r.key, r.value);
  }

 private:
  std::string topic_;
  std::set<std::string> types_;
  bool by_product_;
  Context* context_ = nullptr;
};

// Runs a state machine (OrderSaga or Product) per key over its store.
template <class State>
class Machine : public sluice::Processor<std::string, Message, std::string, Out> {
 public:
  explicit Machine(std::string store) : store_name_(std::move(store)) {}
  void Init(Context& context) override {
    context_ = &context;
    store_.emplace(context.GetStateStore<StringSerde, sluice::JsonSerde<State>>(store_name_));
  }
  void Process(const sluice::InputRecord<std::string, Message>& r) override {
    State state = store_->Get(r.key).value_or(State{});
    outs_.clear();
    state.Handle(r.value, &outs_);
    store_->Put(r.key, state);
    for (Out& out : outs_) {
      std::string key = out.dest == Dest::kProducts ? out.message.ProductId()
                        : out.dest == Dest::kOrders ? out.message.OrderId()
                                                    : r.key;
      context_->Forward(std::move(key), std::move(out));
    }
  }

 private:
  std::string store_name_;
  Context* context_ = nullptr;
  std::optional<sluice::KeyValueStore<StringSerde, sluice::JsonSerde<State>>> store_;
  std::vector<Out> outs_;
};

sluice::Consumed<StringSerde, MessageSerde> AsMessages() { return {}; }
sluice::Produced<StringSerde, StringSerde> AsText() { return {}; }

Stream Checked(sluice::StreamsBuilder& builder, const std::string& topic, std::set<std::string> types,
               bool by_product) {
  return builder.Stream(topic, AsMessages())
      .ProcessValues([=] { return std::make_unique<CheckInput>(topic, types, by_product); }, {},
                     Named::As("check-" + topic));
}

// The messages of `outs` bound for `dest`.
Stream Messages(const sluice::KStream<std::string, Out>& outs, Dest dest, const std::string& name) {
  return outs.Filter([dest](const std::string&, const Out& o) { return o.dest == dest; }, Named::As(name))
      .MapValues([](const Out& o) { return o.message; });
}
// The table rows of `outs` bound for `dest`, as JSON text.
sluice::KStream<std::string, std::string> Rows(const sluice::KStream<std::string, Out>& outs, Dest dest,
                                               const std::string& name) {
  return outs.Filter([dest](const std::string&, const Out& o) { return o.dest == dest; }, Named::As(name))
      .MapValues([](const Out& o) { return o.row; });
}

void ToText(const Stream& s, const std::string& topic) {
  s.MapValues([](const Message& m) { return m.Json(); }).To(topic, AsText());
}

}  // namespace

absl::StatusOr<sluice::Topology> BuildTopology(const Topics& topics) {
  sluice::StreamsBuilder builder;
  builder.AddStateStore(Materialized<StringSerde, sluice::JsonSerde<OrderSaga>>::As(kOrderStore));
  builder.AddStateStore(Materialized<StringSerde, sluice::JsonSerde<Product>>::As(kProductStore));
  const sluice::Repartitioned<StringSerde, MessageSerde> order_log =
      sluice::Repartitioned<StringSerde, MessageSerde>::As("order-log");
  const sluice::Repartitioned<StringSerde, MessageSerde> product_log =
      sluice::Repartitioned<StringSerde, MessageSerde>::As("product-log");

  // The order side.
  sluice::KStream<std::string, Out> order_outs =
      Checked(builder, topics.orders, {"OrderPlaced", "OrderCancelled"}, false)
          .Merge(Checked(builder, topics.payments, {"PaymentCompleted", "PaymentFailed"}, false))
          .Merge(builder.Stream(topics.item_results, AsMessages()))
          .Repartition(order_log)
          .Process([] { return std::make_unique<Machine<OrderSaga>>(kOrderStore); }, {kOrderStore},
                   Named::As("order-saga"));
  ToText(Messages(order_outs, Dest::kStockEvents, "stock-events-out"), topics.stock_events);
  Rows(order_outs, Dest::kOrderStatus, "order-status-out").To(topics.order_status, AsText());

  // The product side.
  sluice::KStream<std::string, Out> product_outs =
      Messages(order_outs, Dest::kProducts, "item-commands")
          .Merge(Checked(builder, topics.inventory_events, {"StockAdded"}, true))
          .Repartition(product_log)
          .Process([] { return std::make_unique<Machine<Product>>(kProductStore); }, {kProductStore},
                   Named::As("products"));
  ToText(Messages(product_outs, Dest::kOrders, "item-results-out"), topics.item_results);
  Rows(product_outs, Dest::kInventory, "inventory-out").To(topics.inventory, AsText());
  return builder.Build();
}

std::map<std::string, std::string> AppConfig(const Topics& topics, std::map<std::string, std::string> props) {
  props["default.deserialization.exception.handler"] = "continue";
  props["processing.exception.handler"] = "continue";
  props["errors.dead.letter.queue.topic.name"] = topics.dlq;
  return props;
}

}  // namespace saga
