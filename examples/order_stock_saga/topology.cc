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

// Forwards what a state machine wants sent, each under its key.
void ForwardAll(sluice::ProcessorContext<std::string, Out>& context, const std::string& key,
                std::vector<Out>* outs) {
  for (Out& out : *outs) {
    std::string to = out.dest == Dest::kProducts ? out.message.ProductId()
                     : out.dest == Dest::kOrders ? out.message.OrderId()
                                                 : key;
    context.Forward(std::move(to), std::move(out));
  }
  outs->clear();
}

// The order side: an OrderSaga per orderId.
class OrderSide : public sluice::Processor<std::string, Message, std::string, Out> {
 public:
  void Init(Context& context) override {
    context_ = &context;
    orders_.emplace(context.GetStateStore<StringSerde, sluice::JsonSerde<OrderSaga>>(kOrderStore));
  }
  void Process(const sluice::InputRecord<std::string, Message>& r) override {
    OrderSaga order = orders_->Get(r.key).value_or(OrderSaga{});
    order.Handle(r.value, &outs_);
    orders_->Put(r.key, order);
    ForwardAll(*context_, r.key, &outs_);
  }

 private:
  Context* context_ = nullptr;
  std::optional<sluice::KeyValueStore<StringSerde, sluice::JsonSerde<OrderSaga>>> orders_;
  std::vector<Out> outs_;
};

// The product side: a Product per productId, and each order's reservation of it under
// "<productId>/<orderId>".
class ProductSide : public sluice::Processor<std::string, Message, std::string, Out> {
 public:
  void Init(Context& context) override {
    context_ = &context;
    products_.emplace(context.GetStateStore<StringSerde, sluice::JsonSerde<Product>>(kProductStore));
    reservations_.emplace(
        context.GetStateStore<StringSerde, sluice::JsonSerde<Reservation>>(kReservationStore));
  }
  void Process(const sluice::InputRecord<std::string, Message>& r) override {
    Product product = products_->Get(r.key).value_or(Product{});
    const bool command = r.value.type != "StockAdded";
    const std::string reservation_key = command ? r.key + "/" + r.value.OrderId() : "";
    std::optional<Reservation> reservation;
    if (command) reservation = reservations_->Get(reservation_key);
    product.Handle(r.value, &reservation, &outs_);
    products_->Put(r.key, product);
    if (reservation) reservations_->Put(reservation_key, *reservation);
    ForwardAll(*context_, r.key, &outs_);
  }

 private:
  Context* context_ = nullptr;
  std::optional<sluice::KeyValueStore<StringSerde, sluice::JsonSerde<Product>>> products_;
  std::optional<sluice::KeyValueStore<StringSerde, sluice::JsonSerde<Reservation>>> reservations_;
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
  builder.AddStateStore(Materialized<StringSerde, sluice::JsonSerde<Reservation>>::As(kReservationStore));
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
          .Process([] { return std::make_unique<OrderSide>(); }, {kOrderStore}, Named::As("order-saga"));
  ToText(Messages(order_outs, Dest::kStockEvents, "stock-events-out"), topics.stock_events);
  Rows(order_outs, Dest::kOrderStatus, "order-status-out").To(topics.order_status, AsText());

  // The product side.
  sluice::KStream<std::string, Out> product_outs =
      Messages(order_outs, Dest::kProducts, "item-commands")
          .Merge(Checked(builder, topics.inventory_events, {"StockAdded"}, true))
          .Repartition(product_log)
          .Process([] { return std::make_unique<ProductSide>(); }, {kProductStore, kReservationStore},
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
