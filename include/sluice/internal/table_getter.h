// Value getters: how a join reads a table as of now. Every KTable handle carries a
// supplier of getters. A materialized table (a table source, an aggregation, ToTable, a
// materialized join) reads its store; a table derived without a store (Filter,
// MapValues, a join that is not materialized) reads its parent's getter and applies
// its own function again, as Kafka Streams' KTableValueGetter does. A getter reads
// through the store's cache, so it sees every update the task has processed.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/internal/node.h"
#include "sluice/internal/stateful.h"

namespace sluice::internal {

// The value of a table's key as of now, and its timestamp.
template <class V>
struct TableValue {
  V value;
  int64_t timestamp = 0;
};

// Get returns the key's value, or null if the table has none; the value is the getter's
// and stays valid until its next Get.
template <class K, class V>
class ValueGetter {
 public:
  virtual ~ValueGetter() = default;
  virtual const TableValue<V>* Get(const K& key) = 0;
};

// Makes a table's getter inside a task; `stores` are the stores it reads, which the
// reading node must be connected to (that also puts it in the table's sub-topology).
template <class K, class V>
struct ValueGetterSupplier {
  std::vector<std::string> stores;
  std::function<std::unique_ptr<ValueGetter<K, V>>(TaskServices&)> make;
};

template <class K, class V>
using GetterSupplierPtr = std::shared_ptr<const ValueGetterSupplier<K, V>>;

// Reads a store of the task. A stream joined with a table reads the same hot keys over
// and over (Nexmark's bids, their auctions), so the getter keeps the last values it
// decoded, in a small table indexed by the key's hash, each beside the envelope bytes it
// was decoded from. A read whose stored bytes equal a slot's reuses its value: the
// envelope holds the value's bytes and its timestamp, so equal bytes are an equal value,
// whatever key they came from, and a table update (new bytes) is never missed.
template <Serde KS, Serde VS>
class StoreValueGetter final : public ValueGetter<typename KS::Type, typename VS::Type> {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;
  static constexpr size_t kSlots = 512;
  static constexpr size_t kMaxKeptBytes = 4096;  // larger values are decoded at each read

  StoreValueGetter(KeyValueBytesStore& store, KS ks, VS vs)
      : store_(store, std::move(ks), std::move(vs)) {}

  const TableValue<V>* Get(const K& key) override {
    if constexpr (IsOptional<K>::value) {
      if (!key) return nullptr;
    }
    const std::string_view key_bytes = store_.KeyBytes(key, -1);
    const std::optional<std::string_view> envelope = store_.ReadEnvelope(key_bytes);
    if (!envelope) return nullptr;
    if (envelope->size() > kMaxKeptBytes) {
      uncached_ = Decode(*envelope);
      return &uncached_;
    }
    if (slots_.empty()) slots_.resize(kSlots);
    Slot& slot = slots_[StringHash{}(key_bytes) % kSlots];
    if (!slot.used || slot.envelope != *envelope) {
      slot.value = Decode(*envelope);
      slot.envelope.assign(*envelope);
      slot.used = true;
    }
    return &slot.value;
  }

  static GetterSupplierPtr<K, V> Supplier(std::string store, KS ks, VS vs) {
    auto supplier = std::make_shared<ValueGetterSupplier<K, V>>();
    supplier->stores = {store};
    supplier->make = [store, ks, vs](TaskServices& services) -> std::unique_ptr<ValueGetter<K, V>> {
      return std::make_unique<StoreValueGetter>(RequireStore(services, store), ks, vs);
    };
    return supplier;
  }

  // A GlobalKTable's store: no task store to connect to.
  static GetterSupplierPtr<K, V> GlobalSupplier(std::string store, KS ks, VS vs) {
    auto supplier = std::make_shared<ValueGetterSupplier<K, V>>();
    supplier->make = [store, ks, vs](TaskServices& services) -> std::unique_ptr<ValueGetter<K, V>> {
      return std::make_unique<StoreValueGetter>(RequireGlobalStore(services, store), ks, vs);
    };
    return supplier;
  }

 private:
  struct Slot {
    bool used = false;
    std::string envelope;
    TableValue<V> value;
  };

  TableValue<V> Decode(std::string_view envelope) {
    store_.DecodeEnvelope(envelope, &stored_);
    return TableValue<V>{store_.DecodeValue(stored_.value), stored_.timestamp};
  }

  TypedStore<KS, VS> store_;
  StoredValue stored_;
  std::vector<Slot> slots_;  // made at the first read
  TableValue<V> uncached_;
};

// Applies `fn(key, optional<V> parent value) -> optional<V2>` to a parent's getter:
// Filter, MapValues.
template <class K, class V, class V2, class Fn>
class DerivedValueGetter final : public ValueGetter<K, V2> {
 public:
  DerivedValueGetter(std::unique_ptr<ValueGetter<K, V>> parent, Fn fn)
      : parent_(std::move(parent)), fn_(std::move(fn)) {}

  const TableValue<V2>* Get(const K& key) override {
    const TableValue<V>* got = parent_->Get(key);
    if (got == nullptr) return nullptr;
    std::optional<V2> value = fn_(key, std::optional<V>(got->value));
    if (!value) return nullptr;
    result_ = TableValue<V2>{std::move(*value), got->timestamp};
    return &result_;
  }

  static GetterSupplierPtr<K, V2> Supplier(GetterSupplierPtr<K, V> parent, Fn fn) {
    auto supplier = std::make_shared<ValueGetterSupplier<K, V2>>();
    supplier->stores = parent->stores;
    supplier->make = [parent, fn](TaskServices& services) -> std::unique_ptr<ValueGetter<K, V2>> {
      return std::make_unique<DerivedValueGetter>(parent->make(services), fn);
    };
    return supplier;
  }

 private:
  std::unique_ptr<ValueGetter<K, V>> parent_;
  Fn fn_;
  TableValue<V2> result_;
};

}  // namespace sluice::internal
