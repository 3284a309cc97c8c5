// Value objects that configure DSL operators: Named, Consumed, Produced, Repartitioned.
// Like Kafka Streams' config objects they are values: every WithX() returns a modified copy.
//
//   builder.Stream("orders", Consumed<StringSerde, JsonSerde<Order>>().WithName("orders-in"))
//       .Filter(is_paid, Named::As("paid-only"))
//       .To("paid-orders", Produced<StringSerde, JsonSerde<Order>>());
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "sluice/serde.h"
#include "sluice/timestamp.h"

namespace sluice {

// The name of a processor node, as it appears in Topology::Describe().
class Named {
 public:
  Named() = default;
  static Named As(std::string name) { return Named(std::move(name)); }
  const std::optional<std::string>& name() const { return name_; }

 private:
  explicit Named(std::string name) : name_(std::move(name)) {}
  std::optional<std::string> name_;
};

// How a source topic is read: the serdes of its keys and values, and the source node's name.
template <Serde KS, Serde VS>
class Consumed {
 public:
  using KeySerde = KS;
  using ValueSerde = VS;
  using Key = typename KS::Type;
  using Value = typename VS::Type;

  Consumed() = default;
  Consumed(KS key_serde, VS value_serde)
      : key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}
  static Consumed With(KS key_serde = {}, VS value_serde = {}) {
    return Consumed(std::move(key_serde), std::move(value_serde));
  }
  Consumed WithName(std::string name) const {
    Consumed copy = *this;
    copy.name_ = std::move(name);
    return copy;
  }

  // Takes each record's timestamp from `extractor`: int64_t(const V& value), or
  // int64_t(const K& key, const V& value, int64_t record_timestamp,
  // int64_t partition_time) where partition_time is the largest valid timestamp seen on
  // the record's partition (-1 before the first). A table's tombstones, which have no
  // value, keep their record timestamp.
  using Extractor = std::function<int64_t(const Key& key, const Value& value,
                                          int64_t record_timestamp, int64_t partition_time)>;
  template <class F>
  Consumed WithTimestampExtractor(F extractor) const {
    constexpr bool kFull = std::is_invocable_r_v<int64_t, F&, const Key&, const Value&, int64_t, int64_t>;
    constexpr bool kValue = std::is_invocable_r_v<int64_t, F&, const Value&>;
    static_assert(std::copy_constructible<F> && (kFull || kValue),
                  "Consumed::WithTimestampExtractor: the extractor must be copyable and callable "
                  "as int64_t(const V& value) or int64_t(const K& key, const V& value, "
                  "int64_t record_timestamp, int64_t partition_time)");
    Consumed copy = *this;
    if constexpr (kFull) {
      copy.extractor_ = std::move(extractor);
    } else if constexpr (kValue) {
      copy.extractor_ = [f = std::move(extractor)](const Key&, const Value& v, int64_t, int64_t) mutable {
        return static_cast<int64_t>(f(v));
      };
    }
    return copy;
  }
  // What to do with a negative timestamp (default: the config's
  // default.timestamp.extractor).
  Consumed WithInvalidTimestampPolicy(InvalidTimestampPolicy policy) const {
    Consumed copy = *this;
    copy.policy_ = policy;
    return copy;
  }

  const KS& key_serde() const { return key_serde_; }
  const VS& value_serde() const { return value_serde_; }
  const std::optional<std::string>& name() const { return name_; }
  const Extractor& timestamp_extractor() const { return extractor_; }
  const std::optional<InvalidTimestampPolicy>& invalid_timestamp_policy() const { return policy_; }

 private:
  KS key_serde_{};
  VS value_serde_{};
  std::optional<std::string> name_;
  Extractor extractor_;
  std::optional<InvalidTimestampPolicy> policy_;
};

// Chooses the partition of an output record. Returns std::nullopt to fall back to the
// default partitioner (murmur2 of the serialized key, as Kafka's Java producer does).
template <class K, class V>
using StreamPartitioner = std::function<std::optional<int32_t>(
    std::string_view topic, const K& key, const V& value, int32_t num_partitions)>;

// How records are written to a topic: serdes, an optional partitioner, the sink's name.
template <Serde KS, Serde VS>
class Produced {
 public:
  using KeySerde = KS;
  using ValueSerde = VS;
  using Key = typename KS::Type;
  using Value = typename VS::Type;

  Produced() = default;
  Produced(KS key_serde, VS value_serde)
      : key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}
  static Produced With(KS key_serde = {}, VS value_serde = {}) {
    return Produced(std::move(key_serde), std::move(value_serde));
  }
  Produced WithName(std::string name) const {
    Produced copy = *this;
    copy.name_ = std::move(name);
    return copy;
  }
  Produced WithStreamPartitioner(StreamPartitioner<Key, Value> partitioner) const {
    Produced copy = *this;
    copy.partitioner_ = std::move(partitioner);
    return copy;
  }

  const KS& key_serde() const { return key_serde_; }
  const VS& value_serde() const { return value_serde_; }
  const std::optional<std::string>& name() const { return name_; }
  const StreamPartitioner<Key, Value>& partitioner() const { return partitioner_; }

 private:
  KS key_serde_{};
  VS value_serde_{};
  std::optional<std::string> name_;
  StreamPartitioner<Key, Value> partitioner_;
};

// How a stream is written through an internal repartition topic and read back:
// `<application.id>-<name>-repartition`, with a partition count (default: the largest
// partition count among the source topics of the sub-topology it comes from).
template <Serde KS, Serde VS>
class Repartitioned {
 public:
  using KeySerde = KS;
  using ValueSerde = VS;
  using Key = typename KS::Type;
  using Value = typename VS::Type;

  Repartitioned() = default;
  Repartitioned(KS key_serde, VS value_serde)
      : key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)) {}
  static Repartitioned With(KS key_serde = {}, VS value_serde = {}) {
    return Repartitioned(std::move(key_serde), std::move(value_serde));
  }
  static Repartitioned As(std::string name) { return Repartitioned().WithName(std::move(name)); }
  Repartitioned WithName(std::string name) const {
    Repartitioned copy = *this;
    copy.name_ = std::move(name);
    return copy;
  }
  Repartitioned WithNumberOfPartitions(int32_t partitions) const {
    Repartitioned copy = *this;
    copy.partitions_ = partitions;
    return copy;
  }
  Repartitioned WithStreamPartitioner(StreamPartitioner<Key, Value> partitioner) const {
    Repartitioned copy = *this;
    copy.partitioner_ = std::move(partitioner);
    return copy;
  }

  const KS& key_serde() const { return key_serde_; }
  const VS& value_serde() const { return value_serde_; }
  const std::optional<std::string>& name() const { return name_; }
  const std::optional<int32_t>& partitions() const { return partitions_; }
  const StreamPartitioner<Key, Value>& partitioner() const { return partitioner_; }

 private:
  KS key_serde_{};
  VS value_serde_{};
  std::optional<std::string> name_;
  std::optional<int32_t> partitions_;
  StreamPartitioner<Key, Value> partitioner_;
};

}  // namespace sluice
