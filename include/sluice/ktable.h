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
#include "sluice/internal/fk_join.h"
#include "sluice/internal/join.h"
#include "sluice/internal/stateful.h"
#include "sluice/internal/suppress.h"
#include "sluice/internal/table_getter.h"
#include "sluice/materialized.h"
#include "sluice/named.h"
#include "sluice/serde.h"
#include "sluice/suppressed.h"
#include "sluice/windows.h"

namespace sluice {

template <class K, class V>
class KStream;
template <class K, class V>
class KGroupedTable;
template <class K, class VA>
class CogroupedKStream;
template <class K, class V>
class TimeWindowedKStream;
template <class K, class V>
class SessionWindowedKStream;

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
      return std::make_unique<
          internal::ChangeMapNode<K, V, std::optional<V>, internal::NewValueOf>>(
          internal::NewValueOf{});
    };
    return KStream<K, std::optional<V>>(graph_, graph_->Add(std::move(node)));
  }

  // Holds back updates (include/sluice/suppressed.h): final results per window, or at
  // most one update per key per time limit. The buffer's changelog needs serdes for K
  // and V: the defaults (for Windowed<X>, X's default and the window bounds), or these.
  KTable Suppress(const Suppressed& suppressed) const {
    static_assert(internal::HasBufferSerdes<K, V>,
                  "KTable::Suppress: K or V has no default serde for the suppression buffer's "
                  "changelog; pass Suppress(suppressed, KeySerde(), ValueSerde())");
    if constexpr (internal::HasBufferSerdes<K, V>) {
      return Suppress(suppressed, internal::BufferKeySerde<K>(), DefaultSerdeFor<V>());
    } else {
      return *this;
    }
  }
  template <Serde KS, Serde VS>
  KTable Suppress(const Suppressed& suppressed, KS key_serde, VS value_serde) const {
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V>,
                  "KTable::Suppress: the serdes do not match K and V");
    internal::SuppressSpec spec;
    spec.final_results = suppressed.until_window_closes();
    spec.buffer = suppressed.buffer();
    spec.wait_ms = suppressed.time_limit_ms();
    const std::string name =
        suppressed.name() ? *suppressed.name() : graph_->NextName("KTABLE-SUPPRESS-");
    spec.name = name;
    spec.store = suppressed.name() ? name + "-store" : graph_->NextName("KTABLE-SUPPRESS-STATE-STORE-");
    if (spec.final_results) {
      std::optional<int64_t> grace = UpstreamWindowGrace();
      if (!internal::IsWindowed<K>::value || !grace) {
        graph_->AddError(internal::Cat("KTable::Suppress '", name, "': UntilWindowCloses needs a "
                                       "windowed aggregation upstream (a table keyed by Windowed<K>)"));
      }
      spec.wait_ms = grace.value_or(0);
      if (spec.buffer.when_full() == BufferConfig::WhenFull::kEmitEarly && !spec.buffer.unbounded()) {
        graph_->AddError(internal::Cat("KTable::Suppress '", name, "': UntilWindowCloses must not "
                                       "emit early; use BufferConfig::Unbounded() or "
                                       "ShutDownWhenFull()"));
      }
    } else if (spec.wait_ms < 0) {
      graph_->AddError(internal::Cat("KTable::Suppress '", name, "': the time limit must not be negative"));
    }
    if (spec.buffer.max_records() < 1 || spec.buffer.max_bytes() < 1) {
      graph_->AddError(internal::Cat("KTable::Suppress '", name, "': buffer limits must be positive"));
    }
    internal::StoreSpec store;
    store.name = spec.store;
    store.persistent = false;  // rebuilt from its changelog when the task starts
    store.caching = false;
    store.logging = suppressed.logging();
    store.changelog_configs = suppressed.changelog_configs();
    graph_->AddStore(std::move(store));
    internal::GraphNode node;
    node.name = name;
    node.parents = {node_};
    node.stores = {spec.store};
    node.punctuates = true;  // idle close
    node.factory = [spec, key_serde, value_serde](internal::TaskServices& services) {
      return std::make_unique<internal::SuppressNode<KS, VS>>(spec, key_serde, value_serde, services);
    };
    // Joins read a suppressed table as it is before the suppression; it has no store of
    // its own to query.
    return KTable(graph_, graph_->Add(std::move(node)), std::string(), getter_);
  }

  // Keeps the keys whose value satisfies predicate(key, value); others become deletes.
  template <class P>
  KTable Filter(P predicate, const Named& named = {}) const {
    static_assert(std::copy_constructible<P> && std::is_invocable_r_v<bool, P&, const K&, const V&>,
                  "KTable::Filter: the predicate must be copyable and callable as "
                  "bool(const K& key, const V& value)");
    return AddTableNode<V>(
        "KTABLE-FILTER-", named,
        [predicate](internal::TaskServices&) {
          using Fn = internal::FilterChange<P, false>;
          return std::make_unique<internal::ChangeMapNode<K, V, Change<V>, Fn>>(Fn{predicate});
        },
        [fn = internal::FilterChange<P, false>{predicate}](const K& key,
                                                           const std::optional<V>& value) mutable {
          return fn.Keep(key, value);
        });
  }

  template <class P>
  KTable FilterNot(P predicate, const Named& named = {}) const {
    static_assert(std::copy_constructible<P> && std::is_invocable_r_v<bool, P&, const K&, const V&>,
                  "KTable::FilterNot: the predicate must be copyable and callable as "
                  "bool(const K& key, const V& value)");
    return AddTableNode<V>(
        "KTABLE-FILTER-", named,
        [predicate](internal::TaskServices&) {
          using Fn = internal::FilterChange<P, true>;
          return std::make_unique<internal::ChangeMapNode<K, V, Change<V>, Fn>>(Fn{predicate});
        },
        [fn = internal::FilterChange<P, true>{predicate}](const K& key,
                                                          const std::optional<V>& value) mutable {
          return fn.Keep(key, value);
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
    return AddTableNode<V2>(
        "KTABLE-MAPVALUES-", named,
        [mapper](internal::TaskServices&) {
          using Fn = internal::MapChange<V2, F>;
          return std::make_unique<internal::ChangeMapNode<K, V, Change<V2>, Fn>>(Fn{mapper});
        },
        [fn = internal::MapChange<V2, F>{mapper}](const K& key,
                                                  const std::optional<V>& value) mutable {
          return fn.Map(key, value);
        });
  }

  // Groups the table by selector(key, value), which returns KeyValue<K2, V2> (or a pair),
  // for an aggregation with an adder and a subtractor. The records go through the
  // repartition topic `<name>-repartition`, written with the serdes of `grouped`.
  template <class F, Serde KS2, Serde VS2>
  KGroupedTable<typename KS2::Type, typename VS2::Type> GroupBy(
      F selector, const Grouped<KS2, VS2>& grouped) const {
    using K2 = typename KS2::Type;
    using V2 = typename VS2::Type;
    static_assert(std::copy_constructible<F> && std::is_invocable_v<F&, const K&, const V&>,
                  "KTable::GroupBy: the selector must be copyable and callable as "
                  "KeyValue<K2, V2>(const K& key, const V& value)");
    using R = std::remove_cvref_t<std::invoke_result_t<F&, const K&, const V&>>;
    static_assert(std::is_same_v<typename internal::KeyValueTraits<R>::Key, K2> &&
                      std::is_same_v<typename internal::KeyValueTraits<R>::Value, V2>,
                  "KTable::GroupBy: the selector's result does not match the serdes of Grouped");
    internal::GraphNode node;
    node.name = graph_->NextName("KTABLE-SELECT-");
    node.parents = {node_};
    node.factory = [selector](internal::TaskServices&) {
      return std::make_unique<internal::TableSelectNode<K, V, K2, V2, F>>(selector);
    };
    KStream<K2, Change<V2>> selected(graph_, graph_->Add(std::move(node)));
    return KGroupedTable<K2, V2>(graph_, selected, grouped.name(),
                                 [grouped](KStream<K2, Change<V2>> s, const std::string& base) {
                                   using CS = internal::ChangeSerde<VS2>;
                                   return s.Repartition(Repartitioned<KS2, CS>(
                                                            grouped.key_serde(), CS(grouped.value_serde()))
                                                            .WithName(base));
                                 });
  }
  template <class F>
  auto GroupBy(F selector) const {
    using R = std::remove_cvref_t<std::invoke_result_t<F&, const K&, const V&>>;
    using K2 = typename internal::KeyValueTraits<R>::Key;
    using V2 = typename internal::KeyValueTraits<R>::Value;
    static_assert(HasDefaultSerde<K2> && HasDefaultSerde<V2>,
                  "KTable::GroupBy: the new key or value has no default serde; pass "
                  "Grouped<KeySerde, ValueSerde>()");
    return GroupBy(std::move(selector), Grouped<DefaultSerdeFor<K2>, DefaultSerdeFor<V2>>());
  }

  // KTable-KTable joins on the key (docs/joins.md). An update of either side emits the
  // join's new value for the key (and its old value, for downstream subtractors); both
  // tables must have the same partition count. Joiners, optionally with const K& first:
  //   Join:      VR(const V& value, const V2& other)
  //   LeftJoin:  VR(const V& value, const std::optional<V2>& other)
  //   OuterJoin: VR(const std::optional<V>& value, const std::optional<V2>& other)
  // With Materialized the result is kept in a store (queryable, cached); without, a join
  // downstream reads it by reading both sides.
  template <class V2, class J>
  auto Join(const KTable<K, V2>& other, J joiner, const Named& named = {}) const {
    return JoinTables<internal::JoinKind::kInner>(other, std::move(joiner), named, NoStore());
  }
  template <class V2, class J, Serde KS, Serde VS>
  auto Join(const KTable<K, V2>& other, J joiner, const Materialized<KS, VS>& materialized) const {
    return JoinTables<internal::JoinKind::kInner>(other, std::move(joiner), Named(), materialized);
  }
  template <class V2, class J, Serde KS, Serde VS>
  auto Join(const KTable<K, V2>& other, J joiner, const Named& named,
            const Materialized<KS, VS>& materialized) const {
    return JoinTables<internal::JoinKind::kInner>(other, std::move(joiner), named, materialized);
  }
  template <class V2, class J>
  auto LeftJoin(const KTable<K, V2>& other, J joiner, const Named& named = {}) const {
    return JoinTables<internal::JoinKind::kLeft>(other, std::move(joiner), named, NoStore());
  }
  template <class V2, class J, Serde KS, Serde VS>
  auto LeftJoin(const KTable<K, V2>& other, J joiner, const Materialized<KS, VS>& materialized) const {
    return JoinTables<internal::JoinKind::kLeft>(other, std::move(joiner), Named(), materialized);
  }
  template <class V2, class J, Serde KS, Serde VS>
  auto LeftJoin(const KTable<K, V2>& other, J joiner, const Named& named,
                const Materialized<KS, VS>& materialized) const {
    return JoinTables<internal::JoinKind::kLeft>(other, std::move(joiner), named, materialized);
  }
  template <class V2, class J>
  auto OuterJoin(const KTable<K, V2>& other, J joiner, const Named& named = {}) const {
    return JoinTables<internal::JoinKind::kOuter>(other, std::move(joiner), named, NoStore());
  }
  template <class V2, class J, Serde KS, Serde VS>
  auto OuterJoin(const KTable<K, V2>& other, J joiner, const Materialized<KS, VS>& materialized) const {
    return JoinTables<internal::JoinKind::kOuter>(other, std::move(joiner), Named(), materialized);
  }
  template <class V2, class J, Serde KS, Serde VS>
  auto OuterJoin(const KTable<K, V2>& other, J joiner, const Named& named,
                 const Materialized<KS, VS>& materialized) const {
    return JoinTables<internal::JoinKind::kOuter>(other, std::move(joiner), named, materialized);
  }

  // Foreign-key joins (docs/joins.md): each row of this table names a key of `other`,
  // extractor(value) or extractor(key, value) -> KR (or std::optional<KR>; nullopt: no
  // foreign key); the result, keyed like this table, joins the row with other's row of
  // that key: joiner(value, other_value) for Join, joiner(value, std::optional<VR>) for
  // LeftJoin (optionally with const K& first). Correct under updates and deletes on
  // either side and under a change of the foreign key. The tables need not be
  // co-partitioned: subscriptions and responses go through two internal topics.
  // ForeignKeyJoined gives their serdes unless K, KR and VR have defaults; the result is
  // always kept in a store (Materialized names it and gives VR's serde).
  template <class KR, class VR, class F, class J>
    requires(!std::is_convertible_v<J, Named>)
  auto Join(const KTable<KR, VR>& other, F extractor, J joiner) const {
    return FkJoin<internal::JoinKind::kInner>(other, std::move(extractor), std::move(joiner),
                                             DefaultFkJoined<KR, VR>(), NoStore());
  }
  template <class KR, class VR, class F, class J, Serde KS, Serde VS>
  auto Join(const KTable<KR, VR>& other, F extractor, J joiner,
            const Materialized<KS, VS>& materialized) const {
    return FkJoin<internal::JoinKind::kInner>(other, std::move(extractor), std::move(joiner),
                                             DefaultFkJoined<KR, VR>(), materialized);
  }
  template <class KR, class VR, class F, class J, Serde KLS, Serde KRS, Serde VRS>
  auto Join(const KTable<KR, VR>& other, F extractor, J joiner,
            const ForeignKeyJoined<KLS, KRS, VRS>& joined) const {
    return FkJoin<internal::JoinKind::kInner>(other, std::move(extractor), std::move(joiner),
                                             joined, NoStore());
  }
  template <class KR, class VR, class F, class J, Serde KLS, Serde KRS, Serde VRS, Serde KS, Serde VS>
  auto Join(const KTable<KR, VR>& other, F extractor, J joiner,
            const ForeignKeyJoined<KLS, KRS, VRS>& joined, const Materialized<KS, VS>& materialized) const {
    return FkJoin<internal::JoinKind::kInner>(other, std::move(extractor), std::move(joiner),
                                             joined, materialized);
  }
  template <class KR, class VR, class F, class J>
    requires(!std::is_convertible_v<J, Named>)
  auto LeftJoin(const KTable<KR, VR>& other, F extractor, J joiner) const {
    return FkJoin<internal::JoinKind::kLeft>(other, std::move(extractor), std::move(joiner),
                                            DefaultFkJoined<KR, VR>(), NoStore());
  }
  template <class KR, class VR, class F, class J, Serde KS, Serde VS>
  auto LeftJoin(const KTable<KR, VR>& other, F extractor, J joiner,
                const Materialized<KS, VS>& materialized) const {
    return FkJoin<internal::JoinKind::kLeft>(other, std::move(extractor), std::move(joiner),
                                            DefaultFkJoined<KR, VR>(), materialized);
  }
  template <class KR, class VR, class F, class J, Serde KLS, Serde KRS, Serde VRS>
  auto LeftJoin(const KTable<KR, VR>& other, F extractor, J joiner,
                const ForeignKeyJoined<KLS, KRS, VRS>& joined) const {
    return FkJoin<internal::JoinKind::kLeft>(other, std::move(extractor), std::move(joiner),
                                            joined, NoStore());
  }
  template <class KR, class VR, class F, class J, Serde KLS, Serde KRS, Serde VRS, Serde KS, Serde VS>
  auto LeftJoin(const KTable<KR, VR>& other, F extractor, J joiner,
                const ForeignKeyJoined<KLS, KRS, VRS>& joined,
                const Materialized<KS, VS>& materialized) const {
    return FkJoin<internal::JoinKind::kLeft>(other, std::move(extractor), std::move(joiner),
                                            joined, materialized);
  }

  // The name of the store that holds this table, for interactive queries; empty when the
  // table is not materialized (a Filter or MapValues of one).
  const std::string& queryable_store_name() const { return store_; }

  // For the DSL's own use.
  KTable(std::shared_ptr<internal::GraphBuilder> graph, int node, std::string store,
         internal::GetterSupplierPtr<K, V> getter)
      : graph_(std::move(graph)), node_(node), store_(std::move(store)), getter_(std::move(getter)) {}
  int node_id() const { return node_; }
  const std::shared_ptr<internal::GraphBuilder>& graph() const { return graph_; }
  // How a join reads this table's current values.
  const internal::GetterSupplierPtr<K, V>& value_getter() const { return getter_; }

 private:
  std::string NameFor(std::string_view prefix, const Named& named) const {
    return named.name() && !named.name()->empty() ? *named.name() : graph_->NextName(prefix);
  }

  // The grace period of the windowed aggregation this table comes from, through nodes
  // with one parent (Filter, MapValues, Suppress).
  std::optional<int64_t> UpstreamWindowGrace() const {
    for (int id = node_;;) {
      const internal::GraphNode& node = graph_->nodes()[id];
      if (node.window_grace_ms) return node.window_grace_ms;
      if (node.parents.size() != 1) return std::nullopt;
      id = node.parents[0];
    }
  }

  struct NoStore {};

  template <class KR, class VR, bool = HasDefaultSerde<K> && HasDefaultSerde<KR> && HasDefaultSerde<VR>>
  struct DefaultFkJoinedOf {
    using type = int;
  };
  template <class KR, class VR>
  struct DefaultFkJoinedOf<KR, VR, true> {
    using type = ForeignKeyJoined<DefaultSerdeFor<K>, DefaultSerdeFor<KR>, DefaultSerdeFor<VR>>;
  };
  template <class KR, class VR>
  static typename DefaultFkJoinedOf<KR, VR>::type DefaultFkJoined() {
    return {};
  }

  template <internal::JoinKind kKind, class KR, class VR, class F, class J, class FJ, class Mat>
  auto FkJoin(const KTable<KR, VR>& other, F extractor, J joiner, const FJ& joined,
              const Mat& materialized) const {
    static_assert(!std::is_same_v<FJ, int>,
                  "KTable foreign-key join: the left key, the foreign key or the right value has "
                  "no default serde; pass ForeignKeyJoined<LeftKeySerde, ForeignKeySerde, "
                  "RightValueSerde>()");
    constexpr bool kExtractorFits =
        std::is_invocable_v<F&, const V&> || std::is_invocable_v<F&, const K&, const V&>;
    static_assert(std::copy_constructible<F> && kExtractorFits,
                  "KTable foreign-key join: the extractor must be copyable and callable as "
                  "KR(const V& value) or KR(const K& key, const V& value) (or return "
                  "std::optional<KR>)");
    static_assert(std::copy_constructible<J> && internal::kJoinerFits<kKind, K, V, VR, J>,
                  "KTable foreign-key join: the joiner must be copyable and callable as "
                  "VR2(const V&, const VR&) for Join, VR2(const V&, const std::optional<VR>&) "
                  "for LeftJoin (optionally with const K& key first)");
    if constexpr (std::is_same_v<FJ, int> || !kExtractorFits ||
                  !internal::kJoinerFits<kKind, K, V, VR, J>) {
      return *this;  // the static_asserts above have said what is wrong
    } else {
      using KLS = typename FJ::LeftKeySerde;
      using KRS = typename FJ::ForeignKeySerde;
      using VRS = typename FJ::RightValueSerde;
      static_assert(std::is_same_v<typename KLS::Type, K> && std::is_same_v<typename KRS::Type, KR> &&
                        std::is_same_v<typename VRS::Type, VR>,
                    "KTable foreign-key join: the serdes of ForeignKeyJoined do not match K, KR "
                    "and VR");
      using VOut = internal::JoinResult<kKind, K, V, VR, J>;
      using Fn = internal::TableJoinFn<kKind, K, V, VR, VOut, J>;
      // std::string, spelled so that KStream (complete only once kstream.h is done) is a
      // dependent type here.
      using Bytes = typename internal::DependentType<std::string, KR>::type;
      if (other.graph() != graph_) {
        graph_->AddError("KTable foreign-key join: the two tables come from different StreamsBuilders");
      }
      const Fn fn{std::move(joiner)};
      const KLS kls = joined.left_key_serde();
      const KRS krs = joined.foreign_key_serde();
      const VRS vrs = joined.right_value_serde();
      const std::string base = joined.name() ? *joined.name() : graph_->NextName("KTABLE-FK-JOIN-");
      const std::string subscriptions = base + "-subscription-store";
      internal::StoreSpec sub_spec;
      sub_spec.name = subscriptions;
      sub_spec.caching = false;
      graph_->AddStore(sub_spec);

      // Left: changes become subscriptions, or local results.
      internal::GraphNode subscribe;
      subscribe.name = graph_->NextName("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-");
      subscribe.parents = {node_};
      subscribe.factory = [kls, krs, extractor, fn](internal::TaskServices&) {
        return std::make_unique<internal::FkSubscribeNode<KLS, V, KRS, VR, VOut, F, Fn>>(
            kls, krs, extractor, fn);
      };
      const int subscribe_id = graph_->Add(std::move(subscribe));
      KStream<KR, std::string> registrations =
          KStream<KR, std::string>(graph_, subscribe_id)
              .Repartition(Repartitioned<KRS, StringSerde>(krs, StringSerde())
                               .WithName(base + "-subscription-registration"));

      // Right: subscriptions answered, and right changes answered to every subscriber.
      internal::GetterSupplierPtr<KR, VR> right = other.value_getter();
      internal::GraphNode process;
      process.name = graph_->NextName("KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-");
      process.parents = {registrations.node_id()};
      process.stores = right->stores;
      process.stores.push_back(subscriptions);
      process.factory = [subscriptions, krs, vrs, right](internal::TaskServices& services) {
        return std::make_unique<internal::FkSubscriptionNode<KRS, VRS>>(
            subscriptions, krs, vrs, right->make(services), services);
      };
      KStream<Bytes, Bytes> answers(graph_, graph_->Add(std::move(process)));
      internal::GraphNode update;
      update.name = graph_->NextName("KTABLE-FK-JOIN-RIGHT-UPDATE-");
      update.parents = {other.node_id()};
      update.stores = {subscriptions};
      update.factory = [subscriptions, krs, vrs](internal::TaskServices& services) {
        return std::make_unique<internal::FkRightUpdateNode<KRS, VRS>>(subscriptions, krs, vrs,
                                                                      services);
      };
      KStream<Bytes, Bytes> updates(graph_, graph_->Add(std::move(update)));
      // Keyed by the left key's bytes: partitioned exactly as the left table.
      KStream<Bytes, Bytes> responses =
          answers.Merge(updates, Named::As(graph_->NextName("KTABLE-FK-JOIN-MERGE-")))
              .Repartition(Repartitioned<StringSerde, StringSerde>().WithName(
                  base + "-subscription-response"));

      // Left again: responses joined with the current left row.
      internal::GetterSupplierPtr<K, V> left = getter_;
      internal::GraphNode resolve;
      resolve.name = graph_->NextName("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-");
      resolve.parents = {responses.node_id()};
      resolve.stores = left->stores;
      resolve.factory = [kls, krs, vrs, left, extractor, fn](internal::TaskServices& services) {
        return std::make_unique<internal::FkResponseNode<KLS, V, KRS, VRS, VOut, F, Fn>>(
            kls, krs, vrs, left->make(services), extractor, fn);
      };
      KStream<K, std::optional<VOut>> results(graph_, graph_->Add(std::move(resolve)));
      KStream<K, std::optional<VOut>> all =
          results.Merge(KStream<K, std::optional<VOut>>(graph_, subscribe_id),
                        Named::As(graph_->NextName("KTABLE-FK-JOIN-RESULT-MERGE-")));
      if constexpr (std::is_same_v<Mat, NoStore>) {
        static_assert(HasDefaultSerde<VOut>,
                      "KTable foreign-key join: the joiner's result type has no default serde for "
                      "the result store; pass Materialized<KeySerde, ResultSerde>()");
        return all.ToTable(Named(), Materialized<KLS, DefaultSerdeFor<VOut>>(kls, {}).WithName(
                                        graph_->NextName("KTABLE-FK-JOIN-OUTPUT-STATE-STORE-")));
      } else {
        return all.ToTable(Named(), materialized);
      }
    }
  }

  template <internal::JoinKind kKind, class V2, class J, class Mat>
  auto JoinTables(const KTable<K, V2>& other, J joiner, const Named& named,
                  const Mat& materialized) const {
    static_assert(std::copy_constructible<J> && internal::kJoinerFits<kKind, K, V, V2, J>,
                  "KTable::Join/LeftJoin/OuterJoin: the joiner must be copyable and callable as "
                  "VR(const V&, const V2&) for Join, VR(const V&, const std::optional<V2>&) for "
                  "LeftJoin, VR(const std::optional<V>&, const std::optional<V2>&) for OuterJoin "
                  "(optionally with const K& key first)");
    if constexpr (!internal::kJoinerFits<kKind, K, V, V2, J>) {
      return *this;  // the static_assert above has said what is wrong
    } else {
      using VOut = internal::JoinResult<kKind, K, V, V2, J>;
      using Fn = internal::TableJoinFn<kKind, K, V, V2, VOut, J>;
      constexpr bool kMaterialized = !std::is_same_v<Mat, NoStore>;
      if (other.graph() != graph_) {
        graph_->AddError("KTable::Join: the two tables come from different StreamsBuilders");
      }
      const char* this_prefix = kKind == internal::JoinKind::kInner   ? "KTABLE-JOINTHIS-"
                                : kKind == internal::JoinKind::kLeft ? "KTABLE-LEFTTHIS-"
                                                                     : "KTABLE-OUTERTHIS-";
      const char* other_prefix = kKind == internal::JoinKind::kInner   ? "KTABLE-JOINOTHER-"
                                 : kKind == internal::JoinKind::kLeft ? "KTABLE-LEFTOTHER-"
                                                                      : "KTABLE-OUTEROTHER-";
      const Fn fn{std::move(joiner)};
      internal::GetterSupplierPtr<K, V> this_getter = getter_;
      internal::GetterSupplierPtr<K, V2> other_getter = other.value_getter();

      internal::GraphNode this_side;
      this_side.name = graph_->NextName(this_prefix);
      this_side.parents = {node_};
      this_side.stores = other_getter->stores;
      this_side.factory = [other_getter, fn](internal::TaskServices& services) {
        return std::make_unique<internal::TableTableJoinNode<K, V, V2, VOut, Fn, true>>(
            other_getter->make(services), fn);
      };
      const int this_id = graph_->Add(std::move(this_side));

      internal::GraphNode other_side;
      other_side.name = graph_->NextName(other_prefix);
      other_side.parents = {other.node_id()};
      other_side.stores = this_getter->stores;
      other_side.factory = [this_getter, fn](internal::TaskServices& services) {
        return std::make_unique<internal::TableTableJoinNode<K, V2, V, VOut, Fn, false>>(
            this_getter->make(services), fn);
      };
      const int other_id = graph_->Add(std::move(other_side));

      internal::GraphNode merge;
      merge.name = NameFor("KTABLE-MERGE-", named);
      merge.parents = {this_id, other_id};
      if constexpr (kMaterialized) {
        using KS = typename Mat::KeySerde;
        using VS = typename Mat::ValueSerde;
        static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, VOut>,
                      "KTable::Join: the serdes of Materialized do not match K and the joiner's "
                      "result type");
        const std::string store = materialized.name()
                                      ? *materialized.name()
                                      : graph_->NextName("KTABLE-JOIN-STATE-STORE-");
        graph_->AddStore(materialized.Spec(store));
        merge.stores = {store};
        merge.factory = [store, ks = materialized.key_serde(),
                         vs = materialized.value_serde()](internal::TaskServices& services) {
          return std::make_unique<internal::MaterializedJoinMergeNode<KS, VS>>(store, ks, vs,
                                                                               services);
        };
        return KTable<K, VOut>(graph_, graph_->Add(std::move(merge)), store,
                               internal::StoreValueGetter<KS, VS>::Supplier(
                                   store, materialized.key_serde(), materialized.value_serde()));
      } else {
        merge.factory = [](internal::TaskServices&) {
          return std::make_unique<internal::TableJoinMergeNode<K, VOut>>();
        };
        return KTable<K, VOut>(
            graph_, graph_->Add(std::move(merge)), "",
            internal::JoinValueGetter<K, V, V2, VOut, Fn>::Supplier(this_getter, other_getter, fn));
      }
    }
  }

  // A table derived without a store; `fn(key, optional parent value) -> optional<V2>`
  // is how a join reads it: the parent's value, derived again.
  template <class V2, class Fn>
  KTable<K, V2> AddTableNode(std::string_view prefix, const Named& named,
                             internal::NodeFactory factory, Fn fn) const {
    internal::GraphNode node;
    node.name = NameFor(prefix, named);
    node.parents = {node_};
    node.factory = std::move(factory);
    return KTable<K, V2>(graph_, graph_->Add(std::move(node)), "",
                         internal::DerivedValueGetter<K, V, V2, Fn>::Supplier(getter_, std::move(fn)));
  }

  std::shared_ptr<internal::GraphBuilder> graph_;
  int node_;
  std::string store_;
  internal::GetterSupplierPtr<K, V> getter_;
};

// A stream grouped by key, ready to be aggregated into a table. When the key changed on
// the way here (Map, SelectKey, FlatMap, GroupBy), the aggregation reads the stream back
// from a repartition topic, partitioned by the new key, as in Kafka Streams.
template <class K, class V>
class KGroupedStream {
 public:
  // Counts the records per key.
  // Counts the records per key. `named` names the processor (as in Kafka Streams; the
  // store is named by Materialized).
  KTable<K, int64_t> Count(const Named& named = {}) const {
    static_assert(HasDefaultSerde<K>,
                  "KGroupedStream::Count: K has no default serde; pass "
                  "Materialized<KeySerde, Int64Serde>()");
    return Count(named, Materialized<DefaultSerdeFor<K>, Int64Serde>());
  }
  template <Serde KS>
  KTable<K, int64_t> Count(const Materialized<KS, Int64Serde>& materialized) const {
    return Count(Named(), materialized);
  }
  template <Serde KS>
  KTable<K, int64_t> Count(const Named& named, const Materialized<KS, Int64Serde>& materialized) const {
    static_assert(std::is_same_v<typename KS::Type, K>,
                  "KGroupedStream::Count: the key serde of Materialized does not serialize K");
    auto apply = [](const K&, const V&, const std::optional<int64_t>& current) -> int64_t {
      return current.value_or(0) + 1;
    };
    return Aggregate_<KS, Int64Serde>(materialized, apply, "KSTREAM-AGGREGATE-", named);
  }

  // Combines the values per key: reducer(aggregate, value); the first value of a key is
  // its first aggregate. The aggregate is passed as an rvalue: a reducer that takes it by
  // value (V aggregate, const V& value) gets it moved, not copied; so is the value, when
  // nothing after the reduce's input reads the record (V aggregate, V value).
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
    // The value is an rvalue too when the record is the node's alone to take (a sole
    // child): a key's first value becomes its aggregate by move, and a reducer that takes
    // its second parameter by value gets it moved.
    auto apply = [reducer](const K&, auto&& value, std::optional<V>&& current) mutable -> V {
      if (current) return reducer(std::move(*current), std::forward<decltype(value)>(value));
      return std::forward<decltype(value)>(value);
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
                                           std::optional<VA>&& current) mutable -> VA {
      return aggregator(key, value, current ? VA(std::move(*current)) : VA(initializer()));
    };
    return Aggregate_<KS, VAS>(materialized, apply, "KSTREAM-AGGREGATE-");
  }

  // Starts a cogrouped aggregation: several grouped streams (of the same key type, with
  // their own value types) folded into one table, each by its own aggregator.
  template <class VA, class F>
  CogroupedKStream<K, VA> Cogroup(F aggregator) const {
    return CogroupedKStream<K, VA>(graph_).template Add<V>(*this, std::move(aggregator));
  }

  // Aggregates per window: fixed time windows (tumbling or hopping) and sliding windows
  // give a TimeWindowedKStream, session windows a SessionWindowedKStream
  // (include/sluice/windowed_kstream.h).
  TimeWindowedKStream<K, V> WindowedBy(const TimeWindows& windows) const {
    return TimeWindowedKStream<K, V>(*this, windows);
  }
  TimeWindowedKStream<K, V> WindowedBy(const SlidingWindows& windows) const {
    return TimeWindowedKStream<K, V>(*this, windows);
  }
  SessionWindowedKStream<K, V> WindowedBy(const SessionWindows& windows) const {
    return SessionWindowedKStream<K, V>(*this, windows);
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
                                           Apply apply, std::string_view prefix,
                                           const Named& named = {}) const {
    // Kafka Streams names the store before the processor, and the repartition topic
    // after the grouping's name or else the store's.
    const std::string store = materialized.name()
                                  ? *materialized.name()
                                  : graph_->NextName(internal::Cat(prefix, "STATE-STORE-"));
    const int parent = AggregationParent(store);
    graph_->AddStore(materialized.Spec(store));
    internal::GraphNode node;
    node.name = named.name() && !named.name()->empty() ? *named.name() : graph_->NextName(prefix);
    node.parents = {parent};
    node.stores = {store};
    node.factory = [store, ks = materialized.key_serde(), vas = materialized.value_serde(),
                    apply](internal::TaskServices& services) {
      return std::make_unique<internal::AggregateNode<V, KS, VAS, Apply>>(
          store, ks, vas, apply, services);
    };
    return KTable<K, typename VAS::Type>(
        graph_, graph_->Add(std::move(node)), store,
        internal::StoreValueGetter<KS, VAS>::Supplier(store, materialized.key_serde(),
                                                      materialized.value_serde()));
  }

  // The node an aggregation with store `store` reads: this one, or the repartition
  // topic's source after a key change.
  int AggregationParent(const std::string& store) const {
    return repartition_ ? repartition_(name_.value_or(store)) : node_;
  }

  template <class, class>
  friend class CogroupedKStream;
  template <class, class>
  friend class TimeWindowedKStream;
  template <class, class>
  friend class SessionWindowedKStream;

  std::shared_ptr<internal::GraphBuilder> graph_;
  int node_;
  std::function<int(const std::string&)> repartition_;
  std::optional<std::string> name_;
};

// A table grouped by a new key (KTable::GroupBy), ready to be aggregated with an adder
// and a subtractor: when a row of the source table changes, its old value is subtracted
// from the aggregate of its old group and its new value added to that of its new group.
template <class K, class V>
class KGroupedTable {
 public:
  KTable<K, int64_t> Count() const {
    static_assert(HasDefaultSerde<K>, "KGroupedTable::Count: K has no default serde; pass "
                                      "Materialized<KeySerde, Int64Serde>()");
    return Count(Materialized<DefaultSerdeFor<K>, Int64Serde>());
  }
  template <Serde KS>
  KTable<K, int64_t> Count(const Materialized<KS, Int64Serde>& materialized) const {
    auto adjust = [](const K&, const Change<V>& change,
                     const std::optional<int64_t>& current) -> std::optional<int64_t> {
      int64_t n = current.value_or(0);
      if (change.old_value) --n;
      if (change.new_value) ++n;
      return n;
    };
    return Aggregate_<KS, Int64Serde>(materialized, adjust, "KTABLE-AGGREGATE-");
  }

  // adder(aggregate, value) and subtractor(aggregate, value); the first value of a group
  // is its first aggregate.
  template <class A, class S, Serde KS, Serde VS>
  KTable<K, V> Reduce(A adder, S subtractor, const Materialized<KS, VS>& materialized) const {
    static_assert(std::is_invocable_r_v<V, A&, const V&, const V&> &&
                      std::is_invocable_r_v<V, S&, const V&, const V&>,
                  "KGroupedTable::Reduce: the adder and subtractor must be callable as "
                  "V(const V& aggregate, const V& value)");
    auto adjust = [adder, subtractor](const K&, const Change<V>& change,
                                      std::optional<V>&& current) mutable -> std::optional<V> {
      std::optional<V> agg = std::move(current);
      if (change.old_value && agg) agg = subtractor(*agg, *change.old_value);
      if (change.new_value) agg = agg ? adder(*agg, *change.new_value) : *change.new_value;
      return agg;
    };
    return Aggregate_<KS, VS>(materialized, adjust, "KTABLE-REDUCE-");
  }
  template <class A, class S>
  KTable<K, V> Reduce(A adder, S subtractor) const {
    return Reduce(std::move(adder), std::move(subtractor),
                  Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<V>>());
  }

  // adder(key, value, aggregate) and subtractor(key, value, aggregate), starting from
  // initializer() for a new group.
  template <class I, class A, class S, Serde KS, Serde VAS>
  KTable<K, typename VAS::Type> Aggregate(I initializer, A adder, S subtractor,
                                          const Materialized<KS, VAS>& materialized) const {
    using VA = typename VAS::Type;
    static_assert(std::is_invocable_r_v<VA, I&> &&
                      std::is_invocable_r_v<VA, A&, const K&, const V&, VA&&> &&
                      std::is_invocable_r_v<VA, S&, const K&, const V&, VA&&>,
                  "KGroupedTable::Aggregate: the initializer must be callable as VA(), the "
                  "adder and subtractor as VA(const K& key, const V& value, VA aggregate)");
    auto adjust = [initializer, adder, subtractor](const K& key, const Change<V>& change,
                                                   std::optional<VA>&& current) mutable
        -> std::optional<VA> {
      const bool had = current.has_value();
      VA agg = current ? VA(std::move(*current)) : VA(initializer());
      if (change.old_value && had) agg = subtractor(key, *change.old_value, std::move(agg));
      if (change.new_value) agg = adder(key, *change.new_value, std::move(agg));
      return agg;
    };
    return Aggregate_<KS, VAS>(materialized, adjust, "KTABLE-AGGREGATE-");
  }
  template <class I, class A, class S>
  auto Aggregate(I initializer, A adder, S subtractor) const {
    using VA = std::remove_cvref_t<std::invoke_result_t<I&>>;
    return Aggregate(std::move(initializer), std::move(adder), std::move(subtractor),
                     Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<VA>>());
  }

  // For the DSL's own use.
  using Repartition =
      std::function<KStream<K, Change<V>>(KStream<K, Change<V>>, const std::string& base)>;
  KGroupedTable(std::shared_ptr<internal::GraphBuilder> graph, KStream<K, Change<V>> selected,
                std::optional<std::string> name, Repartition repartition)
      : graph_(std::move(graph)), selected_(std::move(selected)), name_(std::move(name)),
        repartition_(std::move(repartition)) {}

 private:
  template <Serde KS, Serde VAS, class Adjust>
  KTable<K, typename VAS::Type> Aggregate_(const Materialized<KS, VAS>& materialized,
                                           Adjust adjust, std::string_view prefix) const {
    static_assert(std::is_same_v<typename KS::Type, K>,
                  "KGroupedTable: the key serde of Materialized does not serialize K");
    const std::string store = materialized.name()
                                  ? *materialized.name()
                                  : graph_->NextName(internal::Cat(prefix, "STATE-STORE-"));
    KStream<K, Change<V>> source = repartition_(selected_, name_.value_or(store));
    graph_->AddStore(materialized.Spec(store));
    internal::GraphNode node;
    node.name = graph_->NextName(prefix);
    node.parents = {source.node_id()};
    node.stores = {store};
    node.factory = [store, ks = materialized.key_serde(), vas = materialized.value_serde(),
                    adjust](internal::TaskServices& services) {
      return std::make_unique<internal::AggregateNode<Change<V>, KS, VAS, Adjust>>(
          store, ks, vas, adjust, services);
    };
    return KTable<K, typename VAS::Type>(
        graph_, graph_->Add(std::move(node)), store,
        internal::StoreValueGetter<KS, VAS>::Supplier(store, materialized.key_serde(),
                                                      materialized.value_serde()));
  }

  std::shared_ptr<internal::GraphBuilder> graph_;
  KStream<K, Change<V>> selected_;
  std::optional<std::string> name_;
  Repartition repartition_;
};

// Several grouped streams folded into one table (KGroupedStream::Cogroup): each input's
// records are applied by that input's aggregator to the one aggregate per key.
template <class K, class VA>
class CogroupedKStream {
 public:
  // Adds another grouped stream, with aggregator(key, value, aggregate) -> aggregate.
  template <class V, class F>
  CogroupedKStream Cogroup(const KGroupedStream<K, V>& grouped, F aggregator) const {
    return CogroupedKStream(*this).template Add<V>(grouped, std::move(aggregator));
  }

  template <class I>
  KTable<K, VA> Aggregate(I initializer) const {
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<VA>,
                  "CogroupedKStream::Aggregate: K or the aggregate type has no default serde; "
                  "pass Materialized<KeySerde, AggregateSerde>()");
    return Aggregate(std::move(initializer), Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<VA>>());
  }
  template <class I, Serde KS, Serde VAS>
  KTable<K, VA> Aggregate(I initializer, const Materialized<KS, VAS>& materialized) const {
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VAS::Type, VA>,
                  "CogroupedKStream::Aggregate: the serdes of Materialized do not match K and "
                  "the aggregate type");
    static_assert(std::is_invocable_r_v<VA, I&>,
                  "CogroupedKStream::Aggregate: the initializer must be callable as VA()");
    const std::string store = materialized.name()
                                  ? *materialized.name()
                                  : graph_->NextName("COGROUPKSTREAM-AGGREGATE-STATE-STORE-");
    // Each input, repartitioned if its key changed, becomes a stream of "apply me"
    // functions; their merge feeds one aggregation over the shared store.
    std::optional<KStream<K, Step>> merged;
    for (const Input& input : inputs_) {
      KStream<K, Step> steps = input(store);
      merged = merged ? merged->Merge(steps, Named::As(graph_->NextName("COGROUPKSTREAM-MERGE-")))
                      : steps;
    }
    graph_->AddStore(materialized.Spec(store));
    auto apply = [initializer](const K& key, const Step& step,
                               std::optional<VA>&& current) mutable -> VA {
      return step(key, current ? VA(std::move(*current)) : VA(initializer()));
    };
    internal::GraphNode node;
    node.name = graph_->NextName("COGROUPKSTREAM-AGGREGATE-");
    node.parents = {merged->node_id()};
    node.stores = {store};
    node.factory = [store, ks = materialized.key_serde(), vas = materialized.value_serde(),
                    apply](internal::TaskServices& services) {
      return std::make_unique<internal::AggregateNode<Step, KS, VAS, decltype(apply)>>(
          store, ks, vas, apply, services);
    };
    return KTable<K, VA>(graph_, graph_->Add(std::move(node)), store,
                         internal::StoreValueGetter<KS, VAS>::Supplier(
                             store, materialized.key_serde(), materialized.value_serde()));
  }

  // For the DSL's own use.
  explicit CogroupedKStream(std::shared_ptr<internal::GraphBuilder> graph) : graph_(std::move(graph)) {}

  template <class V, class F>
  CogroupedKStream Add(const KGroupedStream<K, V>& grouped, F aggregator) {
    static_assert(std::copy_constructible<F> &&
                      std::is_invocable_r_v<VA, F&, const K&, const V&, VA&&>,
                  "Cogroup: the aggregator must be copyable and callable as "
                  "VA(const K& key, const V& value, VA aggregate)");
    inputs_.push_back([grouped, aggregator](const std::string& store) {
      int parent = grouped.node_;
      if (grouped.repartition_) parent = grouped.repartition_(grouped.name_.value_or(store + "-" + std::to_string(parent)));
      KStream<K, V> stream(grouped.graph_, parent);
      return stream.MapValues([aggregator](const V& value) -> Step {
        return [aggregator, value](const K& key, VA agg) mutable {
          return aggregator(key, value, std::move(agg));
        };
      });
    });
    return *this;
  }

 private:
  using Step = std::function<VA(const K&, VA)>;
  using Input = std::function<KStream<K, Step>(const std::string& store)>;

  std::shared_ptr<internal::GraphBuilder> graph_;
  std::vector<Input> inputs_;
};

}  // namespace sluice

#include "sluice/windowed_kstream.h"  // TimeWindowedKStream, SessionWindowedKStream
