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
#include "sluice/global_ktable.h"
#include "sluice/internal/graph.h"
#include "sluice/internal/str.h"
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
      return std::make_unique<internal::SourceNode<KS, VS>>(
          consumed.key_serde(), consumed.value_serde(), consumed.timestamp_extractor(),
          consumed.invalid_timestamp_policy(), services);
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
    node.factory = [store, ks = materialized.key_serde(), vs = materialized.value_serde(),
                    extractor = consumed.timestamp_extractor(),
                    policy = consumed.invalid_timestamp_policy()](internal::TaskServices& services) {
      return std::make_unique<internal::TableSourceNode<KS, VS>>(store, ks, vs, extractor, policy,
                                                                 services);
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

  // Reads `topic` as a GlobalKTable: every partition, in every instance, into a local
  // RocksDB store named by `materialized` (default "<topic>-STATE-STORE-<n>"). The topic
  // is the store's changelog: there is no other. A record that does not deserialize
  // follows default.deserialization.exception.handler. Records keep their Kafka
  // timestamps: the extractor and invalid-timestamp policy of `consumed`, and
  // default.timestamp.extractor, do not apply to a global table.
  template <Serde KS, Serde VS>
  GlobalKTable<typename KS::Type, typename VS::Type> GlobalTable(
      std::string topic, const Consumed<KS, VS>& consumed, const Materialized<KS, VS>& materialized) {
    const std::string store =
        materialized.name() ? *materialized.name() : graph_->NextName(topic + "-STATE-STORE-");
    internal::GlobalStoreSpec spec;
    spec.name = store;
    spec.topic = topic;
    spec.check = [ks = consumed.key_serde(), vs = consumed.value_serde()](
                     std::string_view key, std::optional<std::string_view> value) -> absl::Status {
      typename KS::Type k{};
      if (absl::Status s = ks.Deserialize(key, k); !s.ok()) {
        return absl::InvalidArgumentError(internal::Cat("the key does not deserialize with ", internal::SerdeName<KS>(),
                                              ": ", std::string(s.message())));
      }
      if (value) {
        typename VS::Type v{};
        if (absl::Status s = vs.Deserialize(*value, v); !s.ok()) {
          return absl::InvalidArgumentError(internal::Cat("the value does not deserialize with ",
                                                internal::SerdeName<VS>(), ": ", std::string(s.message())));
        }
      }
      return absl::OkStatus();
    };
    graph_->AddGlobalStore(std::move(spec));
    return GlobalKTable<typename KS::Type, typename VS::Type>(
        graph_, store,
        internal::StoreValueGetter<KS, VS>::GlobalSupplier(store, consumed.key_serde(),
                                                           consumed.value_serde()));
  }
  template <Serde KS, Serde VS>
  GlobalKTable<typename KS::Type, typename VS::Type> GlobalTable(std::string topic,
                                                                 const Consumed<KS, VS>& consumed) {
    return GlobalTable(std::move(topic), consumed,
                       Materialized<KS, VS>(consumed.key_serde(), consumed.value_serde()));
  }
  template <class K, class V>
  GlobalKTable<K, V> GlobalTable(std::string topic) {
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<V>,
                  "StreamsBuilder::GlobalTable<K, V>: K or V has no default serde; pass "
                  "Consumed<KeySerde, ValueSerde>() instead");
    return GlobalTable(std::move(topic), Consumed<DefaultSerdeFor<K>, DefaultSerdeFor<V>>());
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
