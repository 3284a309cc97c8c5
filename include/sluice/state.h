// Read-only views of a key-value store, typed by its serdes: what interactive queries
// (App::Store) and the TopologyTestDriver hand out.
//
//   sluice::ReadOnlyKeyValueStore<StringSerde, Int64Serde> counts =
//       app->Store<StringSerde, Int64Serde>("views-per-page").value();
//   absl::StatusOr<std::optional<int64_t>> n = counts.Get("/index.html");
//
// Keys are ordered by their serialized bytes, as in Kafka Streams. Range results are
// returned whole (not as iterators), so a view holds no lock and no RocksDB snapshot
// between calls.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sluice/internal/node.h"
#include "sluice/internal/state_store.h"
#include "sluice/internal/str.h"
#include "sluice/key_value.h"
#include "sluice/serde.h"

namespace sluice {
namespace internal {

// Reads one store over every partition a process hosts. Values are envelopes.
class StoreReader {
 public:
  virtual ~StoreReader() = default;
  virtual const std::string& name() const = 0;
  // The envelope stored for `key`, or nullopt.
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;
  // Entries with keys in [from, to) (an absent bound is open), in key order.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Range(
      std::optional<std::string_view> from, std::optional<std::string_view> to) = 0;
  virtual absl::StatusOr<uint64_t> ApproximateNumEntries() = 0;
};

}  // namespace internal

template <Serde KS, Serde VS>
class ReadOnlyKeyValueStore {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  ReadOnlyKeyValueStore(std::shared_ptr<internal::StoreReader> reader, KS key_serde = {},
                        VS value_serde = {})
      : reader_(std::move(reader)), key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  // The value of `key`, or nullopt when absent.
  absl::StatusOr<std::optional<V>> Get(const K& key) const {
    absl::StatusOr<std::optional<std::string>> envelope = reader_->Get(Serialize(key));
    if (!envelope.ok()) return envelope.status();
    if (!envelope->has_value()) return std::optional<V>();
    internal::StoredValue stored;
    if (!internal::DecodeStored(**envelope, &stored)) return Malformed();
    V value{};
    if (absl::Status s = value_serde_.Deserialize(stored.value, value); !s.ok()) return Bad(s);
    return std::optional<V>(std::move(value));
  }

  // Entries with from <= key <= to (by serialized key bytes).
  absl::StatusOr<std::vector<KeyValue<K, V>>> Range(const K& from, const K& to) const {
    std::string end = Serialize(to);
    end.push_back('\0');  // the smallest key after `to`
    return Decode(reader_->Range(Serialize(from), end));
  }
  absl::StatusOr<std::vector<KeyValue<K, V>>> All() const {
    return Decode(reader_->Range(std::nullopt, std::nullopt));
  }
  // Entries whose serialized key starts with the serialized `prefix`.
  absl::StatusOr<std::vector<KeyValue<K, V>>> PrefixScan(const K& prefix) const {
    std::string from = Serialize(prefix);
    std::optional<std::string> to = internal::PrefixEnd(from);
    return Decode(reader_->Range(from, to ? std::optional<std::string_view>(*to) : std::nullopt));
  }
  absl::StatusOr<uint64_t> ApproximateNumEntries() const { return reader_->ApproximateNumEntries(); }

 private:
  std::string Serialize(const K& key) const {
    std::string out;
    key_serde_.Serialize(key, out);
    return out;
  }

  absl::StatusOr<std::vector<KeyValue<K, V>>> Decode(
      absl::StatusOr<std::vector<std::pair<std::string, std::string>>> entries) const {
    if (!entries.ok()) return entries.status();
    std::vector<KeyValue<K, V>> out;
    out.reserve(entries->size());
    internal::StoredValue stored;
    for (const auto& [key, envelope] : *entries) {
      if (!internal::DecodeStored(envelope, &stored)) return Malformed();
      KeyValue<K, V> kv;
      if (absl::Status s = key_serde_.Deserialize(key, kv.key); !s.ok()) return Bad(s);
      if (absl::Status s = value_serde_.Deserialize(stored.value, kv.value); !s.ok()) return Bad(s);
      out.push_back(std::move(kv));
    }
    return out;
  }

  absl::Status Malformed() const {
    return absl::DataLossError(
        internal::Cat("state store '", reader_->name(), "': a stored value has a malformed envelope"));
  }
  absl::Status Bad(const absl::Status& s) const {
    return absl::InvalidArgumentError(internal::Cat(
        "state store '", reader_->name(), "': an entry does not deserialize with the serdes "
        "of this view: ", s.message()));
  }

  std::shared_ptr<internal::StoreReader> reader_;
  KS key_serde_;
  VS value_serde_;
};

namespace internal {

// What a processor's store writes record about the input record being processed: its
// timestamp, and its position (none during a punctuation).
struct StoreWriteContext {
  int64_t timestamp = 0;
  std::optional<WritePosition> position;
};

}  // namespace internal

// A task's key-value store as a processor sees it (Processor API): reads see the task's
// own uncommitted writes. Writes record the current record's timestamp and position, go
// to the store's changelog, and become durable at the next commit. Errors (I/O, a value
// that does not deserialize) throw, which fails the task like an exception from the
// processor itself. Only valid on the task's thread, while the processor lives.
template <Serde KS, Serde VS>
class KeyValueStore {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  KeyValueStore(internal::KeyValueBytesStore& store, const internal::StoreWriteContext& context,
                KS key_serde = {}, VS value_serde = {})
      : store_(&store), context_(&context), key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)) {}

  const std::string& name() const { return store_->name(); }

  std::optional<V> Get(const K& key) {
    bool found = false;
    Check(store_->Get(SerializeKey(key), &scratch_, &found), "reading");
    if (!found) return std::nullopt;
    return DecodeValue(scratch_);
  }

  void Put(const K& key, const V& value) {
    std::string_view k = SerializeKey(key);
    value_buf_.clear();
    if constexpr (NullableSerde<VS>) {
      if (value_serde_.IsNull(value)) {
        Check(store_->Delete(k), "deleting from");
        return;
      }
    }
    value_serde_.Serialize(value, value_buf_);
    internal::PositionSet positions;
    if (context_->position) {
      // Keep the key's positions for the other source topics.
      bool found = false;
      internal::StoredValue stored;
      Check(store_->Get(k, &scratch_, &found), "reading");
      if (found && internal::DecodeStored(scratch_, &stored)) positions = std::move(stored.positions);
      positions.Advance(*context_->position);
    }
    internal::EncodeStored(value_buf_, context_->timestamp, positions, &envelope_);
    Check(store_->Put(k, envelope_), "writing");
  }

  // Puts unless the key has a value; returns the value it has (nullopt if it was put).
  std::optional<V> PutIfAbsent(const K& key, const V& value) {
    std::optional<V> existing = Get(key);
    if (!existing) Put(key, value);
    return existing;
  }

  // Deletes the key; returns the value it had.
  std::optional<V> Delete(const K& key) {
    std::optional<V> old = Get(key);
    Check(store_->Delete(SerializeKey(key)), "deleting from");
    return old;
  }

  // Entries with from <= key <= to (by serialized key bytes), and the same for all keys
  // and for a key prefix.
  std::vector<KeyValue<K, V>> Range(const K& from, const K& to) {
    std::string f(SerializeKey(from));
    std::string t(SerializeKey(to));
    t.push_back('\0');
    return Scan(f, t);
  }
  std::vector<KeyValue<K, V>> All() { return Scan(std::nullopt, std::nullopt); }
  std::vector<KeyValue<K, V>> PrefixScan(const K& prefix) {
    std::string f(SerializeKey(prefix));
    std::optional<std::string> t = internal::PrefixEnd(f);
    return Scan(f, t ? std::optional<std::string_view>(*t) : std::nullopt);
  }
  uint64_t ApproximateNumEntries() {
    absl::StatusOr<uint64_t> n = store_->ApproximateNumEntries();
    Check(n.status(), "counting");
    return *n;
  }

 private:
  std::string_view SerializeKey(const K& key) {
    key_serde_.Serialize(key, key_buf_);
    return key_buf_;
  }

  V DecodeValue(std::string_view envelope) {
    internal::StoredValue stored;
    if (!internal::DecodeStored(envelope, &stored)) {
      Check(absl::DataLossError("a stored value has a malformed envelope"), "reading");
    }
    V value{};
    Check(value_serde_.Deserialize(stored.value, value), "deserializing a value of");
    return value;
  }

  std::vector<KeyValue<K, V>> Scan(std::optional<std::string_view> from,
                                   std::optional<std::string_view> to) {
    std::vector<KeyValue<K, V>> out;
    if (from && to && *from >= *to) return out;
    absl::StatusOr<std::unique_ptr<internal::StoreIterator>> it = store_->Range(from, to);
    Check(it.status(), "scanning");
    for (; (*it)->Valid(); (*it)->Next()) {
      KeyValue<K, V> kv;
      Check(key_serde_.Deserialize((*it)->key(), kv.key), "deserializing a key of");
      kv.value = DecodeValue((*it)->value());
      out.push_back(std::move(kv));
    }
    Check((*it)->status(), "scanning");
    return out;
  }

  void Check(const absl::Status& s, std::string_view what) {
    if (!s.ok()) {
      throw internal::TaskFailure(absl::Status(
          s.code(), internal::Cat(what, " state store '", name(), "': ", s.message())));
    }
  }

 private:
  internal::KeyValueBytesStore* store_;
  const internal::StoreWriteContext* context_;
  KS key_serde_;
  VS value_serde_;
  std::string key_buf_, value_buf_, scratch_, envelope_;
};

}  // namespace sluice
