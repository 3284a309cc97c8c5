// Typed join operators over tables (docs/joins.md):
//   - StreamTableJoinNode: each stream record looks up the table's value for its key, as
//     the task has it when the record is processed (table updates emit nothing).
//   - TableTableJoinNode: one per side of a KTable-KTable join; an update of its side
//     looks up the other side and emits the join's new and old value.
//   - TableJoinMergeNode: where the two sides meet; materializes the result when asked.
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "sluice/internal/node.h"
#include "sluice/internal/stateful.h"
#include "sluice/internal/stateless.h"
#include "sluice/internal/table_getter.h"

namespace sluice::internal {

enum class JoinKind { kInner, kLeft, kOuter };

// Calls joiner(key, a, b) or joiner(a, b), whichever it accepts.
template <class J, class K, class A, class B>
decltype(auto) CallJoiner(J& joiner, const K& key, const A& a, const B& b) {
  if constexpr (std::is_invocable_v<J&, const K&, const A&, const B&>) {
    return joiner(key, a, b);
  } else {
    return joiner(a, b);
  }
}

// The argument types a joiner of kind `kKind` receives: inner (const L&, const R&), left
// (const L&, const std::optional<R>&), outer (both optional).
template <JoinKind kKind, class L, class R>
struct JoinArgs {
  using Left = std::conditional_t<kKind == JoinKind::kOuter, std::optional<L>, L>;
  using Right = std::conditional_t<kKind == JoinKind::kInner, R, std::optional<R>>;
};

template <JoinKind kKind, class K, class L, class R, class J>
constexpr bool kJoinerFits =
    std::is_invocable_v<J&, const typename JoinArgs<kKind, L, R>::Left&,
                        const typename JoinArgs<kKind, L, R>::Right&> ||
    std::is_invocable_v<J&, const K&, const typename JoinArgs<kKind, L, R>::Left&,
                        const typename JoinArgs<kKind, L, R>::Right&>;

template <JoinKind kKind, class K, class L, class R, class J>
using JoinResult = std::remove_cvref_t<decltype(CallJoiner(
    std::declval<J&>(), std::declval<const K&>(),
    std::declval<const typename JoinArgs<kKind, L, R>::Left&>(),
    std::declval<const typename JoinArgs<kKind, L, R>::Right&>()))>;

// The value a join of kind `kKind` has for one key, given both sides: nullopt where the
// kind has no row (inner: either side missing; left: the left side missing; outer: both).
template <JoinKind kKind, class K, class L, class R, class VOut, class J>
struct TableJoinFn {
  J joiner;
  std::optional<VOut> operator()(const K& key, const std::optional<L>& left,
                                 const std::optional<R>& right) {
    if constexpr (kKind == JoinKind::kInner) {
      if (!left || !right) return std::nullopt;
      return CallJoiner(joiner, key, *left, *right);
    } else if constexpr (kKind == JoinKind::kLeft) {
      if (!left) return std::nullopt;
      return CallJoiner(joiner, key, *left, right);
    } else {
      if (!left && !right) return std::nullopt;
      return CallJoiner(joiner, key, left, right);
    }
  }
};

// The key a KStream-KTable join looks up: the record's own.
struct RecordKey {
  template <class K, class V>
  const K& operator()(const K& key, const V&) const {
    return key;
  }
};

// KStream-KTable join (`Select` = RecordKey) and KStream-GlobalKTable join (`Select`:
// the user's key selector): inner (records without a table value are dropped) or left
// (the joiner sees nullopt). Records with a null value are dropped, as in Kafka Streams;
// a null key finds no table value.
template <class K, class V, class KT, class VT, class VOut, class Select, class J, bool kLeft>
class StreamTableJoinNode final : public Input<K, V> {
 public:
  StreamTableJoinNode(std::unique_ptr<ValueGetter<KT, VT>> table, Select select, J joiner)
      : table_(std::move(table)), select_(std::move(select)), joiner_(std::move(joiner)) {}

  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    buffer_.Clear();
    for (Record<K, V>* r : batch.records) {
      if constexpr (IsOptional<V>::value) {
        if (!r->value) continue;
      }
      const TableValue<VT>* found = table_->Get(select_(std::as_const(r->key), std::as_const(r->value)));
      if constexpr (kLeft) {
        std::optional<VT> right;
        if (found != nullptr) right = found->value;
        Emit(*r, CallJoiner(joiner_, std::as_const(r->key), std::as_const(r->value),
                            std::as_const(right)));
      } else {
        if (found == nullptr) continue;
        Emit(*r, CallJoiner(joiner_, std::as_const(r->key), std::as_const(r->value),
                            std::as_const(found->value)));
      }
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  template <class T>
  void Emit(const Record<K, V>& in, T&& value) {
    Record<K, VOut>& out = buffer_.Next();
    out.key = in.key;
    out.value = std::forward<T>(value);
    CopyMeta(in, out);
  }

  std::unique_ptr<ValueGetter<KT, VT>> table_;
  Select select_;
  J joiner_;
  Output<K, VOut> out_;
  RecordBuffer<K, VOut> buffer_;
};

// One side of a KTable-KTable join. An update (new and old value) of this side becomes
// the join's new and old value for the key, computed against the other side's current
// value; nothing is emitted when both are absent. The result's timestamp is the larger
// of the two sides'.
template <class K, class VThis, class VOther, class VOut, class Fn, bool kThisIsLeft>
class TableTableJoinNode final : public Input<K, Change<VThis>> {
 public:
  TableTableJoinNode(std::unique_ptr<ValueGetter<K, VOther>> other, Fn fn)
      : other_(std::move(other)), fn_(std::move(fn)) {}

  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, Change<VThis>>& batch) override {
    buffer_.Clear();
    for (Record<K, Change<VThis>>* r : batch.records) {
      const TableValue<VOther>* found = other_->Get(r->key);
      std::optional<VOther> other;
      int64_t timestamp = r->timestamp;
      if (found != nullptr) {
        other = found->value;
        timestamp = std::max(timestamp, found->timestamp);
      }
      std::optional<VOut> new_value = Join(r->key, r->value.new_value, other);
      std::optional<VOut> old_value = Join(r->key, r->value.old_value, other);
      if (!new_value && !old_value) continue;
      Record<K, Change<VOut>>& out = buffer_.Next();
      out.key = r->key;
      out.value.new_value = std::move(new_value);
      out.value.old_value = std::move(old_value);
      CopyMeta(*r, out);
      out.timestamp = timestamp;
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  std::optional<VOut> Join(const K& key, const std::optional<VThis>& self,
                           const std::optional<VOther>& other) {
    if constexpr (kThisIsLeft) {
      return fn_(key, self, other);
    } else {
      return fn_(key, other, self);
    }
  }

  std::unique_ptr<ValueGetter<K, VOther>> other_;
  Fn fn_;
  Output<K, Change<VOut>> out_;
  RecordBuffer<K, Change<VOut>> buffer_;
};

// Where the two sides of a KTable-KTable join meet: passes their changes on.
template <class K, class V>
class TableJoinMergeNode final : public Input<K, Change<V>> {
 public:
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }
  void Process(const Batch<K, Change<V>>& batch) override {
    out_.Emit(batch.records, batch.movable, batch.context);
  }

 private:
  Output<K, Change<V>> out_;
};

// The merge of a materialized KTable-KTable join: writes each new value into the join's
// store, which emits the table's changes (per write, or from its cache).
template <Serde KS, Serde VS>
class MaterializedJoinMergeNode final : public Input<typename KS::Type, Change<typename VS::Type>> {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  MaterializedJoinMergeNode(std::string_view store, KS ks, VS vs, TaskServices& services)
      : writer_(store, std::move(ks), std::move(vs), services) {}

  absl::Status AddChild(NodeInstance* child) override {
    return writer_.emitter().out().Wire(child);
  }

  void Process(const Batch<K, Change<V>>& batch) override {
    writer_.emitter().Begin();
    for (Record<K, Change<V>>* r : batch.records) {
      const WritePosition position = counter_.Next(*batch.context, r->offset);
      writer_.Upsert(r->key, r->value.new_value, r->timestamp, r->offset, r->seq, position);
    }
    writer_.emitter().End(batch.context);
  }

  void FlushCache() override { writer_.emitter().FlushStore(); }
  void Reset() override { counter_.Reset(); }

 private:
  TableWriter<KS, VS> writer_;
  PositionCounter counter_;
};

// The getter of a KTable-KTable join that is not materialized: both sides' getters.
template <class K, class L, class R, class VOut, class Fn>
class JoinValueGetter final : public ValueGetter<K, VOut> {
 public:
  JoinValueGetter(std::unique_ptr<ValueGetter<K, L>> left,
                  std::unique_ptr<ValueGetter<K, R>> right, Fn fn)
      : left_(std::move(left)), right_(std::move(right)), fn_(std::move(fn)) {}

  const TableValue<VOut>* Get(const K& key) override {
    const TableValue<L>* l = left_->Get(key);
    const TableValue<R>* r = right_->Get(key);
    std::optional<L> lv;
    std::optional<R> rv;
    int64_t timestamp = 0;
    if (l != nullptr) {
      lv = l->value;
      timestamp = l->timestamp;
    }
    if (r != nullptr) {
      rv = r->value;
      timestamp = std::max(timestamp, r->timestamp);
    }
    std::optional<VOut> value = fn_(key, lv, rv);
    if (!value) return nullptr;
    result_ = TableValue<VOut>{std::move(*value), timestamp};
    return &result_;
  }

  static GetterSupplierPtr<K, VOut> Supplier(GetterSupplierPtr<K, L> left,
                                             GetterSupplierPtr<K, R> right, Fn fn) {
    auto supplier = std::make_shared<ValueGetterSupplier<K, VOut>>();
    supplier->stores = left->stores;
    for (const std::string& s : right->stores) {
      if (std::find(supplier->stores.begin(), supplier->stores.end(), s) ==
          supplier->stores.end()) {
        supplier->stores.push_back(s);
      }
    }
    supplier->make = [left, right, fn](TaskServices& services)
        -> std::unique_ptr<ValueGetter<K, VOut>> {
      return std::make_unique<JoinValueGetter>(left->make(services), right->make(services), fn);
    };
    return supplier;
  }

 private:
  std::unique_ptr<ValueGetter<K, L>> left_;
  std::unique_ptr<ValueGetter<K, R>> right_;
  Fn fn_;
  TableValue<VOut> result_;
};

}  // namespace sluice::internal
