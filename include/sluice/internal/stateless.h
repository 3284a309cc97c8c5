// Typed stateless operators: filter, map, mapValues, selectKey, flatMap, flatMapValues,
// peek/foreach, split and merge. Each is a node instance of one task, owned by its
// worker; the user's function is a template parameter, so the compiler inlines it into
// the per-batch loop. See node.h for the batch and ordering rules.
#pragma once

#include <algorithm>
#include <functional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/internal/node.h"
#include "sluice/key_value.h"

namespace sluice::internal {

// Calls f(key, value) or f(value), whichever the user wrote.
template <class F, class K, class V>
decltype(auto) InvokeValueFn(F& f, const K& key, V&& value) {
  if constexpr (std::is_invocable_v<F&, const K&, V&&>) {
    return f(key, std::forward<V>(value));
  } else {
    return f(std::forward<V>(value));
  }
}

// filter / filterNot: forwards the records the predicate keeps, in place.
template <class K, class V, class P, bool kNegate>
class FilterNode final : public Input<K, V> {
 public:
  explicit FilterNode(P predicate) : predicate_(std::move(predicate)) {}
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    selected_.clear();
    for (Record<K, V>* r : batch.records) {
      if (static_cast<bool>(predicate_(std::as_const(r->key), std::as_const(r->value))) !=
          kNegate) {
        selected_.push_back(r);
      }
    }
    out_.Emit(selected_, batch.movable, batch.context);
  }

 private:
  P predicate_;
  Output<K, V> out_;
  std::vector<Record<K, V>*> selected_;
};

// Copies a record's metadata (not key and value) to a derived record.
template <class K2, class V2, class K, class V>
void CopyMeta(const Record<K, V>& from, Record<K2, V2>& to) {
  to.timestamp = from.timestamp;
  to.offset = from.offset;
  to.seq = from.seq;
  to.headers = from.headers;
}

// map: a new key and value for every record. Rewrites in place when the types stay the
// same and it is the only reader.
template <class K, class V, class K2, class V2, class F>
class MapNode final : public Input<K, V> {
 public:
  explicit MapNode(F f) : f_(std::move(f)) {}
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    if constexpr (std::is_same_v<K, K2> && std::is_same_v<V, V2>) {
      if (batch.movable) {
        for (Record<K, V>* r : batch.records) {
          auto kv = f_(std::move(r->key), std::move(r->value));
          r->key = KeyOf(std::move(kv));
          r->value = ValueOf(std::move(kv));
        }
        out_.Emit(batch.records, true, batch.context);
        return;
      }
    }
    buffer_.Clear();
    for (Record<K, V>* r : batch.records) {
      Record<K2, V2>& o = buffer_.Next();
      auto kv = batch.movable ? f_(std::move(r->key), std::move(r->value))
                              : f_(std::as_const(r->key), std::as_const(r->value));
      o.key = KeyOf(std::move(kv));
      o.value = ValueOf(std::move(kv));
      CopyMeta(*r, o);
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  F f_;
  Output<K2, V2> out_;
  RecordBuffer<K2, V2> buffer_;
};

// mapValues: a new value, the same key.
template <class K, class V, class V2, class F>
class MapValuesNode final : public Input<K, V> {
 public:
  explicit MapValuesNode(F f) : f_(std::move(f)) {}
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    if constexpr (std::is_same_v<V, V2>) {
      if (batch.movable) {
        for (Record<K, V>* r : batch.records) {
          r->value = InvokeValueFn(f_, std::as_const(r->key), std::move(r->value));
        }
        out_.Emit(batch.records, true, batch.context);
        return;
      }
    }
    buffer_.Clear();
    for (Record<K, V>* r : batch.records) {
      Record<K, V2>& o = buffer_.Next();
      if (batch.movable) {
        o.value = InvokeValueFn(f_, std::as_const(r->key), std::move(r->value));
        o.key = std::move(r->key);
      } else {
        o.value = InvokeValueFn(f_, std::as_const(r->key), std::as_const(r->value));
        o.key = r->key;
      }
      CopyMeta(*r, o);
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  F f_;
  Output<K, V2> out_;
  RecordBuffer<K, V2> buffer_;
};

// selectKey: a new key computed from the record, the same value.
template <class K, class V, class K2, class F>
class SelectKeyNode final : public Input<K, V> {
 public:
  explicit SelectKeyNode(F f) : f_(std::move(f)) {}
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    if constexpr (std::is_same_v<K, K2>) {
      if (batch.movable) {
        for (Record<K, V>* r : batch.records) {
          K2 key = f_(std::as_const(r->key), std::as_const(r->value));
          r->key = std::move(key);
        }
        out_.Emit(batch.records, true, batch.context);
        return;
      }
    }
    buffer_.Clear();
    for (Record<K, V>* r : batch.records) {
      Record<K2, V>& o = buffer_.Next();
      o.key = f_(std::as_const(r->key), std::as_const(r->value));
      if (batch.movable) {
        o.value = std::move(r->value);
      } else {
        o.value = r->value;
      }
      CopyMeta(*r, o);
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  F f_;
  Output<K2, V> out_;
  RecordBuffer<K2, V> buffer_;
};

// flatMap: zero or more (key, value) pairs per record.
template <class K, class V, class K2, class V2, class F>
class FlatMapNode final : public Input<K, V> {
 public:
  explicit FlatMapNode(F f) : f_(std::move(f)) {}
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    buffer_.Clear();
    for (Record<K, V>* r : batch.records) {
      auto&& range = f_(std::as_const(r->key), std::as_const(r->value));
      for (auto&& kv : range) {
        Record<K2, V2>& o = buffer_.Next();
        o.key = KeyOf(std::forward<decltype(kv)>(kv));
        o.value = ValueOf(std::forward<decltype(kv)>(kv));
        CopyMeta(*r, o);
      }
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  F f_;
  Output<K2, V2> out_;
  RecordBuffer<K2, V2> buffer_;
};

// flatMapValues: zero or more values per record, each with the record's key.
template <class K, class V, class V2, class F>
class FlatMapValuesNode final : public Input<K, V> {
 public:
  explicit FlatMapValuesNode(F f) : f_(std::move(f)) {}
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    buffer_.Clear();
    for (Record<K, V>* r : batch.records) {
      auto&& range = InvokeValueFn(f_, std::as_const(r->key), std::as_const(r->value));
      for (auto&& v : range) {
        Record<K, V2>& o = buffer_.Next();
        o.key = r->key;
        o.value = std::forward<decltype(v)>(v);
        CopyMeta(*r, o);
      }
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  F f_;
  Output<K, V2> out_;
  RecordBuffer<K, V2> buffer_;
};

// peek (forwards every record) and foreach (terminal): calls f(key, value).
template <class K, class V, class F>
class PeekNode final : public Input<K, V> {
 public:
  explicit PeekNode(F f) : f_(std::move(f)) {}
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    for (Record<K, V>* r : batch.records) f_(std::as_const(r->key), std::as_const(r->value));
    out_.Emit(batch.records, batch.movable, batch.context);
  }

 private:
  F f_;
  Output<K, V> out_;
};

// split: sends each record to the first branch whose predicate it matches (a default
// branch has no predicate); records that match no branch are dropped. Children are
// wired in branch order; branch i's child is the i-th AddChild.
template <class K, class V>
class BranchNode final : public Input<K, V> {
 public:
  using Predicate = std::function<bool(const K&, const V&)>;
  explicit BranchNode(std::vector<Predicate> predicates)
      : predicates_(std::move(predicates)), selected_(predicates_.size()) {}

  absl::Status AddChild(NodeInstance* child) override {
    if (outs_.size() >= predicates_.size()) {
      return absl::InternalError("split: more children than branches");
    }
    outs_.emplace_back();
    return outs_.back().Wire(child);
  }

  void Process(const Batch<K, V>& batch) override {
    for (auto& s : selected_) s.clear();
    for (Record<K, V>* r : batch.records) {
      for (size_t i = 0; i < predicates_.size(); ++i) {
        if (!predicates_[i] || predicates_[i](std::as_const(r->key), std::as_const(r->value))) {
          selected_[i].push_back(r);
          break;
        }
      }
    }
    // Each record goes to one branch only, so every branch may move from its records.
    for (size_t i = 0; i < outs_.size(); ++i) {
      outs_[i].Emit(selected_[i], batch.movable, batch.context);
    }
  }

 private:
  std::vector<Predicate> predicates_;
  std::vector<Output<K, V>> outs_;
  std::vector<std::vector<Record<K, V>*>> selected_;
};

// merge: the records of several parents, in input order. Buffers pointers during a
// source batch and emits them sorted by seq when the task flushes (see node.h); the
// records stay valid until the batch ends and none of its parents' siblings may move
// from them, because a node with several children never hands out movable batches.
template <class K, class V>
class MergeNode final : public Input<K, V> {
 public:
  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, V>& batch) override {
    if (pending_.empty()) context_ = batch.context;
    pending_.insert(pending_.end(), batch.records.begin(), batch.records.end());
  }

  void Flush() override {
    if (pending_.empty()) return;
    std::stable_sort(pending_.begin(), pending_.end(),
                     [](const Record<K, V>* a, const Record<K, V>* b) { return a->seq < b->seq; });
    // The same record can arrive through two parents; neither copy may be moved from.
    out_.Emit(pending_, false, context_);
    pending_.clear();
  }

  void Reset() override { pending_.clear(); }

 private:
  Output<K, V> out_;
  std::vector<Record<K, V>*> pending_;
  const BatchContext* context_ = nullptr;
};

}  // namespace sluice::internal
