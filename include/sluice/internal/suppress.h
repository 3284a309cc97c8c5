// KTable::Suppress (include/sluice/suppressed.h): a node that holds a table's updates in
// a buffer, one entry per key (the latest value, and the value before the first update
// it holds), and emits an entry when its time has come:
//   final results (UntilWindowCloses): the key is a window, its time is the window's end,
//     and it is emitted once stream time reaches end + grace; deletions are dropped;
//   UntilTimeLimit: its time is the timestamp of the key's first held update, and it is
//     emitted once stream time reaches that + the time limit.
// Stream time is the node's own: the largest timestamp of the updates it has seen.
// A bounded buffer that is full emits its oldest entry early, or fails the task.
//
// The buffer lives in memory; every change to it is written to its store (an in-memory
// store with a changelog), from which it is rebuilt when the task starts. Store values:
// [buffer time, ordered 8 bytes][ChangeSerde bytes: latest value, prior value], in an
// envelope whose timestamp is the latest update's. The node's stream time is kept
// under kStreamTimeKey.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/container/node_hash_map.h"
#include "sluice/internal/node.h"
#include "sluice/internal/stateful.h"
#include "sluice/internal/str.h"
#include "sluice/internal/window_store.h"
#include "sluice/suppressed.h"
#include "sluice/windows.h"

namespace sluice::internal {

template <class T>
struct IsWindowed : std::false_type {};
template <class K>
struct IsWindowed<Windowed<K>> : std::true_type {};

// The serde of a suppression buffer's keys: K's default; for a window, its key's
// default and both bounds (the session-windowed format).
template <class K>
struct BufferKeySerdeOf {
  using type = DefaultSerdeFor<K>;
};
template <class K>
struct BufferKeySerdeOf<Windowed<K>> {
  using type = SessionWindowedSerde<DefaultSerdeFor<K>>;
};
template <class K>
using BufferKeySerde = typename BufferKeySerdeOf<K>::type;

template <class K>
struct HasBufferKeySerde : std::bool_constant<HasDefaultSerde<K>> {};
template <class K>
struct HasBufferKeySerde<Windowed<K>> : std::bool_constant<HasDefaultSerde<K>> {};
template <class K, class V>
inline constexpr bool HasBufferSerdes = HasBufferKeySerde<K>::value && HasDefaultSerde<V>;

struct SuppressSpec {
  std::string name;   // the processor's, for errors
  std::string store;  // the buffer's store
  bool final_results = false;
  int64_t wait_ms = 0;  // the grace period (final results) or the time limit
  BufferConfig buffer;
};

template <Serde KS, Serde VS>
class SuppressNode final : public Input<typename KS::Type, Change<typename VS::Type>> {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  SuppressNode(SuppressSpec spec, KS ks, VS vs, TaskServices& services)
      : spec_(std::move(spec)), services_(services), store_(RequireStore(services, spec_.store)),
        key_serde_(std::move(ks)), change_serde_(std::move(vs)) {
    flush_context_.partition = flush_context_.task_partition = services.partition();
  }

  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Process(const Batch<K, Change<V>>& batch) override {
    if (!loaded_) Load();
    out_buffer_.Clear();
    for (Record<K, Change<V>>* r : batch.records) {
      now_ = std::max(now_, r->timestamp);
      Hold(*r);
      EnforceLimits(*r);
      EmitDue(now_ - spec_.wait_ms, *r);
    }
    out_.Emit(out_buffer_.View(), true, batch.context);
    out_buffer_.Clear();
    idle_.Touch(services_.wall_clock_time(), now_);
  }

  // Idle close: stream time follows the wall clock once input stops; what falls due is
  // emitted.
  void Punctuate(bool stream_time, int64_t time) override {
    if (stream_time || !loaded_) return;
    std::optional<int64_t> t = idle_.At(time, services_.idle_window_close_ms(), now_);
    if (!t) return;
    now_ = *t;
    out_buffer_.Clear();
    Record<K, Change<V>> cause;
    EmitDue(now_ - spec_.wait_ms, cause);
    out_.Emit(out_buffer_.View(), true, &flush_context_);
    out_buffer_.Clear();
  }

  // At commit: keeps the stream time with the buffer.
  void FlushCache() override {
    if (loaded_ && now_ != recorded_) {
      WriteStreamTime(store_, now_);
      recorded_ = now_;
    }
  }

 private:
  struct Entry {
    int64_t time;  // when it is due (before the wait)
    K key;
    std::optional<V> latest;
    std::optional<V> prior;
    int64_t timestamp;  // of the latest update
    int64_t bytes;
  };
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  static constexpr int64_t kEntryOverhead = 48;

  // Adds an update: a new entry, or the latest value of the key's entry.
  void Hold(const Record<K, Change<V>>& r) {
    std::string_view key = KeyBytes(r.key, r.offset);
    bool added = false;
    // One hash whether the key is new or not.
    auto it = entries_.lazy_emplace(key, [&](const auto& construct) {
      added = true;
      int64_t time = r.timestamp;
      if constexpr (IsWindowed<K>::value) {
        if (spec_.final_results) time = r.key.window.end_ms;
      }
      construct(std::string(key), Entry{time, r.key, std::nullopt, r.value.old_value, r.timestamp, 0});
    });
    if (added) index_.emplace(it->second.time, it->first);
    Entry& e = it->second;
    e.latest = r.value.new_value;
    e.timestamp = r.timestamp;
    Persist(it->first, e, r.offset);
  }

  // Emits what is due by `expiry` (entries whose time is at or before it).
  void EmitDue(int64_t expiry, const Record<K, Change<V>>& cause) {
    while (!index_.empty() && index_.begin()->first <= expiry) Emit(cause);
  }

  void EnforceLimits(const Record<K, Change<V>>& cause) {
    const BufferConfig& limit = spec_.buffer;
    while (static_cast<int64_t>(entries_.size()) > limit.max_records() || bytes_ > limit.max_bytes()) {
      if (limit.when_full() == BufferConfig::WhenFull::kShutDown) {
        throw TaskFailure(absl::ResourceExhaustedError(
            Cat("suppression '", spec_.name, "' (store '", spec_.store, "'): its buffer is full (",
                entries_.size(), " records, ", bytes_, " bytes; limits ", limit.max_records(),
                " records, ", limit.max_bytes(), " bytes) and is set to shut down when full; "
                "raise the limits")));
      }
      Emit(cause);
    }
  }

  // Emits the oldest entry and forgets it.
  void Emit(const Record<K, Change<V>>& cause) {
    auto first = index_.begin();
    auto it = entries_.find(first->second);
    Entry& e = it->second;
    if (e.latest || !spec_.final_results) {
      Record<K, Change<V>>& out = out_buffer_.Next();
      out.key = std::move(e.key);
      out.value.new_value = std::move(e.latest);
      out.value.old_value = std::move(e.prior);
      out.timestamp = e.timestamp;
      out.offset = cause.offset;
      out.seq = cause.seq;
      out.headers = nullptr;
    }
    Check(store_.Delete(it->first), "deleting from");
    bytes_ -= e.bytes;
    index_.erase(first);
    entries_.erase(it);
  }

  void Persist(const std::string& key, Entry& e, int64_t offset) {
    value_.clear();
    AppendOrdered64(e.time, &value_);
    try {
      change_serde_.Serialize(Change<V>{e.latest, e.prior}, scratch_);
    } catch (const std::exception& ex) {
      throw TaskFailure(absl::InvalidArgumentError(
          Cat("suppression '", spec_.name, "': cannot serialize a value (input record at offset ",
              offset, "): ", ex.what())));
    }
    value_ += scratch_;
    EncodeStored(value_, e.timestamp, PositionSet(), &envelope_);
    Check(store_.Put(key, envelope_), "writing");
    bytes_ -= e.bytes;
    e.bytes = static_cast<int64_t>(key.size() + value_.size()) + kEntryOverhead;
    bytes_ += e.bytes;
  }

  // Rebuilds the buffer from its store (after the task's stores are restored).
  void Load() {
    loaded_ = true;
    now_ = recorded_ = ReadStreamTime(store_).value_or(kNone);
    absl::StatusOr<std::unique_ptr<StoreIterator>> it = store_.Range(std::nullopt, kStreamTimeKey);
    Check(it.status(), "reading");
    for (StoreIterator& i = **it; i.Valid(); i.Next()) {
      StoredValue stored;
      Change<V> change;
      K key{};
      if (!DecodeStored(i.value(), &stored) || stored.value.size() < 8 ||
          !change_serde_.Deserialize(stored.value.substr(8), change).ok() ||
          !key_serde_.Deserialize(i.key(), key).ok()) {
        throw TaskFailure(absl::DataLossError(Cat("suppression '", spec_.name, "': store '",
                                                  spec_.store, "' holds an entry that does not decode")));
      }
      const int64_t time = ReadOrdered64(stored.value);
      auto e = entries_.emplace(std::string(i.key()),
                                Entry{time, std::move(key), std::move(change.new_value),
                                      std::move(change.old_value), stored.timestamp,
                                      static_cast<int64_t>(i.key().size() + stored.value.size()) +
                                          kEntryOverhead});
      index_.emplace(time, e.first->first);
      bytes_ += e.first->second.bytes;
    }
    Check((*it)->status(), "reading");
  }

  std::string_view KeyBytes(const K& key, int64_t offset) {
    try {
      std::string_view bytes = SerializeInto(key_serde_, key, key_buf_);
      if (bytes.data() == nullptr) {
        throw TaskFailure(absl::InvalidArgumentError(
            Cat("suppression '", spec_.name, "': a null key cannot be buffered")));
      }
      return bytes;
    } catch (const TaskFailure&) {
      throw;
    } catch (const std::exception& e) {
      throw TaskFailure(absl::InvalidArgumentError(
          Cat("suppression '", spec_.name, "': cannot serialize a key (input record at offset ",
              offset, ", serde ", SerdeName<KS>(), "): ", e.what())));
    }
  }

  void Check(const absl::Status& s, std::string_view what) {
    if (!s.ok()) {
      throw TaskFailure(absl::Status(s.code(), Cat("suppression '", spec_.name, "': ", what,
                                                   " state store '", spec_.store, "': ", s.message())));
    }
  }

  SuppressSpec spec_;
  TaskServices& services_;
  KeyValueBytesStore& store_;
  KS key_serde_;
  ChangeSerde<VS> change_serde_;
  Output<K, Change<V>> out_;
  RecordBuffer<K, Change<V>> out_buffer_;
  bool loaded_ = false;
  int64_t now_ = kNone;
  int64_t recorded_ = kNone;
  // Node-based: index_ holds views of its keys.
  absl::node_hash_map<std::string, Entry, StringHash, StringEq> entries_;
  absl::btree_set<std::pair<int64_t, std::string_view>> index_;  // (time, key): views of entries_ keys
  int64_t bytes_ = 0;
  IdleAdvance idle_;
  BatchContext flush_context_;
  std::string key_buf_, value_, scratch_, envelope_;
};

}  // namespace sluice::internal
