// Materialized and Grouped: how a table's state store and a grouping's repartition topic
// are named and serialized. Values, like the other config objects: every WithX() returns
// a modified copy.
//
//   orders.GroupByKey(Grouped<StringSerde, JsonSerde<Order>>::As("orders-by-customer"))
//       .Count(Materialized<StringSerde, Int64Serde>::As("order-counts")
//                  .WithCachingDisabled());
//
// A store is persistent (RocksDB) by default, logged to
// `<application.id>-<store>-changelog`, and cached (see cache.max.bytes.buffering).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "sluice/internal/graph.h"
#include "sluice/serde.h"

namespace sluice {

template <Serde KS, Serde VS>
class Materialized {
 public:
  using KeySerde = KS;
  using ValueSerde = VS;

  Materialized() = default;
  Materialized(KS key_serde, VS value_serde)
      : key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}
  // A store named `store_name` (queryable under that name).
  static Materialized As(std::string store_name, KS key_serde = {}, VS value_serde = {}) {
    return Materialized(std::move(key_serde), std::move(value_serde)).WithName(std::move(store_name));
  }
  static Materialized With(KS key_serde = {}, VS value_serde = {}) {
    return Materialized(std::move(key_serde), std::move(value_serde));
  }

  Materialized WithName(std::string name) const { return Copy([&](Materialized& m) { m.name_ = std::move(name); }); }
  // An in-memory store (rebuilt from its changelog whenever its task starts).
  Materialized InMemory() const { return Copy([](Materialized& m) { m.persistent_ = false; }); }
  Materialized Persistent() const { return Copy([](Materialized& m) { m.persistent_ = true; }); }
  Materialized WithLoggingDisabled() const { return Copy([](Materialized& m) { m.logging_ = false; }); }
  // Logged, with these topic configs on the changelog when Sluice creates it.
  Materialized WithLoggingEnabled(std::map<std::string, std::string> topic_configs = {}) const {
    return Copy([&](Materialized& m) {
      m.logging_ = true;
      m.changelog_configs_ = std::move(topic_configs);
    });
  }
  Materialized WithCachingDisabled() const { return Copy([](Materialized& m) { m.caching_ = false; }); }
  Materialized WithCachingEnabled() const { return Copy([](Materialized& m) { m.caching_ = true; }); }
  // Windowed stores: how long windows are kept (at least the window size plus grace,
  // which is the default). Interactive queries see windows this far back.
  Materialized WithRetention(std::chrono::milliseconds retention) const {
    return Copy([&](Materialized& m) { m.retention_ms_ = retention.count(); });
  }

  const KS& key_serde() const { return key_serde_; }
  const VS& value_serde() const { return value_serde_; }
  const std::optional<std::string>& name() const { return name_; }
  const std::optional<int64_t>& retention_ms() const { return retention_ms_; }

  // The store this asks for, under `name` (the given one or a generated one).
  internal::StoreSpec Spec(std::string name) const {
    internal::StoreSpec spec;
    spec.name = std::move(name);
    spec.persistent = persistent_;
    spec.logging = logging_;
    spec.caching = caching_;
    spec.changelog_configs = changelog_configs_;
    return spec;
  }

 private:
  template <class F>
  Materialized Copy(F&& change) const {
    Materialized copy = *this;
    change(copy);
    return copy;
  }

  KS key_serde_{};
  VS value_serde_{};
  std::optional<std::string> name_;
  bool persistent_ = true;
  bool logging_ = true;
  bool caching_ = true;
  std::map<std::string, std::string> changelog_configs_;
  std::optional<int64_t> retention_ms_;
};

// How a grouped stream is repartitioned when its key changed: the serdes of the
// repartition topic and the name it is derived from (`<name>-repartition`).
template <Serde KS, Serde VS>
class Grouped {
 public:
  using KeySerde = KS;
  using ValueSerde = VS;

  Grouped() = default;
  Grouped(KS key_serde, VS value_serde)
      : key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}
  static Grouped As(std::string name, KS key_serde = {}, VS value_serde = {}) {
    return Grouped(std::move(key_serde), std::move(value_serde)).WithName(std::move(name));
  }
  static Grouped With(KS key_serde = {}, VS value_serde = {}) {
    return Grouped(std::move(key_serde), std::move(value_serde));
  }
  Grouped WithName(std::string name) const {
    Grouped copy = *this;
    copy.name_ = std::move(name);
    return copy;
  }

  const KS& key_serde() const { return key_serde_; }
  const VS& value_serde() const { return value_serde_; }
  const std::optional<std::string>& name() const { return name_; }

 private:
  KS key_serde_{};
  VS value_serde_{};
  std::optional<std::string> name_;
};

// How a stream joined with a table is repartitioned when its key changed: the serdes of
// the stream's repartition topic and the name it is derived from (`<name>-repartition`).
// The table needs no serde here: the join reads it from its store.
template <Serde KS, Serde VS>
class Joined {
 public:
  using KeySerde = KS;
  using ValueSerde = VS;

  Joined() = default;
  Joined(KS key_serde, VS value_serde)
      : key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}
  static Joined As(std::string name, KS key_serde = {}, VS value_serde = {}) {
    return Joined(std::move(key_serde), std::move(value_serde)).WithName(std::move(name));
  }
  static Joined With(KS key_serde = {}, VS value_serde = {}) {
    return Joined(std::move(key_serde), std::move(value_serde));
  }
  Joined WithName(std::string name) const {
    Joined copy = *this;
    copy.name_ = std::move(name);
    return copy;
  }

  const KS& key_serde() const { return key_serde_; }
  const VS& value_serde() const { return value_serde_; }
  const std::optional<std::string>& name() const { return name_; }

 private:
  KS key_serde_{};
  VS value_serde_{};
  std::optional<std::string> name_;
};

// The serdes a foreign-key join needs for its subscription and response topics: the
// left table's key, the right table's key (the foreign key) and the right table's value;
// and the name its topics and store are derived from: `<name>-subscription-registration`,
// `<name>-subscription-response` (topics, with `-repartition` appended) and
// `<name>-subscription-store`.
template <Serde KLS, Serde KRS, Serde VRS>
class ForeignKeyJoined {
 public:
  using LeftKeySerde = KLS;
  using ForeignKeySerde = KRS;
  using RightValueSerde = VRS;

  ForeignKeyJoined() = default;
  ForeignKeyJoined(KLS left_key, KRS foreign_key, VRS right_value)
      : left_key_(std::move(left_key)), foreign_key_(std::move(foreign_key)),
        right_value_(std::move(right_value)) {}
  ForeignKeyJoined WithName(std::string name) const {
    ForeignKeyJoined copy = *this;
    copy.name_ = std::move(name);
    return copy;
  }
  const KLS& left_key_serde() const { return left_key_; }
  const KRS& foreign_key_serde() const { return foreign_key_; }
  const VRS& right_value_serde() const { return right_value_; }
  const std::optional<std::string>& name() const { return name_; }

 private:
  KLS left_key_{};
  KRS foreign_key_{};
  VRS right_value_{};
  std::optional<std::string> name_;
};

}  // namespace sluice
