// KStream<K, V>: a typed handle on a record stream, and the stateless DSL over it.
//
//   StreamsBuilder builder;
//   builder.Stream<std::string, std::string>("page-views")
//       .Filter([](const std::string& user, const std::string& url) { return !url.empty(); })
//       .MapValues([](const std::string& url) { return static_cast<int64_t>(url.size()); })
//       .To("url-lengths");
//
// A handle only builds the graph: it is cheap to copy, and using one handle twice fans the
// stream out. User functions are template parameters, inlined into the per-batch loop of
// their operator; they must be copyable (each task gets its own copy) and must not keep
// references to a key or value after they return. Misuse fails at compile time with a
// message that says what the function must look like.
#pragma once

#include <concepts>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/global_ktable.h"
#include "sluice/internal/graph.h"
#include "sluice/internal/join.h"
#include "sluice/internal/stream_join.h"
#include "sluice/join_windows.h"
#include "sluice/internal/source_sink.h"
#include "sluice/internal/processor_node.h"
#include "sluice/internal/stateful.h"
#include "sluice/internal/stateless.h"
#include "sluice/key_value.h"
#include "sluice/materialized.h"
#include "sluice/named.h"
#include "sluice/processor.h"
#include "sluice/record_context.h"
#include "sluice/serde.h"

namespace sluice {

template <class K, class V>
class KStream;
template <class K, class V>
class BranchedKStream;
template <class K, class V>
class KGroupedStream;
template <class K, class V>
class KTable;

// The shapes of user functions, usable in static_assert and requires-clauses.
template <class P, class K, class V>
concept StreamPredicate = std::copy_constructible<P> &&
                          std::is_invocable_r_v<bool, P&, const K&, const V&>;

template <class F, class K, class V>
concept KeyValueMapper = std::copy_constructible<F> &&
    std::is_invocable_v<F&, const K&, const V&> && std::is_invocable_v<F&, K&&, V&&> &&
    internal::KeyValueLike<std::invoke_result_t<F&, const K&, const V&>>;

template <class F, class K, class V>
concept ValueMapper = std::copy_constructible<F> &&
    ((std::is_invocable_v<F&, const K&, const V&> &&
      !std::is_void_v<std::invoke_result_t<F&, const K&, const V&>>) ||
     (std::is_invocable_v<F&, const V&> && std::is_invocable_v<F&, V&&> &&
      !std::is_void_v<std::invoke_result_t<F&, const V&>>));

template <class F, class K, class V>
concept ForeachAction = std::copy_constructible<F> && std::is_invocable_v<F&, const K&, const V&>;

namespace internal {
template <class F, class K, class V>
struct ValueMapperResult {
  using type = std::invoke_result_t<F&, const V&>;
};
template <class F, class K, class V>
  requires std::is_invocable_v<F&, const K&, const V&>
struct ValueMapperResult<F, K, V> {
  using type = std::invoke_result_t<F&, const K&, const V&>;
};
template <class F, class K, class V>
using ValueMapperResultT = std::remove_cvref_t<typename ValueMapperResult<F, K, V>::type>;

template <class T>
struct UnwrapOptional {
  using type = T;
};
template <class T>
struct UnwrapOptional<std::optional<T>> {
  using type = T;
};

template <class R>
using RangeElementT = std::remove_cvref_t<std::ranges::range_reference_t<R>>;

template <class F, class K, class V>
concept FlatKeyValueMapper = std::copy_constructible<F> &&
    std::is_invocable_v<F&, const K&, const V&> &&
    std::ranges::input_range<std::invoke_result_t<F&, const K&, const V&>> &&
    KeyValueLike<RangeElementT<std::invoke_result_t<F&, const K&, const V&>>>;

template <class F, class K, class V>
concept FlatValueMapper = ValueMapper<F, K, V> &&
    std::ranges::input_range<typename ValueMapperResult<F, K, V>::type>;
}  // namespace internal

// What to do with one branch of a split: its name, and an optional function applied to it.
template <class K, class V>
class Branched {
 public:
  Branched() = default;
  static Branched As(std::string name) {
    Branched b;
    b.name_ = std::move(name);
    return b;
  }
  // The branch is handed to `fn`; the stream it returns is what the result map holds.
  static Branched WithFunction(std::function<KStream<K, V>(KStream<K, V>)> fn,
                               std::string name = {}) {
    Branched b = As(std::move(name));
    b.function_ = std::move(fn);
    return b;
  }
  // The branch is handed to `fn` and left out of the result map.
  static Branched WithConsumer(std::function<void(KStream<K, V>)> fn, std::string name = {}) {
    Branched b = As(std::move(name));
    b.consumer_ = std::move(fn);
    return b;
  }

 private:
  friend class BranchedKStream<K, V>;
  std::string name_;
  std::function<KStream<K, V>(KStream<K, V>)> function_;
  std::function<void(KStream<K, V>)> consumer_;
};

template <class K, class V>
class KStream {
 public:
  using Key = K;
  using Value = V;

  // Keeps the records for which predicate(key, value) is true.
  template <class P>
  KStream Filter(P predicate, const Named& named = {}) const {
    static_assert(StreamPredicate<P, K, V>,
                  "KStream::Filter: the predicate must be copyable and callable as "
                  "bool(const K& key, const V& value)");
    return Add<K, V>("KSTREAM-FILTER-", named, [predicate](internal::TaskServices&) {
      return std::make_unique<internal::FilterNode<K, V, P, false>>(predicate);
    });
  }

  // Drops the records for which predicate(key, value) is true.
  template <class P>
  KStream FilterNot(P predicate, const Named& named = {}) const {
    static_assert(StreamPredicate<P, K, V>,
                  "KStream::FilterNot: the predicate must be copyable and callable as "
                  "bool(const K& key, const V& value)");
    return Add<K, V>("KSTREAM-FILTER-", named, [predicate](internal::TaskServices&) {
      return std::make_unique<internal::FilterNode<K, V, P, true>>(predicate);
    });
  }

  // A new key and value per record: mapper(key, value) returns KeyValue{k, v} or a pair.
  // Changing the key marks the stream for repartitioning before stateful operators.
  template <class F>
  auto Map(F mapper, const Named& named = {}) const {
    static_assert(KeyValueMapper<F, K, V>,
                  "KStream::Map: the mapper must be copyable and callable as "
                  "KeyValue<K2, V2>(const K& key, const V& value) (a std::pair also works)");
    using R = std::remove_cvref_t<std::invoke_result_t<F&, const K&, const V&>>;
    using K2 = typename internal::KeyValueTraits<R>::Key;
    using V2 = typename internal::KeyValueTraits<R>::Value;
    return Add<K2, V2>("KSTREAM-MAP-", named, [mapper](internal::TaskServices&) {
      return std::make_unique<internal::MapNode<K, V, K2, V2, F>>(mapper);
    }, /*key_changing=*/true);
  }

  // A new value per record: mapper(value) or mapper(key, value).
  template <class F>
  auto MapValues(F mapper, const Named& named = {}) const {
    static_assert(ValueMapper<F, K, V>,
                  "KStream::MapValues: the mapper must be copyable and callable as "
                  "V2(const V& value) or V2(const K& key, const V& value)");
    using V2 = internal::ValueMapperResultT<F, K, V>;
    return Add<K, V2>("KSTREAM-MAPVALUES-", named, [mapper](internal::TaskServices&) {
      return std::make_unique<internal::MapValuesNode<K, V, V2, F>>(mapper);
    });
  }

  // A new key per record: selector(key, value) returns it.
  template <class F>
  auto SelectKey(F selector, const Named& named = {}) const {
    static_assert(std::copy_constructible<F> && std::is_invocable_v<F&, const K&, const V&> &&
                      !std::is_void_v<std::invoke_result_t<F&, const K&, const V&>>,
                  "KStream::SelectKey: the selector must be copyable and callable as "
                  "K2(const K& key, const V& value)");
    using K2 = std::remove_cvref_t<std::invoke_result_t<F&, const K&, const V&>>;
    return Add<K2, V>("KSTREAM-KEY-SELECT-", named, [selector](internal::TaskServices&) {
      return std::make_unique<internal::SelectKeyNode<K, V, K2, F>>(selector);
    }, /*key_changing=*/true);
  }

  // Zero or more records per record: mapper(key, value) returns a range of KeyValue/pair.
  template <class F>
  auto FlatMap(F mapper, const Named& named = {}) const {
    static_assert(internal::FlatKeyValueMapper<F, K, V>,
                  "KStream::FlatMap: the mapper must be copyable and callable as "
                  "Range(const K& key, const V& value), where Range is a range (e.g. "
                  "std::vector) of KeyValue<K2, V2> or std::pair<K2, V2>");
    using E = internal::RangeElementT<std::invoke_result_t<F&, const K&, const V&>>;
    using K2 = typename internal::KeyValueTraits<E>::Key;
    using V2 = typename internal::KeyValueTraits<E>::Value;
    return Add<K2, V2>("KSTREAM-FLATMAP-", named, [mapper](internal::TaskServices&) {
      return std::make_unique<internal::FlatMapNode<K, V, K2, V2, F>>(mapper);
    }, /*key_changing=*/true);
  }

  // Zero or more values per record, each keeping the record's key: mapper(value) or
  // mapper(key, value) returns a range of values.
  template <class F>
  auto FlatMapValues(F mapper, const Named& named = {}) const {
    static_assert(internal::FlatValueMapper<F, K, V>,
                  "KStream::FlatMapValues: the mapper must be copyable and callable as "
                  "Range(const V& value) or Range(const K& key, const V& value), where "
                  "Range is a range (e.g. std::vector) of values");
    using V2 = internal::RangeElementT<typename internal::ValueMapperResult<F, K, V>::type>;
    return Add<K, V2>("KSTREAM-FLATMAPVALUES-", named, [mapper](internal::TaskServices&) {
      return std::make_unique<internal::FlatMapValuesNode<K, V, V2, F>>(mapper);
    });
  }

  // Calls action(key, value) for every record and passes the records on unchanged.
  template <class F>
  KStream Peek(F action, const Named& named = {}) const {
    static_assert(ForeachAction<F, K, V>,
                  "KStream::Peek: the action must be copyable and callable as "
                  "void(const K& key, const V& value)");
    return Add<K, V>("KSTREAM-PEEK-", named, [action](internal::TaskServices&) {
      return std::make_unique<internal::PeekNode<K, V, F>>(action);
    });
  }

  // Calls action(key, value) for every record; the end of this branch of the topology.
  template <class F>
  void Foreach(F action, const Named& named = {}) const {
    static_assert(ForeachAction<F, K, V>,
                  "KStream::Foreach: the action must be copyable and callable as "
                  "void(const K& key, const V& value)");
    Add<K, V>("KSTREAM-FOREACH-", named, [action](internal::TaskServices&) {
      return std::make_unique<internal::PeekNode<K, V, F>>(action);
    });
  }

  // Runs a user Processor (processor.h) on every record: `supplier()` returns a new
  // std::unique_ptr to one for each task. `stores` names the state stores (added with
  // StreamsBuilder::AddStateStore) it may use. The result is what it forwards.
  template <class Supplier>
  auto Process(Supplier supplier, std::vector<std::string> stores = {},
               const Named& named = {}) const {
    return AddProcessor<false>(std::move(supplier), std::move(stores), named);
  }

  // Kafka Streams' processValues: the same, for a Processor<K, V, K, VOut> that forwards
  // every record under the key it came with, so a stateful operator after it needs no
  // repartition. Forwarding another key fails the task, naming the processor.
  template <class Supplier>
  auto ProcessValues(Supplier supplier, std::vector<std::string> stores = {},
                     const Named& named = {}) const {
    return AddProcessor<true>(std::move(supplier), std::move(stores), named);
  }

  // Splits the stream into branches by predicate; see BranchedKStream.
  BranchedKStream<K, V> Split(const Named& named = {}) const;

  // The records of this stream and `other`, in the order they arrive.
  KStream Merge(const KStream& other, const Named& named = {}) const {
    internal::GraphNode node;
    node.name = NameFor("KSTREAM-MERGE-", named);
    node.parents = {node_, other.node_};
    node.needs_flush = true;
    node.factory = [](internal::TaskServices&) {
      return std::make_unique<internal::MergeNode<K, V>>();
    };
    return KStream(graph_, graph_->Add(std::move(node)),
                   repartition_required_ || other.repartition_required_);
  }

  // Writes the stream to `topic` with the default serdes of K and V.
  void To(std::string topic, const Named& named = {}) const {
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<V>,
                  "KStream::To: K or V has no default serde; pass Produced<KeySerde, "
                  "ValueSerde>() to To()");
    To(std::move(topic), Produced<DefaultSerdeFor<K>, DefaultSerdeFor<V>>().WithName(
                             named.name().value_or("")));
  }

  // Writes the stream to `topic`. A stream of std::optional<T> (a table's updates) may
  // be written with a serde of T: nullopt becomes a tombstone.
  template <Serde KS, Serde VS>
  void To(std::string topic, const Produced<KS, VS>& produced) const {
    static_assert(std::is_same_v<typename KS::Type, K>,
                  "KStream::To: the key serde of Produced does not serialize this stream's K");
    if constexpr (!std::is_same_v<typename VS::Type, V> &&
                  std::is_same_v<std::optional<typename VS::Type>, V> && !NullableSerde<VS>) {
      Produced<KS, Nullable<VS>> nullable(produced.key_serde(), Nullable<VS>(produced.value_serde()));
      if (produced.name()) nullable = nullable.WithName(*produced.name());
      if (produced.partitioner()) {
        // A tombstone goes where the key's records go: the partitioner sees a default value.
        nullable = nullable.WithStreamPartitioner(
            [p = produced.partitioner()](std::string_view t, const K& key, const V& value,
                                         int32_t n) {
              return p(t, key, value ? *value : typename VS::Type{}, n);
            });
      }
      AddSink(std::move(topic), {}, nullable, false, std::nullopt);
    } else {
      static_assert(std::is_same_v<typename VS::Type, V>,
                    "KStream::To: the value serde of Produced does not serialize this stream's V");
      AddSink(std::move(topic), {}, produced, false, std::nullopt);
    }
  }

  // Writes each record to the topic extractor(key, value, context) names.
  template <Serde KS, Serde VS>
  void To(internal::TopicNameExtractor<K, V> extractor, const Produced<KS, VS>& produced) const {
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V>,
                  "KStream::To: the serdes of Produced do not match this stream's K and V");
    AddSink({}, std::move(extractor), produced, false, std::nullopt);
  }

  // Writes the stream through the internal topic `<application.id>-<name>-repartition`
  // and reads it back in a new sub-topology, partitioned by the current key.
  KStream Repartition() const {
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<V>,
                  "KStream::Repartition: K or V has no default serde; pass "
                  "Repartitioned<KeySerde, ValueSerde>()");
    return Repartition(Repartitioned<DefaultSerdeFor<K>, DefaultSerdeFor<V>>());
  }

  template <Serde KS, Serde VS>
  KStream Repartition(const Repartitioned<KS, VS>& repartitioned) const {
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V>,
                  "KStream::Repartition: the serdes of Repartitioned do not match this "
                  "stream's K and V");
    const std::string base = repartitioned.name() ? *repartitioned.name()
                                                  : graph_->NextName("KSTREAM-REPARTITION-");
    const std::string topic = base + "-repartition";
    Produced<KS, VS> produced(repartitioned.key_serde(), repartitioned.value_serde());
    produced = produced.WithName(base + "-repartition-sink");
    if (repartitioned.partitioner()) {
      produced = produced.WithStreamPartitioner(repartitioned.partitioner());
    }
    AddSink(topic, {}, produced, true, repartitioned.partitions());

    internal::GraphNode source;
    source.kind = internal::NodeKind::kSource;
    source.name = base + "-repartition-source";
    source.topics = {topic};
    source.internal_topic = true;
    source.factory = [ks = repartitioned.key_serde(),
                      vs = repartitioned.value_serde()](internal::TaskServices& services) {
      // Records keep the timestamps they were written with.
      return std::make_unique<internal::SourceNode<KS, VS>>(
          ks, vs, nullptr, std::nullopt, services, /*record_timestamps=*/true);
    };
    return KStream(graph_, graph_->Add(std::move(source)));
  }

  // Groups the records by their key, for an aggregation. If the key changed upstream
  // (Map, SelectKey, FlatMap), the records go through a repartition topic first, written
  // with the default serdes of K and V, or those of `grouped`.
  KGroupedStream<K, V> GroupByKey() const {
    if (!repartition_required_) return KGroupedStream<K, V>(graph_, node_, {}, std::nullopt);
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<V>,
                  "KStream::GroupByKey: K or V has no default serde for the repartition topic; "
                  "pass Grouped<KeySerde, ValueSerde>()");
    return GroupByKey(Grouped<DefaultSerdeFor<K>, DefaultSerdeFor<V>>());
  }
  template <Serde KS, Serde VS>
  KGroupedStream<K, V> GroupByKey(const Grouped<KS, VS>& grouped) const {
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V>,
                  "KStream::GroupByKey: the serdes of Grouped do not match this stream's K and V");
    std::function<int(const std::string&)> repartition;
    if (repartition_required_) {
      repartition = [self = *this, grouped](const std::string& base) {
        return self.Repartition(Repartitioned<KS, VS>(grouped.key_serde(), grouped.value_serde())
                                    .WithName(base))
            .node_id();
      };
    }
    return KGroupedStream<K, V>(graph_, node_, std::move(repartition), grouped.name());
  }

  // Groups the records by selector(key, value): SelectKey, then GroupByKey (which
  // repartitions by the new key).
  template <class F>
  auto GroupBy(F selector, const Named& named = {}) const {
    return SelectKey(std::move(selector), named).GroupByKey();
  }
  template <class F, Serde KS, Serde VS>
  auto GroupBy(F selector, const Grouped<KS, VS>& grouped) const {
    return SelectKey(std::move(selector)).GroupByKey(grouped);
  }

  // The stream as a table: each record upserts its key. A stream of std::optional<T>
  // becomes a table of T where nullopt deletes the key.
  auto ToTable(const Named& named = {}) const {
    using T = typename internal::UnwrapOptional<V>::type;
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<T>,
                  "KStream::ToTable: K or V has no default serde; pass "
                  "Materialized<KeySerde, ValueSerde>()");
    return ToTable(named, Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<T>>());
  }
  template <Serde KS, Serde VS>
  KTable<K, typename VS::Type> ToTable(const Named& named,
                                       const Materialized<KS, VS>& materialized) const {
    static_assert(std::is_same_v<typename KS::Type, K> &&
                      std::is_same_v<typename VS::Type, typename internal::UnwrapOptional<V>::type>,
                  "KStream::ToTable: the serdes of Materialized do not match this stream's K and V");
    const std::string store = materialized.name()
                                  ? *materialized.name()
                                  : graph_->NextName("KSTREAM-TOTABLE-STATE-STORE-");
    int parent = node_;
    if (repartition_required_) {
      if constexpr (HasDefaultSerde<V>) {
        parent = Repartition(Repartitioned<KS, DefaultSerdeFor<V>>(materialized.key_serde(), {})
                                 .WithName(store))
                     .node_id();
      } else {
        static_assert(HasDefaultSerde<V>,
                      "KStream::ToTable after a key change needs a default serde for V");
      }
    }
    graph_->AddStore(materialized.Spec(store));
    internal::GraphNode node;
    node.name = NameFor("KSTREAM-TOTABLE-", named);
    node.parents = {parent};
    node.stores = {store};
    node.factory = [store, ks = materialized.key_serde(),
                    vs = materialized.value_serde()](internal::TaskServices& services) {
      return std::make_unique<internal::ToTableNode<V, KS, VS>>(store, ks, vs, services);
    };
    return KTable<K, typename VS::Type>(
        graph_, graph_->Add(std::move(node)), store,
        internal::StoreValueGetter<KS, VS>::Supplier(store, materialized.key_serde(),
                                                     materialized.value_serde()));
  }

  // Joins each record with the table's current value for its key (docs/joins.md):
  // joiner(value, table_value) or joiner(key, value, table_value) gives the output
  // value. Inner: a record whose key has no table value is dropped. Table updates emit
  // nothing. If the key changed upstream, the stream is repartitioned first (through
  // `<name>-repartition`, with the serdes of `joined` or the defaults of K and V). The
  // stream's and the table's topics must have the same partition count.
  template <class VT, class J>
  auto Join(const KTable<K, VT>& table, J joiner) const {
    return JoinTable<false>(table, std::move(joiner), std::optional<DefaultJoined>());
  }
  template <class VT, class J, Serde KS, Serde VS>
  auto Join(const KTable<K, VT>& table, J joiner, const Joined<KS, VS>& joined) const {
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V>,
                  "KStream::Join: the serdes of Joined do not match this stream's K and V");
    return JoinTable<false>(table, std::move(joiner), std::optional(joined));
  }
  // Left join: every record is joined; joiner(value, std::optional<VT>) sees nullopt
  // where the table has no value for the key.
  template <class VT, class J>
  auto LeftJoin(const KTable<K, VT>& table, J joiner) const {
    return JoinTable<true>(table, std::move(joiner), std::optional<DefaultJoined>());
  }
  template <class VT, class J, Serde KS, Serde VS>
  auto LeftJoin(const KTable<K, VT>& table, J joiner, const Joined<KS, VS>& joined) const {
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V>,
                  "KStream::LeftJoin: the serdes of Joined do not match this stream's K and V");
    return JoinTable<true>(table, std::move(joiner), std::optional(joined));
  }

  // Joins each record with a GlobalKTable: selector(key, value) gives the table key to
  // look up; joiner(value, table_value) (or with the stream key first) the output value.
  // The output keeps the stream's key. No co-partitioning and no repartition: every
  // instance holds the whole table. Join drops records without a table value; LeftJoin
  // passes std::optional<VG>.
  template <class KG, class VG, class S, class J>
  auto Join(const GlobalKTable<KG, VG>& table, S selector, J joiner) const {
    return JoinGlobal<false>(table, std::move(selector), std::move(joiner));
  }
  template <class KG, class VG, class S, class J>
  auto LeftJoin(const GlobalKTable<KG, VG>& table, S selector, J joiner) const {
    return JoinGlobal<true>(table, std::move(selector), std::move(joiner));
  }

  // Windowed joins with another stream (docs/joins.md): a record of this stream at time t
  // joins the other stream's records of the same key with timestamps in
  // [t - before, t + after] (JoinWindows). Both streams' records wait in window stores
  // (RocksDB, changelogged, kept for before + after + grace); a record older than that
  // behind stream time is dropped and counted (AppMetrics::records_late). Joiners, with
  // an optional const K& first:
  //   Join:      VR(const V&, const V2&)
  //   LeftJoin:  VR(const V&, const std::optional<V2>&): a record with no partner gets
  //              nullopt once its window has closed (t + after + grace), never earlier
  //   OuterJoin: VR(const std::optional<V>&, const std::optional<V2>&): likewise both ways
  // The output's timestamp is the larger of the two records'. If either stream's key
  // changed upstream, it is repartitioned first. StreamJoined gives the serdes (needed
  // unless K, V and V2 have default serdes) and the names.
  template <class V2, class J>
  auto Join(const KStream<K, V2>& other, J joiner, const JoinWindows& windows) const {
    return JoinStream<internal::JoinKind::kInner>(other, std::move(joiner), windows, DefaultStreamJoined<V2>());
  }
  template <class V2, class J, Serde KS, Serde VS, Serde VOS>
  auto Join(const KStream<K, V2>& other, J joiner, const JoinWindows& windows,
            const StreamJoined<KS, VS, VOS>& joined) const {
    return JoinStream<internal::JoinKind::kInner>(other, std::move(joiner), windows, joined);
  }
  template <class V2, class J>
  auto LeftJoin(const KStream<K, V2>& other, J joiner, const JoinWindows& windows) const {
    return JoinStream<internal::JoinKind::kLeft>(other, std::move(joiner), windows, DefaultStreamJoined<V2>());
  }
  template <class V2, class J, Serde KS, Serde VS, Serde VOS>
  auto LeftJoin(const KStream<K, V2>& other, J joiner, const JoinWindows& windows,
                const StreamJoined<KS, VS, VOS>& joined) const {
    return JoinStream<internal::JoinKind::kLeft>(other, std::move(joiner), windows, joined);
  }
  template <class V2, class J>
  auto OuterJoin(const KStream<K, V2>& other, J joiner, const JoinWindows& windows) const {
    return JoinStream<internal::JoinKind::kOuter>(other, std::move(joiner), windows, DefaultStreamJoined<V2>());
  }
  template <class V2, class J, Serde KS, Serde VS, Serde VOS>
  auto OuterJoin(const KStream<K, V2>& other, J joiner, const JoinWindows& windows,
                 const StreamJoined<KS, VS, VOS>& joined) const {
    return JoinStream<internal::JoinKind::kOuter>(other, std::move(joiner), windows, joined);
  }

  // For the DSL's own use.
  KStream(std::shared_ptr<internal::GraphBuilder> graph, int node, bool repartition_required = false)
      : graph_(std::move(graph)), node_(node), repartition_required_(repartition_required) {}
  int node_id() const { return node_; }
  // True when the key changed since the stream was last read from a topic.
  bool repartition_required() const { return repartition_required_; }
  const std::shared_ptr<internal::GraphBuilder>& graph() const { return graph_; }

 private:
  template <class, class>
  friend class BranchedKStream;

  std::string NameFor(std::string_view prefix, const Named& named) const {
    return named.name() && !named.name()->empty() ? *named.name() : graph_->NextName(prefix);
  }

  // The Joined of a join with no Joined argument: default serdes (checked only where a
  // repartition needs them).
  template <class KK, class VV, bool = HasDefaultSerde<KK> && HasDefaultSerde<VV>>
  struct DefaultJoinedOf {
    using type = int;
  };
  template <class KK, class VV>
  struct DefaultJoinedOf<KK, VV, true> {
    using type = Joined<DefaultSerdeFor<KK>, DefaultSerdeFor<VV>>;
  };
  using DefaultJoined = typename DefaultJoinedOf<K, V>::type;

  template <class V2, bool = HasDefaultSerde<K> && HasDefaultSerde<V> && HasDefaultSerde<V2>>
  struct DefaultStreamJoinedOf {
    using type = int;
  };
  template <class V2>
  struct DefaultStreamJoinedOf<V2, true> {
    using type = StreamJoined<DefaultSerdeFor<K>, DefaultSerdeFor<V>, DefaultSerdeFor<V2>>;
  };
  template <class V2>
  static typename DefaultStreamJoinedOf<V2>::type DefaultStreamJoined() {
    return {};
  }

  template <internal::JoinKind kKind, class V2, class J, class SJ>
  auto JoinStream(const KStream<K, V2>& other, J joiner, const JoinWindows& windows,
                  const SJ& joined) const {
    static_assert(!std::is_same_v<SJ, int>,
                  "KStream::Join with a KStream: K, V or the other stream's value type has no "
                  "default serde for the join's window stores; pass "
                  "StreamJoined<KeySerde, ValueSerde, OtherValueSerde>()");
    static_assert(std::copy_constructible<J> && internal::kJoinerFits<kKind, K, V, V2, J>,
                  "KStream::Join/LeftJoin/OuterJoin with a KStream: the joiner must be copyable "
                  "and callable as VR(const V&, const V2&) for Join, "
                  "VR(const V&, const std::optional<V2>&) for LeftJoin, "
                  "VR(const std::optional<V>&, const std::optional<V2>&) for OuterJoin "
                  "(optionally with const K& key first)");
    if constexpr (std::is_same_v<SJ, int> || !internal::kJoinerFits<kKind, K, V, V2, J>) {
      return *this;  // the static_asserts above have said what is wrong
    } else {
      using KS = typename SJ::KeySerde;
      using VS = typename SJ::ValueSerde;
      using VOS = typename SJ::OtherValueSerde;
      static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V> &&
                        std::is_same_v<typename VOS::Type, V2>,
                    "KStream::Join: the serdes of StreamJoined do not match K, V and the other "
                    "stream's value type");
      using VOut = internal::JoinResult<kKind, K, V, V2, J>;
      if (other.graph() != graph_) {
        graph_->AddError("KStream::Join: the two streams come from different StreamsBuilders");
      }
      if (windows.before_ms() < 0 || windows.after_ms() < 0 || windows.grace_ms() < 0 ||
          windows.before_ms() + windows.after_ms() < 0) {
        graph_->AddError(internal::Cat("KStream::Join: JoinWindows must not be negative (before ",
                                       windows.before_ms(), " ms, after ", windows.after_ms(),
                                       " ms, grace ", windows.grace_ms(), " ms)"));
      }
      const std::string this_name = graph_->NextName(
          kKind == internal::JoinKind::kOuter ? "KSTREAM-OUTERTHIS-" : "KSTREAM-JOINTHIS-");
      const std::string other_name = graph_->NextName(
          kKind == internal::JoinKind::kInner ? "KSTREAM-JOINOTHER-" : "KSTREAM-OUTEROTHER-");
      const std::string base = joined.name() ? *joined.name() : this_name;
      int left = node_;
      if (repartition_required_) {
        left = Repartition(Repartitioned<KS, VS>(joined.key_serde(), joined.value_serde())
                               .WithName(base + "-left"))
                   .node_id();
      }
      int right = other.node_id();
      if (other.repartition_required()) {
        right = other.Repartition(Repartitioned<KS, VOS>(joined.key_serde(), joined.other_value_serde())
                                      .WithName(base + "-right"))
                    .node_id();
      }
      internal::StreamJoinSpec spec;
      spec.windows = windows;
      spec.name = this_name;
      const std::optional<std::string>& stores = joined.store_name();
      spec.left_store = stores ? *stores + "-this-join-store" : this_name + "-store";
      spec.right_store = stores ? *stores + "-other-join-store" : other_name + "-store";
      if (kKind != internal::JoinKind::kInner) {
        spec.outer_store = stores ? *stores + "-outer-shared-join-store"
                                  : graph_->NextName("KSTREAM-OUTERSHARED-") + "-store";
      }
      for (const std::string* store : {&spec.left_store, &spec.right_store, &spec.outer_store}) {
        if (store->empty()) continue;
        internal::StoreSpec s;
        s.name = *store;
        s.caching = false;
        if (store != &spec.outer_store) {
          // Kafka Streams' window-store changelogs: compacted and deleted, kept a day
          // beyond the stores' retention.
          s.changelog_configs["cleanup.policy"] = "compact,delete";
          s.changelog_configs["retention.ms"] = std::to_string(windows.retention_ms() + 86400000);
        }
        graph_->AddStore(std::move(s));
      }
      std::vector<std::string> store_names = {spec.left_store, spec.right_store};
      if (!spec.outer_store.empty()) store_names.push_back(spec.outer_store);
      auto times = std::make_shared<internal::JoinTimeRegistry>();
      const KS ks = joined.key_serde();
      const VS vs = joined.value_serde();
      const VOS vos = joined.other_value_serde();

      internal::GraphNode this_node;
      this_node.name = this_name;
      this_node.parents = {left};
      this_node.stores = store_names;
      this_node.factory = [spec, ks, vs, vos, joiner, times](internal::TaskServices& services) {
        return std::make_unique<
            internal::StreamJoinSideNode<kKind, true, K, V, V2, VOut, J, KS, VS, VOS>>(
            spec, ks, vs, vos, joiner, times->For(services), services);
      };
      KStream<K, VOut> this_side(graph_, graph_->Add(std::move(this_node)));

      internal::GraphNode other_node;
      other_node.name = other_name;
      other_node.parents = {right};
      other_node.stores = store_names;
      other_node.factory = [spec, ks, vs, vos, joiner, times](internal::TaskServices& services) {
        return std::make_unique<
            internal::StreamJoinSideNode<kKind, false, K, V, V2, VOut, J, KS, VS, VOS>>(
            spec, ks, vs, vos, joiner, times->For(services), services);
      };
      KStream<K, VOut> other_side(graph_, graph_->Add(std::move(other_node)));
      return this_side.Merge(other_side, Named::As(graph_->NextName("KSTREAM-MERGE-")));
    }
  }

  template <bool kLeft, class KG, class VG, class S, class J>
  auto JoinGlobal(const GlobalKTable<KG, VG>& table, S selector, J joiner) const {
    constexpr internal::JoinKind kKind = kLeft ? internal::JoinKind::kLeft : internal::JoinKind::kInner;
    static_assert(std::copy_constructible<S> && std::is_invocable_v<S&, const K&, const V&>,
                  "KStream::Join with a GlobalKTable: the key selector must be copyable and "
                  "callable as KG(const K& key, const V& value)");
    static_assert(std::copy_constructible<J> && internal::kJoinerFits<kKind, K, V, VG, J>,
                  "KStream::Join/LeftJoin with a GlobalKTable: the joiner must be copyable and "
                  "callable as VR(const V& value, const VG& table_value) for Join, or "
                  "VR(const V& value, const std::optional<VG>& table_value) for LeftJoin "
                  "(optionally with the stream's const K& key first)");
    if constexpr (!std::is_invocable_v<S&, const K&, const V&> ||
                  !internal::kJoinerFits<kKind, K, V, VG, J>) {
      return *this;  // the static_asserts above have said what is wrong
    } else {
      static_assert(std::is_convertible_v<std::invoke_result_t<S&, const K&, const V&>, KG>,
                    "KStream::Join with a GlobalKTable: the key selector must return the "
                    "table's key type");
      using VOut = internal::JoinResult<kKind, K, V, VG, J>;
      if (table.graph() != graph_) {
        graph_->AddError("KStream::Join: the stream and the global table come from different "
                         "StreamsBuilders");
      }
      internal::GetterSupplierPtr<KG, VG> getter = table.value_getter();
      auto select = [selector](const K& key, const V& value) mutable -> KG {
        return selector(key, value);
      };
      internal::GraphNode node;
      node.name = graph_->NextName(kLeft ? "KSTREAM-LEFTJOIN-" : "KSTREAM-JOIN-");
      node.parents = {node_};
      node.factory = [getter, select, joiner](internal::TaskServices& services) {
        return std::make_unique<
            internal::StreamTableJoinNode<K, V, KG, VG, VOut, decltype(select), J, kLeft>>(
            getter->make(services), select, joiner);
      };
      // The key is unchanged, so a later aggregation needs no repartition for this join.
      return KStream<K, VOut>(graph_, graph_->Add(std::move(node)), repartition_required_);
    }
  }

  template <bool kLeft, class VT, class J, class JoinedT>
  auto JoinTable(const KTable<K, VT>& table, J joiner, const std::optional<JoinedT>& joined) const {
    constexpr internal::JoinKind kKind = kLeft ? internal::JoinKind::kLeft : internal::JoinKind::kInner;
    static_assert(std::copy_constructible<J> && internal::kJoinerFits<kKind, K, V, VT, J>,
                  "KStream::Join/LeftJoin with a KTable: the joiner must be copyable and callable "
                  "as VR(const V& value, const VT& table_value) for Join, or "
                  "VR(const V& value, const std::optional<VT>& table_value) for LeftJoin "
                  "(optionally with const K& key first)");
    if constexpr (!internal::kJoinerFits<kKind, K, V, VT, J>) {
      return *this;  // the static_assert above has said what is wrong
    } else {
      using VOut = internal::JoinResult<kKind, K, V, VT, J>;
      if (table.graph() != graph_) {
        graph_->AddError("KStream::Join: the stream and the table come from different StreamsBuilders");
      }
      std::string name = graph_->NextName(kLeft ? "KSTREAM-LEFTJOIN-" : "KSTREAM-JOIN-");
      int parent = node_;
      if (repartition_required_) {
        if constexpr (std::is_same_v<JoinedT, int>) {
          graph_->AddError(internal::Cat(
              "KStream::Join after a key change (node '", graph_->nodes()[node_].name,
              "'): K or V has no default serde for the repartition topic; pass "
              "Joined<KeySerde, ValueSerde>()"));
        } else {
          const std::string base =
              joined && joined->name() ? *joined->name() : graph_->nodes()[node_].name;
          const JoinedT j = joined.value_or(JoinedT());
          parent = Repartition(Repartitioned<typename JoinedT::KeySerde, typename JoinedT::ValueSerde>(
                                   j.key_serde(), j.value_serde())
                                   .WithName(base))
                       .node_id();
        }
      }
      internal::GetterSupplierPtr<K, VT> getter = table.value_getter();
      internal::GraphNode node;
      node.name = std::move(name);
      node.parents = {parent};
      node.stores = getter->stores;
      node.factory = [getter, joiner](internal::TaskServices& services) {
        return std::make_unique<
            internal::StreamTableJoinNode<K, V, K, VT, VOut, internal::RecordKey, J, kLeft>>(
            getter->make(services), internal::RecordKey{}, joiner);
      };
      return KStream<K, VOut>(graph_, graph_->Add(std::move(node)));
    }
  }

  template <bool kFixedKey, class Supplier>
  auto AddProcessor(Supplier supplier, std::vector<std::string> stores, const Named& named) const {
    static_assert(std::copy_constructible<Supplier> && std::is_invocable_v<Supplier&>,
                  "KStream::Process: the supplier must be copyable and callable as "
                  "std::unique_ptr<P>() where P derives from Processor<K, V, KOut, VOut>");
    using P = typename std::invoke_result_t<Supplier&>::element_type;
    using KOut = typename P::KeyOut;
    using VOut = typename P::ValueOut;
    static_assert(std::is_base_of_v<Processor<K, V, KOut, VOut>, P>,
                  "KStream::Process: the processor's input types must be this stream's K and V");
    static_assert(!kFixedKey || std::is_same_v<KOut, K>,
                  "KStream::ProcessValues: the processor's output key type must be K");
    internal::GraphNode node;
    node.name = NameFor(kFixedKey ? "KSTREAM-PROCESSVALUES-" : "KSTREAM-PROCESSOR-", named);
    node.parents = {node_};
    node.stores = stores;
    node.punctuates = true;
    node.factory = [supplier, stores, name = node.name](internal::TaskServices& services) mutable {
      std::unique_ptr<Processor<K, V, KOut, VOut>> processor = supplier();
      return std::make_unique<internal::ProcessorNode<K, V, KOut, VOut>>(
          name, std::move(processor), stores, services, kFixedKey);
    };
    // A processor may change keys at will: a stateful operator after it repartitions.
    return KStream<KOut, VOut>(graph_, graph_->Add(std::move(node)),
                               kFixedKey ? repartition_required_ : true);
  }

  template <class K2, class V2>
  KStream<K2, V2> Add(std::string_view prefix, const Named& named, internal::NodeFactory factory,
                      bool key_changing = false) const {
    internal::GraphNode node;
    node.name = NameFor(prefix, named);
    node.parents = {node_};
    node.factory = std::move(factory);
    return KStream<K2, V2>(graph_, graph_->Add(std::move(node)),
                           repartition_required_ || key_changing);
  }

  template <Serde KS, Serde VS>
  void AddSink(std::string topic, internal::TopicNameExtractor<K, V> extractor,
               const Produced<KS, VS>& produced, bool internal_topic,
               std::optional<int32_t> partitions) const {
    internal::GraphNode node;
    node.kind = internal::NodeKind::kSink;
    node.name = NameFor("KSTREAM-SINK-", Named::As(produced.name().value_or("")));
    node.parents = {node_};
    if (!topic.empty()) node.topics = {topic};
    node.internal_topic = internal_topic;
    node.partitions = partitions;
    node.factory = [topic, internal_topic, extractor, produced](internal::TaskServices& services) {
      std::string resolved = topic.empty() ? "" : services.ResolveTopic(topic, internal_topic);
      return std::make_unique<internal::SinkNode<KS, VS>>(
          std::move(resolved), extractor, produced.key_serde(), produced.value_serde(),
          produced.partitioner(), services);
    };
    graph_->Add(std::move(node));
  }

  std::shared_ptr<internal::GraphBuilder> graph_;
  int node_;
  bool repartition_required_ = false;
};

// The branches of a split. Each record goes to the first branch whose predicate matches;
// a record that matches none goes to the default branch, or is dropped without one.
// Branch names are the split's name followed by the branch's name, or by its number
// (1, 2, ... in order; 0 for the default branch), as in Kafka Streams.
template <class K, class V>
class BranchedKStream {
 public:
  using Predicate = std::function<bool(const K&, const V&)>;

  template <class P>
  BranchedKStream& Branch(P predicate, Branched<K, V> branched = {}) {
    static_assert(StreamPredicate<P, K, V>,
                  "BranchedKStream::Branch: the predicate must be copyable and callable as "
                  "bool(const K& key, const V& value)");
    AddBranch(Predicate(std::move(predicate)), std::move(branched),
              std::to_string(++branch_count_));
    return *this;
  }

  std::map<std::string, KStream<K, V>> DefaultBranch(Branched<K, V> branched = {}) {
    AddBranch(Predicate(), std::move(branched), "0");
    return std::move(result_);
  }

  std::map<std::string, KStream<K, V>> NoDefaultBranch() { return std::move(result_); }

 private:
  friend class KStream<K, V>;
  BranchedKStream(KStream<K, V> split, std::string prefix,
                  std::shared_ptr<std::vector<Predicate>> predicates)
      : split_(std::move(split)), prefix_(std::move(prefix)),
        predicates_(std::move(predicates)) {}

  void AddBranch(Predicate predicate, Branched<K, V> branched, const std::string& number) {
    predicates_->push_back(std::move(predicate));
    const std::string name = prefix_ + (branched.name_.empty() ? number : branched.name_);
    // A pass-through node per branch, so each branch has its own name in the topology.
    KStream<K, V> branch = split_.template Add<K, V>(
        "", Named::As(name), [](internal::TaskServices&) {
          auto pass = [](const K&, const V&) {};
          return std::make_unique<internal::PeekNode<K, V, decltype(pass)>>(pass);
        });
    if (branched.function_) {
      result_.emplace(name, branched.function_(branch));
    } else if (branched.consumer_) {
      branched.consumer_(branch);
    } else {
      result_.emplace(name, branch);
    }
  }

  KStream<K, V> split_;
  std::string prefix_;
  std::shared_ptr<std::vector<Predicate>> predicates_;
  std::map<std::string, KStream<K, V>> result_;
  int branch_count_ = 0;
};

template <class K, class V>
BranchedKStream<K, V> KStream<K, V>::Split(const Named& named) const {
  auto predicates = std::make_shared<std::vector<std::function<bool(const K&, const V&)>>>();
  const std::string name = NameFor("KSTREAM-BRANCH-", named);
  KStream split = Add<K, V>("", Named::As(name), [predicates](internal::TaskServices&) {
    return std::make_unique<internal::BranchNode<K, V>>(*predicates);
  });
  return BranchedKStream<K, V>(split, named.name() ? name : name + "-", predicates);
}

}  // namespace sluice

#include "sluice/ktable.h"  // KGroupedStream, KTable: complete the stateful operators
