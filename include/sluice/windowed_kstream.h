// TimeWindowedKStream and SessionWindowedKStream: a grouped stream cut into windows
// (KGroupedStream::WindowedBy), ready to be counted, reduced or aggregated per key and
// window. The result is a KTable<Windowed<K>, VA>; its store is a window store (time and
// sliding windows) or a session store, kept for the window size plus grace unless
// Materialized::WithRetention asks for longer.
//
//   KTable<Windowed<std::string>, int64_t> per_minute =
//       clicks.GroupByKey()
//           .WindowedBy(TimeWindows::OfSizeAndGrace(minutes(1), seconds(10)))
//           .Count(Materialized<StringSerde, Int64Serde>::As("clicks-per-minute"));
//   per_minute.ToStream().To("clicks-per-minute",
//       Produced(TimeWindowedSerde<StringSerde>(60000), Nullable<Int64Serde>()));
//
// Materialized names the store and gives the serdes of K (not of Windowed<K>) and of the
// aggregate. docs/time.md explains stream time, grace and when results are emitted.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "sluice/kstream.h"
#include "sluice/internal/window_aggregate.h"
#include "sluice/suppressed.h"
#include "sluice/windows.h"

namespace sluice {

namespace internal {

// Reads a window store's window as a table row (for joins and other value getters).
template <Serde KS, Serde VAS, class StoreKey>
class WindowValueGetter final : public ValueGetter<Windowed<typename KS::Type>, typename VAS::Type> {
 public:
  using K = typename KS::Type;
  using VA = typename VAS::Type;

  WindowValueGetter(KeyValueBytesStore& store, KS ks, VAS vas, int64_t retention_ms, StoreKey key)
      : store_(store, std::move(ks), std::move(vas)), segments_(retention_ms),
        store_key_(std::move(key)) {}

  const TableValue<VA>* Get(const Windowed<K>& windowed) override {
    store_key_(segments_, store_.KeyBytes(windowed.key, -1), windowed.window, &bytes_);
    if (!store_.Lookup(bytes_, &stored_)) return nullptr;
    // A session's store key holds its start; its end is the value's timestamp.
    if (StoreKey::kSessions && stored_.timestamp != windowed.window.end_ms) return nullptr;
    result_ = TableValue<VA>{store_.DecodeValue(stored_.value), stored_.timestamp};
    return &result_;
  }

  static GetterSupplierPtr<Windowed<K>, VA> Supplier(std::string store, KS ks, VAS vas,
                                                       int64_t retention_ms, StoreKey key) {
    auto supplier = std::make_shared<ValueGetterSupplier<Windowed<K>, VA>>();
    supplier->stores = {store};
    supplier->make = [=](TaskServices& services) -> std::unique_ptr<ValueGetter<Windowed<K>, VA>> {
      return std::make_unique<WindowValueGetter>(RequireStore(services, store), ks, vas,
                                                 retention_ms, key);
    };
    return supplier;
  }

 private:
  TypedStore<KS, VAS> store_;
  Segments segments_;
  StoreKey store_key_;
  std::string bytes_;
  StoredValue stored_;
  TableValue<VA> result_;
};

struct WindowStoreKeyOf {
  static constexpr bool kSessions = false;
  void operator()(const Segments& s, std::string_view key, const Window& w, std::string* out) const {
    WindowStoreKey(s, key, w.start_ms, out);
  }
};
struct SessionStoreKeyOf {
  static constexpr bool kSessions = true;
  void operator()(const Segments& s, std::string_view key, const Window& w, std::string* out) const {
    SessionStoreKey(s, key, w.start_ms, w.end_ms, out);
  }
};

// Kafka Streams' window-store changelogs: compacted and deleted, kept a day beyond the
// store's retention.
inline std::map<std::string, std::string> WindowChangelogConfigs(
    std::map<std::string, std::string> configs, int64_t retention_ms) {
  configs.emplace("cleanup.policy", "compact,delete");
  configs.emplace("retention.ms", std::to_string(retention_ms + 86400000));
  return configs;
}

// EmitStrategy::OnWindowClose: the aggregation's table through a final-results
// suppression.
template <class K, class VA, Serde KS, Serde VAS>
KTable<Windowed<K>, VA> EmitFinalIf(const EmitStrategy& emit, const std::string& name,
                                    KTable<Windowed<K>, VA> table, const KS& ks, const VAS& vas) {
  if (!emit.on_window_close()) return table;
  return table.Suppress(
      Suppressed::UntilWindowCloses(BufferConfig::Unbounded()).WithName(name + "-emit-final"),
      SessionWindowedSerde<KS>(ks), vas);
}

}  // namespace internal

template <class K, class V>
class TimeWindowedKStream {
 public:
  // When results are emitted: on every update (the default; through the record cache
  // when the store has one), or once per window when it closes (final results: time
  // windows emit each closed window from their own store; sliding windows hold their
  // updates in a suppression buffer named `<processor>-emit-final`).
  TimeWindowedKStream Emit(EmitStrategy strategy) const {
    TimeWindowedKStream copy = *this;
    copy.emit_ = strategy;
    return copy;
  }

  // Counts the records per key and window.
  KTable<Windowed<K>, int64_t> Count(const Named& named = {}) const {
    static_assert(HasDefaultSerde<K>, "TimeWindowedKStream::Count: K has no default serde; pass "
                                      "Materialized<KeySerde, Int64Serde>()");
    return Count(named, Materialized<DefaultSerdeFor<K>, Int64Serde>());
  }
  template <Serde KS>
  KTable<Windowed<K>, int64_t> Count(const Materialized<KS, Int64Serde>& materialized) const {
    return Count(Named(), materialized);
  }
  template <Serde KS>
  KTable<Windowed<K>, int64_t> Count(const Named& named,
                                     const Materialized<KS, Int64Serde>& materialized) const {
    static_assert(std::is_same_v<typename KS::Type, K>,
                  "TimeWindowedKStream::Count: the key serde of Materialized does not serialize K");
    auto apply = [](const K&, const V&, const std::optional<int64_t>& current) -> int64_t {
      return current.value_or(0) + 1;
    };
    return Build(materialized, apply, "KSTREAM-AGGREGATE-", named);
  }

  // Combines the values per key and window: reducer(aggregate, value), the aggregate
  // passed as an rvalue (moved into a reducer that takes it by value).
  template <class F>
  KTable<Windowed<K>, V> Reduce(F reducer) const {
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<V>,
                  "TimeWindowedKStream::Reduce: K or V has no default serde; pass "
                  "Materialized<KeySerde, ValueSerde>()");
    return Reduce(std::move(reducer), Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<V>>());
  }
  template <class F, Serde KS, Serde VS>
  KTable<Windowed<K>, V> Reduce(F reducer, const Materialized<KS, VS>& materialized) const {
    static_assert(std::copy_constructible<F> && std::is_invocable_r_v<V, F&, const V&, const V&>,
                  "TimeWindowedKStream::Reduce: the reducer must be copyable and callable as "
                  "V(const V& aggregate, const V& value)");
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V>,
                  "TimeWindowedKStream::Reduce: the serdes of Materialized do not match K and V");
    auto apply = [reducer](const K&, const V& value, std::optional<V>&& current) mutable -> V {
      return current ? reducer(std::move(*current), value) : value;
    };
    return Build(materialized, apply, "KSTREAM-REDUCE-");
  }

  // Folds the values per key and window: aggregator(key, value, aggregate), starting from
  // initializer() in each window.
  template <class I, class F>
  auto Aggregate(I initializer, F aggregator) const {
    using VA = std::remove_cvref_t<std::invoke_result_t<I&>>;
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<VA>,
                  "TimeWindowedKStream::Aggregate: K or the aggregate type has no default serde; "
                  "pass Materialized<KeySerde, AggregateSerde>()");
    return Aggregate(std::move(initializer), std::move(aggregator),
                     Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<VA>>());
  }
  template <class I, class F, Serde KS, Serde VAS>
  KTable<Windowed<K>, typename VAS::Type> Aggregate(I initializer, F aggregator,
                                                    const Materialized<KS, VAS>& materialized) const {
    using VA = typename VAS::Type;
    static_assert(std::copy_constructible<I> && std::is_invocable_r_v<VA, I&>,
                  "TimeWindowedKStream::Aggregate: the initializer must be copyable and callable "
                  "as VA() where VA is the aggregate type of Materialized");
    static_assert(std::copy_constructible<F> &&
                      std::is_invocable_r_v<VA, F&, const K&, const V&, VA&&>,
                  "TimeWindowedKStream::Aggregate: the aggregator must be copyable and callable "
                  "as VA(const K& key, const V& value, VA aggregate)");
    static_assert(std::is_same_v<typename KS::Type, K>,
                  "TimeWindowedKStream::Aggregate: the key serde of Materialized does not serialize K");
    auto apply = [initializer, aggregator](const K& key, const V& value,
                                           std::optional<VA>&& current) mutable -> VA {
      return aggregator(key, value, current ? VA(std::move(*current)) : VA(initializer()));
    };
    return Build(materialized, apply, "KSTREAM-AGGREGATE-");
  }

  // For the DSL's own use (KGroupedStream::WindowedBy).
  TimeWindowedKStream(KGroupedStream<K, V> grouped, std::variant<TimeWindows, SlidingWindows> windows)
      : grouped_(std::move(grouped)), windows_(windows) {}

 private:
  // How long the store keeps windows: size (or time difference) plus grace.
  int64_t MinRetention() const {
    if (const auto* t = std::get_if<TimeWindows>(&windows_)) return t->size_ms() + t->grace_ms();
    const auto& s = std::get<SlidingWindows>(windows_);
    return s.time_difference_ms() + s.grace_ms();
  }

  template <Serde KS, Serde VAS, class Apply>
  KTable<Windowed<K>, typename VAS::Type> Build(const Materialized<KS, VAS>& materialized,
                                                Apply apply, std::string_view prefix,
                                                const Named& named = {}) const {
    using VA = typename VAS::Type;
    internal::GraphBuilder& graph = *grouped_.graph_;
    absl::Status valid = std::visit([](const auto& w) { return w.Validate(); }, windows_);
    if (!valid.ok()) graph.AddError(std::string(valid.message()));
    internal::WindowAggregateSpec spec;
    spec.store = materialized.name()
                     ? *materialized.name()
                     : graph.NextName(internal::Cat(prefix, "STATE-STORE-"));
    spec.retention_ms = materialized.retention_ms().value_or(MinRetention());
    if (spec.retention_ms < MinRetention()) {
      graph.AddError(internal::Cat("windowed store '", spec.store, "': the retention (",
                                   spec.retention_ms, " ms) must be at least the window size "
                                   "plus grace (", MinRetention(), " ms)"));
    }
    // Time windows emit final results themselves (from their store, as Kafka Streams
    // does); sliding windows through a suppression.
    spec.emit_final = emit_.on_window_close() && std::holds_alternative<TimeWindows>(windows_);
    const int parent = grouped_.AggregationParent(spec.store);
    internal::StoreSpec store = materialized.Spec(spec.store);
    store.changelog_configs =
        internal::WindowChangelogConfigs(std::move(store.changelog_configs), spec.retention_ms);
    graph.AddStore(std::move(store));
    internal::GraphNode node;
    spec.name = node.name = named.name() && !named.name()->empty() ? *named.name() : graph.NextName(prefix);
    node.parents = {parent};
    node.stores = {spec.store};
    node.punctuates = true;  // idle close
    node.window_grace_ms = std::visit([](const auto& w) { return w.grace_ms(); }, windows_);
    const KS ks = materialized.key_serde();
    const VAS vas = materialized.value_serde();
    if (const auto* time = std::get_if<TimeWindows>(&windows_)) {
      node.factory = [spec, windows = *time, ks, vas, apply](internal::TaskServices& services) {
        return std::make_unique<internal::TimeWindowAggregateNode<V, KS, VAS, decltype(apply)>>(
            spec, windows, ks, vas, apply, services);
      };
    } else {
      node.factory = [spec, windows = std::get<SlidingWindows>(windows_), ks, vas,
                      apply](internal::TaskServices& services) {
        return std::make_unique<internal::SlidingWindowAggregateNode<V, KS, VAS, decltype(apply)>>(
            spec, windows, ks, vas, apply, services);
      };
    }
    KTable<Windowed<K>, VA> table(
        grouped_.graph_, graph.Add(std::move(node)), spec.store,
        internal::WindowValueGetter<KS, VAS, internal::WindowStoreKeyOf>::Supplier(
            spec.store, ks, vas, spec.retention_ms, internal::WindowStoreKeyOf{}));
    if (spec.emit_final) return table;
    return internal::EmitFinalIf(emit_, spec.name, std::move(table), ks, vas);
  }

  KGroupedStream<K, V> grouped_;
  std::variant<TimeWindows, SlidingWindows> windows_;
  EmitStrategy emit_ = EmitStrategy::OnWindowUpdate();
};

// A grouped stream in session windows: count, reduce or aggregate per key and session.
// Aggregate also needs a merger, for a record that bridges two sessions.
template <class K, class V>
class SessionWindowedKStream {
 public:
  // When results are emitted: on every update (the default; through the record cache
  // when the store has one), or once per window when it closes (final results, held in
  // a suppression buffer named `<processor>-emit-final`).
  SessionWindowedKStream Emit(EmitStrategy strategy) const {
    SessionWindowedKStream copy = *this;
    copy.emit_ = strategy;
    return copy;
  }

  KTable<Windowed<K>, int64_t> Count(const Named& named = {}) const {
    static_assert(HasDefaultSerde<K>, "SessionWindowedKStream::Count: K has no default serde; "
                                      "pass Materialized<KeySerde, Int64Serde>()");
    return Count(named, Materialized<DefaultSerdeFor<K>, Int64Serde>());
  }
  template <Serde KS>
  KTable<Windowed<K>, int64_t> Count(const Materialized<KS, Int64Serde>& materialized) const {
    return Count(Named(), materialized);
  }
  template <Serde KS>
  KTable<Windowed<K>, int64_t> Count(const Named& named,
                                     const Materialized<KS, Int64Serde>& materialized) const {
    static_assert(std::is_same_v<typename KS::Type, K>,
                  "SessionWindowedKStream::Count: the key serde of Materialized does not serialize K");
    auto apply = [](const K&, const V&, const std::optional<int64_t>& current) -> int64_t {
      return current.value_or(0) + 1;
    };
    auto merge = [](const K&, const int64_t& a, const int64_t& b) -> int64_t { return a + b; };
    auto initial = []() -> std::optional<int64_t> { return 0; };
    return Build(materialized, apply, merge, initial, "KSTREAM-AGGREGATE-", named);
  }

  // Combines the values per key and session: reducer(aggregate, value); merging two
  // sessions reduces their aggregates.
  template <class F>
  KTable<Windowed<K>, V> Reduce(F reducer) const {
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<V>,
                  "SessionWindowedKStream::Reduce: K or V has no default serde; pass "
                  "Materialized<KeySerde, ValueSerde>()");
    return Reduce(std::move(reducer), Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<V>>());
  }
  template <class F, Serde KS, Serde VS>
  KTable<Windowed<K>, V> Reduce(F reducer, const Materialized<KS, VS>& materialized) const {
    static_assert(std::copy_constructible<F> && std::is_invocable_r_v<V, F&, const V&, const V&>,
                  "SessionWindowedKStream::Reduce: the reducer must be copyable and callable as "
                  "V(const V& aggregate, const V& value)");
    static_assert(std::is_same_v<typename KS::Type, K> && std::is_same_v<typename VS::Type, V>,
                  "SessionWindowedKStream::Reduce: the serdes of Materialized do not match K and V");
    auto apply = [reducer](const K&, const V& value, std::optional<V>&& current) mutable -> V {
      return current ? reducer(std::move(*current), value) : value;
    };
    auto merge = [reducer](const K&, const V& a, const V& b) mutable -> V { return reducer(a, b); };
    auto initial = []() -> std::optional<V> { return std::nullopt; };
    return Build(materialized, apply, merge, initial, "KSTREAM-REDUCE-");
  }

  // Folds the values per key and session: aggregator(key, value, aggregate) from
  // initializer(); merger(key, a, b) combines two sessions' aggregates.
  template <class I, class F, class M>
  auto Aggregate(I initializer, F aggregator, M merger) const {
    using VA = std::remove_cvref_t<std::invoke_result_t<I&>>;
    static_assert(HasDefaultSerde<K> && HasDefaultSerde<VA>,
                  "SessionWindowedKStream::Aggregate: K or the aggregate type has no default "
                  "serde; pass Materialized<KeySerde, AggregateSerde>()");
    return Aggregate(std::move(initializer), std::move(aggregator), std::move(merger),
                     Materialized<DefaultSerdeFor<K>, DefaultSerdeFor<VA>>());
  }
  template <class I, class F, class M, Serde KS, Serde VAS>
  KTable<Windowed<K>, typename VAS::Type> Aggregate(I initializer, F aggregator, M merger,
                                                    const Materialized<KS, VAS>& materialized) const {
    using VA = typename VAS::Type;
    static_assert(std::copy_constructible<I> && std::is_invocable_r_v<VA, I&>,
                  "SessionWindowedKStream::Aggregate: the initializer must be copyable and "
                  "callable as VA() where VA is the aggregate type of Materialized");
    static_assert(std::copy_constructible<F> &&
                      std::is_invocable_r_v<VA, F&, const K&, const V&, VA&&>,
                  "SessionWindowedKStream::Aggregate: the aggregator must be copyable and "
                  "callable as VA(const K& key, const V& value, VA aggregate)");
    static_assert(std::copy_constructible<M> &&
                      std::is_invocable_r_v<VA, M&, const K&, const VA&, const VA&>,
                  "SessionWindowedKStream::Aggregate: the merger must be copyable and callable "
                  "as VA(const K& key, const VA& a, const VA& b)");
    static_assert(std::is_same_v<typename KS::Type, K>,
                  "SessionWindowedKStream::Aggregate: the key serde of Materialized does not "
                  "serialize K");
    auto apply = [initializer, aggregator](const K& key, const V& value,
                                           std::optional<VA>&& current) mutable -> VA {
      return aggregator(key, value, current ? VA(std::move(*current)) : VA(initializer()));
    };
    auto merge = [merger](const K& key, const VA& a, const VA& b) mutable -> VA {
      return merger(key, a, b);
    };
    auto initial = [initializer]() mutable -> std::optional<VA> { return VA(initializer()); };
    return Build(materialized, apply, merge, initial, "KSTREAM-AGGREGATE-");
  }

  // For the DSL's own use (KGroupedStream::WindowedBy).
  SessionWindowedKStream(KGroupedStream<K, V> grouped, SessionWindows windows)
      : grouped_(std::move(grouped)), windows_(windows) {}

 private:
  template <Serde KS, Serde VAS, class Apply, class Merge, class Initial>
  KTable<Windowed<K>, typename VAS::Type> Build(const Materialized<KS, VAS>& materialized,
                                                Apply apply, Merge merge, Initial initial,
                                                std::string_view prefix,
                                                const Named& named = {}) const {
    using VA = typename VAS::Type;
    internal::GraphBuilder& graph = *grouped_.graph_;
    if (absl::Status valid = windows_.Validate(); !valid.ok()) graph.AddError(std::string(valid.message()));
    const int64_t min_retention = windows_.inactivity_gap_ms() + windows_.grace_ms();
    internal::WindowAggregateSpec spec;
    spec.store = materialized.name()
                     ? *materialized.name()
                     : graph.NextName(internal::Cat(prefix, "STATE-STORE-"));
    spec.retention_ms = materialized.retention_ms().value_or(min_retention);
    if (spec.retention_ms < min_retention) {
      graph.AddError(internal::Cat("session store '", spec.store, "': the retention (",
                                   spec.retention_ms, " ms) must be at least the inactivity gap "
                                   "plus grace (", min_retention, " ms)"));
    }
    const int parent = grouped_.AggregationParent(spec.store);
    internal::StoreSpec store = materialized.Spec(spec.store);
    store.changelog_configs =
        internal::WindowChangelogConfigs(std::move(store.changelog_configs), spec.retention_ms);
    graph.AddStore(std::move(store));
    internal::GraphNode node;
    spec.name = node.name = named.name() && !named.name()->empty() ? *named.name() : graph.NextName(prefix);
    node.parents = {parent};
    node.stores = {spec.store};
    // A session can still grow until stream time passes its end by the gap plus grace.
    node.window_grace_ms = windows_.inactivity_gap_ms() + windows_.grace_ms();
    node.punctuates = true;  // idle close
    const KS ks = materialized.key_serde();
    const VAS vas = materialized.value_serde();
    node.factory = [spec, windows = windows_, ks, vas, apply, merge,
                    initial](internal::TaskServices& services) {
      return std::make_unique<internal::SessionWindowAggregateNode<
          V, KS, VAS, decltype(apply), decltype(merge), decltype(initial)>>(
          spec, windows, ks, vas, apply, merge, initial, services);
    };
    return internal::EmitFinalIf(
        emit_, spec.name,
        KTable<Windowed<K>, VA>(
            grouped_.graph_, graph.Add(std::move(node)), spec.store,
            internal::WindowValueGetter<KS, VAS, internal::SessionStoreKeyOf>::Supplier(
                spec.store, ks, vas, spec.retention_ms, internal::SessionStoreKeyOf{})),
        ks, vas);
  }

  KGroupedStream<K, V> grouped_;
  SessionWindows windows_;
  EmitStrategy emit_ = EmitStrategy::OnWindowUpdate();
};

}  // namespace sluice
