// Foreign-key KTable-KTable joins (docs/joins.md; Kafka Streams' KIP-213). The left
// table's rows name a right-table key (the foreign key). Three kinds of node:
//
//   left sub-topology                         right sub-topology
//   FkSubscribeNode: a left change  --(subscription topic, keyed by FK)-->
//                                             FkSubscriptionNode: stores who subscribes
//                                             to which FK, answers with the right value
//                                             FkRightUpdateNode: a right change answers
//                                             every subscriber of its key
//   FkResponseNode: a response      <--(response topic, keyed by the left key)--
//   joins it with the current left row, unless that row no longer names the FK.
//
// The result is written to a store (ToTableNode), which emits the table's changes with
// old values. A left delete, or a row whose FK is absent, is answered locally (delete,
// or a left join's nullopt row) without a round trip.
//
// Wire formats (internal topics; both are raw bytes, StringSerde on the wire):
//   subscription value: instruction byte ('S' subscribe, 'U' unsubscribe), left key bytes
//   response value:     varint length of the FK bytes, FK bytes, presence byte ('1' a
//                       right value follows, '0' none), right value bytes
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/internal/join.h"
#include "sluice/internal/node.h"
#include "sluice/internal/stateful.h"
#include "sluice/internal/table_getter.h"

namespace sluice::internal {

template <class T, class>
struct DependentType {
  using type = T;
};

inline void AppendVarint(uint64_t n, std::string* out) {
  while (n >= 0x80) {
    out->push_back(static_cast<char>(n | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
}
inline bool ReadVarint(std::string_view* in, uint64_t* n) {
  *n = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *n |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// The subscription store's key: the FK bytes (length-prefixed, so that one FK's
// subscribers are one prefix) and the left key bytes.
inline std::string SubscriptionKey(std::string_view fk, std::string_view left_key) {
  std::string k;
  AppendVarint(fk.size(), &k);
  k += fk;
  k += left_key;
  return k;
}

// Calls the FK extractor, (value) or (key, value), as an optional FK.
template <class KR, class F, class KL, class VL>
std::optional<KR> ExtractForeignKey(F& f, const KL& key, const VL& value) {
  if constexpr (std::is_invocable_v<F&, const KL&, const VL&>) {
    return std::optional<KR>(f(key, value));
  } else {
    return std::optional<KR>(f(value));
  }
}

template <class T>
std::string SerializeOrFail(const T& serde, const typename T::Type& value, std::string_view what) {
  std::string buf;
  try {
    serde.Serialize(value, buf);
  } catch (const std::exception& e) {
    throw TaskFailure(absl::InvalidArgumentError(Cat("foreign-key join: cannot serialize the ", what,
                                                     " (serde ", SerdeName<T>(), "): ", e.what())));
  }
  return buf;
}

// Left side: each change of a left row (un)subscribes at its old and new FK; a row that
// is gone, or names no FK, is answered here.
template <Serde KLS, class VL, Serde KRS, class VR, class VOut, class F, class Fn>
class FkSubscribeNode final : public Input<typename KLS::Type, Change<VL>> {
 public:
  using KL = typename KLS::Type;
  using KR = typename KRS::Type;
  FkSubscribeNode(KLS kls, KRS krs, F extractor, Fn fn)
      : kls_(std::move(kls)), krs_(std::move(krs)), extractor_(std::move(extractor)), fn_(std::move(fn)) {}

  // Two kinds of child: the subscription sink (KR, bytes) and the result (KL, optional).
  absl::Status AddChild(NodeInstance* child) override {
    if (dynamic_cast<Input<KR, std::string>*>(child) != nullptr) return subscriptions_.Wire(child);
    return results_.Wire(child);
  }

  void Process(const Batch<KL, Change<VL>>& batch) override {
    subs_.Clear();
    local_.Clear();
    for (Record<KL, Change<VL>>* r : batch.records) {
      std::optional<KR> old_fk, new_fk;
      if (r->value.old_value) old_fk = ExtractForeignKey<KR>(extractor_, r->key, *r->value.old_value);
      if (r->value.new_value) new_fk = ExtractForeignKey<KR>(extractor_, r->key, *r->value.new_value);
      std::optional<std::string> old_bytes, new_bytes;
      if (old_fk) old_bytes = SerializeOrFail(krs_, *old_fk, "foreign key");
      if (new_fk) new_bytes = SerializeOrFail(krs_, *new_fk, "foreign key");
      if (old_bytes && old_bytes != new_bytes) Subscription(*r, *old_fk, 'U');
      if (new_bytes) {
        // Also when the FK is unchanged: the right side answers with its current value,
        // which the response node joins with this new left value.
        Subscription(*r, *new_fk, 'S');
      } else if (r->value.new_value) {
        // A row without a FK: a left join keeps it, with nullopt.
        Local(*r, fn_(r->key, r->value.new_value, std::optional<VR>()));
      } else if (r->value.old_value) {
        Local(*r, std::nullopt);  // the left row is gone: so is its result
      }
    }
    subscriptions_.Emit(subs_.View(), true, batch.context);
    results_.Emit(local_.View(), true, batch.context);
  }

 private:
  void Subscription(const Record<KL, Change<VL>>& in, const KR& fk, char instruction) {
    Record<KR, std::string>& out = subs_.Next();
    out.key = fk;
    out.value.assign(1, instruction);
    out.value += SerializeOrFail(kls_, in.key, "left key");
    CopyMeta(in, out);
  }
  void Local(const Record<KL, Change<VL>>& in, std::optional<VOut> value) {
    Record<KL, std::optional<VOut>>& out = local_.Next();
    out.key = in.key;
    out.value = std::move(value);
    CopyMeta(in, out);
  }

  KLS kls_;
  KRS krs_;
  F extractor_;
  Fn fn_;
  Output<KR, std::string> subscriptions_;
  Output<KL, std::optional<VOut>> results_;
  RecordBuffer<KR, std::string> subs_;
  RecordBuffer<KL, std::optional<VOut>> local_;
};

// Right side: records each subscription and answers it with the right table's value.
template <Serde KRS, Serde VRS>
class FkSubscriptionNode final : public Input<typename KRS::Type, std::string> {
 public:
  using KR = typename KRS::Type;
  using VR = typename VRS::Type;

  FkSubscriptionNode(std::string_view store, KRS krs, VRS vrs,
                     std::unique_ptr<ValueGetter<KR, VR>> right, TaskServices& services)
      : store_(RequireStore(services, store)), krs_(std::move(krs)), vrs_(std::move(vrs)),
        right_(std::move(right)) {}

  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<KR, std::string>& batch) override {
    buffer_.Clear();
    for (Record<KR, std::string>* r : batch.records) {
      if (r->value.empty()) {
        throw TaskFailure(absl::DataLossError(Cat("foreign-key join: an empty subscription at offset ",
                                                  r->offset, " of '", batch.context->topic, "'")));
      }
      const std::string fk = SerializeOrFail(krs_, r->key, "foreign key");
      const std::string_view left_key = std::string_view(r->value).substr(1);
      const std::string key = SubscriptionKey(fk, left_key);
      if (r->value[0] == 'U') {
        Check(store_.Delete(key), "deleting from");
        continue;
      }
      EncodeStored("", r->timestamp, PositionSet(), &envelope_);
      Check(store_.Put(key, envelope_), "writing");
      const TableValue<VR>* found = right_->Get(r->key);
      Respond(left_key, fk, found != nullptr ? std::optional<VR>(found->value) : std::nullopt, *r);
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  void Respond(std::string_view left_key, std::string_view fk, const std::optional<VR>& value,
               const Record<KR, std::string>& in) {
    Record<std::string, std::string>& out = buffer_.Next();
    out.key.assign(left_key);
    out.value.clear();
    AppendVarint(fk.size(), &out.value);
    out.value += fk;
    out.value.push_back(value ? '1' : '0');
    if (value) out.value += SerializeOrFail(vrs_, *value, "right value");
    CopyMeta(in, out);
    out.headers = nullptr;
  }
  void Check(const absl::Status& s, std::string_view what) {
    if (!s.ok()) {
      throw TaskFailure(absl::Status(s.code(), Cat(what, " state store '", store_.name(), "': ", s.message())));
    }
  }

  KeyValueBytesStore& store_;
  KRS krs_;
  VRS vrs_;
  std::unique_ptr<ValueGetter<KR, VR>> right_;
  std::string envelope_;
  Output<std::string, std::string> out_;
  RecordBuffer<std::string, std::string> buffer_;
};

// Right side: a change of a right row answers every left row subscribed to its key.
template <Serde KRS, Serde VRS>
class FkRightUpdateNode final : public Input<typename KRS::Type, Change<typename VRS::Type>> {
 public:
  using KR = typename KRS::Type;
  using VR = typename VRS::Type;

  FkRightUpdateNode(std::string_view store, KRS krs, VRS vrs, TaskServices& services)
      : store_(RequireStore(services, store)), krs_(std::move(krs)), vrs_(std::move(vrs)) {}

  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<KR, Change<VR>>& batch) override {
    buffer_.Clear();
    for (Record<KR, Change<VR>>* r : batch.records) {
      const std::string fk = SerializeOrFail(krs_, r->key, "foreign key");
      std::string value;
      AppendVarint(fk.size(), &value);
      value += fk;
      value.push_back(r->value.new_value ? '1' : '0');
      if (r->value.new_value) value += SerializeOrFail(vrs_, *r->value.new_value, "right value");
      const std::string prefix = SubscriptionKey(fk, "");
      const std::optional<std::string> end = PrefixEnd(prefix);
      absl::StatusOr<std::unique_ptr<StoreIterator>> it =
          store_.Range(prefix, end ? std::optional<std::string_view>(*end) : std::nullopt);
      if (!it.ok()) throw TaskFailure(it.status());
      for (; (*it)->Valid(); (*it)->Next()) {
        Record<std::string, std::string>& out = buffer_.Next();
        out.key.assign((*it)->key().substr(prefix.size()));
        out.value = value;
        CopyMeta(*r, out);
        out.headers = nullptr;
      }
      if (absl::Status s = (*it)->status(); !s.ok()) throw TaskFailure(s);
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  KeyValueBytesStore& store_;
  KRS krs_;
  VRS vrs_;
  Output<std::string, std::string> out_;
  RecordBuffer<std::string, std::string> buffer_;
};

// Left side: joins a response with the current left row, if it still names that FK.
template <Serde KLS, class VL, Serde KRS, Serde VRS, class VOut, class F, class Fn>
class FkResponseNode final : public Input<std::string, std::string> {
 public:
  using KL = typename KLS::Type;
  using KR = typename KRS::Type;
  using VR = typename VRS::Type;

  FkResponseNode(KLS kls, KRS krs, VRS vrs, std::unique_ptr<ValueGetter<KL, VL>> left,
                 F extractor, Fn fn)
      : kls_(std::move(kls)), krs_(std::move(krs)), vrs_(std::move(vrs)), left_(std::move(left)),
        extractor_(std::move(extractor)), fn_(std::move(fn)) {}

  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<std::string, std::string>& batch) override {
    buffer_.Clear();
    for (Record<std::string, std::string>* r : batch.records) {
      std::string_view in = r->value;
      uint64_t fk_size = 0;
      if (!ReadVarint(&in, &fk_size) || fk_size + 1 > in.size()) Malformed(*r, *batch.context);
      const std::string_view fk = in.substr(0, fk_size);
      const bool present = in[fk_size] == '1';
      const std::string_view right_bytes = in.substr(fk_size + 1);
      KL key{};
      if (!kls_.Deserialize(r->key, key).ok()) Malformed(*r, *batch.context);
      const TableValue<VL>* left = left_->Get(key);
      if (left == nullptr) continue;  // the left row is gone; its delete was emitted then
      std::optional<KR> current = ExtractForeignKey<KR>(extractor_, key, left->value);
      if (!current || SerializeOrFail(krs_, *current, "foreign key") != fk) continue;  // stale
      std::optional<VR> right;
      if (present) {
        right.emplace();
        if (absl::Status s = vrs_.Deserialize(right_bytes, *right); !s.ok()) Malformed(*r, *batch.context);
      }
      Record<KL, std::optional<VOut>>& out = buffer_.Next();
      out.key = std::move(key);
      out.value = fn_(out.key, std::optional<VL>(left->value), right);
      CopyMeta(*r, out);
      out.headers = nullptr;
    }
    out_.Emit(buffer_.View(), true, batch.context);
  }

 private:
  [[noreturn]] void Malformed(const Record<std::string, std::string>& r, const BatchContext& c) {
    throw TaskFailure(absl::DataLossError(Cat("foreign-key join: a malformed response at topic '",
                                              c.topic, "' partition ", c.partition, " offset ",
                                              r.offset)));
  }

  KLS kls_;
  KRS krs_;
  VRS vrs_;
  std::unique_ptr<ValueGetter<KL, VL>> left_;
  F extractor_;
  Fn fn_;
  Output<KL, std::optional<VOut>> out_;
  RecordBuffer<KL, std::optional<VOut>> buffer_;
};

}  // namespace sluice::internal
