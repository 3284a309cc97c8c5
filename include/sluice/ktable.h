// KGroupedStream<K, V> and KTable<K, V>: aggregations of a stream into a table, and the
// table operations.
//
//   KTable<std::string, int64_t> counts =
//       builder.Stream<std::string, std::string>("page-views")
//           .GroupByKey()
//           .Count(Materialized<StringSerde, Int64Serde>::As("views-per-page"));
//   counts.ToStream().To("view-counts");
//
// A table's updates flow as Change<V> records (new value, and the old one where known);
// ToStream() turns them into a stream of std::optional<V>, where nullopt is a delete
// (written to Kafka as a tombstone).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "sluice/internal/graph.h"
#include "sluice/internal/stateful.h"
#include "sluice/materialized.h"
#include "sluice/named.h"
#include "sluice/serde.h"

namespace sluice {

template <class K, class V>
class KStream;

template <class K, class V>
class KTable {
 public:
  using Key = K;
  using Value = V;

  // The stream of this table's updates: the new value, nullopt for a delete.
  KStream<K, std::optional<V>> ToStream(const Named& named = {}) const {
    internal::GraphNode node;
    node.name = NameFor("KTABLE-TOSTREAM-", named);
    node.parents = {node_};
    node.factory = [](internal::TaskServices&) {
      return std::make_unique<internal::TableToStreamNode<K, V>>();
    };
    return KStream<K, std::optional<V>>(graph_, graph_->Add(std::move(node)));
  }

  // Keeps the keys whose value satisfies predicate(key, value); others become deletes.
  template <class P>
  KTable Filter(P predicate, const Named& named = {}) const {
    static_assert(std::copy_constructible<P> && std::is_invocable_r_v<bool, P&, const K&, const V&>,
                  "KTable::Filter: the predicate must be copyable and callable as "
                  "bool(const K& key, const V& value)");
    return AddTableNode<V>("KTABLE-FILTER-", named, [predicate](internal::TaskServices&) {
      return std::make_unique<internal::TableFilterNode<K, V, P, false>>(predicate);
    });
  }

  template <class P>
  KTable FilterNot(P predicate, const Named& named = {}) const {
    static_assert(std::copy_constructible<P> && std::is_invocable_r_v<bool, P&, const K&, const V&>,
                  "KTable::FilterNot: the predicate must be copyable and callable as "
                  "bool(const K& key, const V& value)");
    return AddTableNode<V>("KTABLE-FILTER-", named, [predicate](internal::TaskServices&) {
      return std::make_unique<internal::TableFilterNode<K, V, P, true>>(predicate);
    });
  }

  // A new value per key: mapper(value) or mapper(key, value).
  template <class F>
  auto MapValues(F mapper, const Named& named = {}) const {
    static_assert(std::copy_constructible<F> && (std::is_invocable_v<F&, const K&, const V&> ||
                                                 std::is_invocable_v<F&, const V&>),
                  "KTable::MapValues: the mapper must be copyable and callable as "
                  "V2(const V& value) or V2(const K& key, const V& value)");
    using V2 = std::remove_cvref_t<typename std::conditional_t<
        std::is_invocable_v<F&, const K&, const V&>, std::invoke_result<F&, const K&, const V&>,
        std::invoke_result<F&, const V&>>::type>;
    return AddTableNode<V2>("KTABLE-MAPVALUES-", named, [mapper](internal::TaskServices&) {
      return std::make_unique<internal::TableMapValuesNode<K, V, V2, F>>(mapper);
    });
  }

  // The name of the store that holds this table, for interactive queries; empty when the
  // table is not materialized (a Filter or MapValues of one).
  const std::string& queryable_store_name() const { return store_; }

  // For the DSL's own use.
  KTable(std::shared_ptr<internal::GraphBuilder> graph, int node, std::string store)
      : graph_(std::move(graph)), node_(node), store_(std::move(store)) {}
  int node_id() const { return node_; }

 private:
  std::string NameFor(std::string_view prefix, const Named& named) const {
    return named.name() && !named.name()->empty() ? *named.name() : graph_->NextName(prefix);
  }

  template <class V2>
  KTable<K, V2> AddTableNode(std::string_view prefix, const Named& named,
                             internal::NodeFactory factory) const {
    internal::GraphNode node;
    node.name = NameFor(prefix, named);
    node.parents = {node_};
    node.factory = std::move(factory);
    return KTable<K, V2>(graph_, graph_->Add(std::move(node)), "");
  }

  std::shared_ptr<internal::GraphBuilder> graph_;
  int node_;
  std::string store_;
};

// A stream grouped by key, ready to be aggregated into a table. When the key changed on
// the way here (Map, SelectKey, FlatMap, GroupBy), the aggregation reads the stream back
// from a repartition topic, partitioned by the new key, as in Kafka Streams.
template <class K, class V>
class KGroupedStream {
 public:
  // Counts the records per key.
  KTable<K, int64_t> Count(const Named& named = {}) const {
    static_assert(HasDefaultSerde<K>,
                  "KGroupedStream::Count: K has no default serde; pass "
                  "Materialized<KeySerde, Int64Serde>()");
    Materialized<DefaultSerdeFor<K>, Int64Serde> m;
    return Count(named.name() ? m.WithName(*named.name()) : m);
  }
  template <Serde KS>
  KTable<K, int64_t> Count(const Materialized<KS, Int64Serde>& materialized) const {
    static_assert(std::is_same_v<typename KS::Type, K>,
                  "KGroupedStream::Count: the key serde of Materialized does not serialize K");
    auto apply = [](const K&, const V&, const std::optional<int64_t>& current) -> int64_t {
      return current.value_or(0) + 1;
    };
    return Aggregate_<KS, Int64Serde>(materialized, apply, "KSTREAM-AGGREGATE-");
  }

  // Combines the values per key: reducer(aggregate, value); the first value of a key is
  // its first aggregate.
  template <class F>
  KTable<K, V> Reduce(F reducer) const {
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<V>,
                  "KGroupedStream::Reduce: K or V has no default serde; pass "
                  "Materialized<KeySerde, ValueSerde>()");
    return Reduce(std::move(reducer), Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<V>>());
  }
  template <class F, Serde KS, Serde VS>
  KTable<K, V> Reduce(F reducer, const Materialized<KS, VS>& materialized) const {
    static_assert(std::copy_constructible<F> && std::is_invocable_r_v<V, F&, const V&, const V&>,
                  "KGroupedStream::Reduce: the reducer must be copyable and callable as "
                  "V(const V& aggregate, const V& value)");
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V>,
                  "KGroupedStream::Reduce: the serdes of Materialized do not match K and V");
    auto apply = [reducer](const K&, const V& value, const std::optional<V>& current) mutable -> V {
      return current ? reducer(*current, value) : value;
    };
    return Aggregate_<KS, VS>(materialized, apply, "KSTREAM-REDUCE-");
  }

  // Folds the values per key: aggregator(key, value, aggregate), starting from
  // initializer() for a key seen for the first time.
  template <class I, class F>
  auto Aggregate(I initializer, F aggregator) const {
    using VA = std::remove_cvref_t<std::invoke_result_t<I&>>;
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<VA>,
                  "KGroupedStream::Aggregate: K or the aggregate type has no default serde; "
                  "pass Materialized<KeySerde, AggregateSerde>()");
    return Aggregate(std::move(initializer), std::move(aggregator),
                     Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<VA>>());
  }
  template <class I, class F, Serde KS, Serde VAS>
  KTable<K, typename VAS::Type> Aggregate(I initializer, F aggregator,
                                          const Materialized<KS, VAS>& materialized) const {
    using VA = typename VAS::Type;
    static_assert(std::copy_constructible<I> && std::is_invocable_r_v<VA, I&>,
                  "KGroupedStream::Aggregate: the initializer must be copyable and callable as "
                  "VA() where VA is the aggregate type of Materialized");
    static_assert(std::copy_constructible<F> &&
                      std::is_invocable_r_v<VA, F&, const K&, const V&, VA&&>,
                  "KGroupedStream::Aggregate: the aggregator must be copyable and callable as "
                  "VA(const K& key, const V& value, VA aggregate)");
    static_assert(std::is_same_v<typename KS::Type, K>,
                  "KGroupedStream::Aggregate: the key serde of Materialized does not serialize K");
    auto apply = [initializer, aggregator](const K& key, const V& value,
                                           const std::optional<VA>& current) mutable -> VA {
      return aggregator(key, value, current ? VA(*current) : VA(initializer()));
    };
    return Aggregate_<KS, VAS>(materialized, apply, "KSTREAM-AGGREGATE-");
  }

  // For the DSL's own use. `repartition(base)` inserts the repartition topic
  // `<base>-repartition` and returns the node that reads it back; empty when the key
  // did not change.
  KGroupedStream(std::shared_ptr<internal::GraphBuilder> graph, int node,
                 std::function<int(const std::string&)> repartition,
                 std::optional<std::string> name)
      : graph_(std::move(graph)), node_(node), repartition_(std::move(repartition)),
        name_(std::move(name)) {}

 private:
  template <Serde KS, Serde VAS, class Apply>
  KTable<K, typename VAS::Type> Aggregate_(const Materialized<KS, VAS>& materialized,
                                           Apply apply, std::string_view prefix) const {
    // Kafka Streams names the store before the processor, and the repartition topic
    // after the grouping's name or else the store's.
    const std::string store = materialized.name()
                                  ? *materialized.name()
                                  : graph_->NextName(internal::Cat(prefix, "STATE-STORE-"));
    int parent = node_;
    if (repartition_) parent = repartition_(name_.value_or(store));
    graph_->AddStore(materialized.Spec(store));
    internal::GraphNode node;
    node.name = graph_->NextName(prefix);
    node.parents = {parent};
    node.stores = {store};
    node.factory = [store, ks = materialized.key_serde(), vas = materialized.value_serde(),
                    apply](internal::TaskServices& services) {
      return std::make_unique<internal::StreamAggregateNode<V, KS, VAS, Apply>>(
          store, ks, vas, apply, services);
    };
    return KTable<K, typename VAS::Type>(graph_, graph_->Add(std::move(node)), store);
  }

  std::shared_ptr<internal::GraphBuilder> graph_;
  int node_;
  std::function<int(const std::string&)> repartition_;
  std::optional<std::string> name_;
};

}  // namespace sluice
