// StreamsBuilder: where a topology starts. Reads topics into typed streams; Build()
// compiles what the streams were turned into.
//
//   StreamsBuilder builder;
//   auto orders = builder.Stream("orders", Consumed<StringSerde, JsonSerde<Order>>());
//   orders.Filter(...).To("big-orders", Produced<StringSerde, JsonSerde<Order>>());
//   absl::StatusOr<Topology> topology = builder.Build();
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sluice/internal/graph.h"
#include "sluice/kstream.h"
#include "sluice/ktable.h"
#include "sluice/materialized.h"
#include "sluice/named.h"
#include "sluice/serde.h"
#include "sluice/topology.h"

namespace sluice {

class StreamsBuilder {
 public:
  StreamsBuilder() : graph_(std::make_shared<internal::GraphBuilder>()) {}

  // A stream of the records of `topics`, read with the serdes of `consumed`.
  template <Serde KS, Serde VS>
  KStream<typename KS::Type, typename VS::Type> Stream(std::vector<std::string> topics,
                                                       const Consumed<KS, VS>& consumed) {
    internal::GraphNode node;
    node.kind = internal::NodeKind::kSource;
    node.name = consumed.name() ? *consumed.name() : graph_->NextName("KSTREAM-SOURCE-");
    node.topics = std::move(topics);
    node.factory = [consumed](internal::TaskServices& services) {
      return std::make_unique<internal::SourceNode<KS, VS>>(consumed.key_serde(),
                                                            consumed.value_serde(), services);
    };
    return {graph_, graph_->Add(std::move(node))};
  }

  template <Serde KS, Serde VS>
  KStream<typename KS::Type, typename VS::Type> Stream(std::string topic,
                                                       const Consumed<KS, VS>& consumed) {
    return Stream(std::vector<std::string>{std::move(topic)}, consumed);
  }

  // A stream of `topic` read with the default serdes of K and V.
  template <class K, class V>
  KStream<K, V> Stream(std::string topic) {
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<V>,
                  "StreamsBuilder::Stream<K, V>: K or V has no default serde; pass "
                  "Consumed<KeySerde, ValueSerde>() instead");
    return Stream(std::move(topic), Consumed<DefaultSerdeFor<K>, DefaultSerdeFor<V>>());
  }

  // A table of the records of `topic`: each record upserts its key, a null value (a
  // tombstone) deletes it. The table is materialized in a store named by `materialized`
  // (default: "<topic>-STATE-STORE-<n>").
  template <Serde KS, Serde VS>
  KTable<typename KS::Type, typename VS::Type> Table(std::string topic,
                                                     const Consumed<KS, VS>& consumed) {
    return Table(std::move(topic), consumed,
                 Materialized<KS, VS>(consumed.key_serde(), consumed.value_serde()));
  }
  template <Serde KS, Serde VS>
  KTable<typename KS::Type, typename VS::Type> Table(std::string topic,
                                                     const Consumed<KS, VS>& consumed,
                                                     const Materialized<KS, VS>& materialized) {
    const std::string store = materialized.name()
                                  ? *materialized.name()
                                  : graph_->NextName(topic + "-STATE-STORE-");
    graph_->AddStore(materialized.Spec(store));
    internal::GraphNode node;
    node.kind = internal::NodeKind::kSource;
    node.name = consumed.name() ? *consumed.name() : graph_->NextName("KTABLE-SOURCE-");
    node.topics = {std::move(topic)};
    node.stores = {store};
    node.factory = [store, ks = materialized.key_serde(),
                    vs = materialized.value_serde()](internal::TaskServices& services) {
      return std::make_unique<internal::TableSourceNode<KS, VS>>(store, ks, vs, services);
    };
    return KTable<typename KS::Type, typename VS::Type>(
        graph_, graph_->Add(std::move(node)), store,
        internal::StoreValueGetter<KS, VS>::Supplier(store, materialized.key_serde(),
                                                     materialized.value_serde()));
  }

  template <class K, class V>
  KTable<K, V> Table(std::string topic) {
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<V>,
                  "StreamsBuilder::Table<K, V>: K or V has no default serde; pass "
                  "Consumed<KeySerde, ValueSerde>() instead");
    return Table(std::move(topic), Consumed<DefaultSerdeFor<K>, DefaultSerdeFor<V>>());
  }

  // Adds a state store for Processor API processors (KStream::Process names the stores
  // each may use). The serdes of `materialized` are not used: a processor reads the store
  // with the serdes it names in GetStateStore.
  template <Serde KS, Serde VS>
  void AddStateStore(const Materialized<KS, VS>& materialized) {
    if (!materialized.name()) {
      graph_->AddError("StreamsBuilder::AddStateStore: the store needs a name (Materialized::As)");
      return;
    }
    graph_->AddStore(materialized.Spec(*materialized.name()));
  }

  // Compiles the graph: sub-topologies, internal topics, checks (duplicate names, a topic
  // read by two sources). The builder may not be used afterwards.
  absl::StatusOr<Topology> Build();

 private:
  std::shared_ptr<internal::GraphBuilder> graph_;
};

}  // namespace sluice
