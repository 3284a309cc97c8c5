// The Processor API: user code that sees one record at a time, with state stores,
// record metadata, punctuation and commit requests (Kafka Streams' Processor<KIn, VIn,
// KOut, VOut> and ProcessorContext).
//
//   class Dedup : public sluice::Processor<std::string, Order, std::string, Order> {
//    public:
//     void Init(Context& context) override {
//       context_ = &context;
//       seen_.emplace(context.GetStateStore<StringSerde, Int64Serde>("seen-orders"));
//       context.Schedule(std::chrono::minutes(1), PunctuationType::kWallClockTime,
//                        [this](int64_t now) { /* expire old entries */ });
//     }
//     void Process(const InputRecord<std::string, Order>& r) override {
//       if (seen_->PutIfAbsent(r.key, r.timestamp)) return;   // a duplicate
//       context_->Forward(r.key, r.value);
//     }
//    private:
//     Context* context_ = nullptr;
//     std::optional<KeyValueStore<StringSerde, Int64Serde>> seen_;
//   };
//
//   builder.AddStateStore(Materialized<StringSerde, Int64Serde>::As("seen-orders"));
//   orders.Process([] { return std::make_unique<Dedup>(); }, {"seen-orders"}).To("orders-once");
//
// A processor instance belongs to one task and is called on that task's thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/record_context.h"
#include "sluice/serde.h"
#include "sluice/state.h"

namespace sluice {

enum class PunctuationType {
  // Fires as the task's stream time (the largest record timestamp it has seen, as its
  // sources' timestamp extractors stamped them) advances; checked after each batch.
  kStreamTime,
  // Fires as the wall clock advances (checked between batches).
  kWallClockTime,
};

// A scheduled punctuation; Cancel() stops it.
class Cancellable {
 public:
  Cancellable() = default;
  explicit Cancellable(std::shared_ptr<bool> cancelled) : cancelled_(std::move(cancelled)) {}
  void Cancel() {
    if (cancelled_) *cancelled_ = true;
  }

 private:
  std::shared_ptr<bool> cancelled_;
};

// The record a processor is given: views valid during Process().
template <class K, class V>
struct InputRecord {
  const K& key;
  const V& value;
  int64_t timestamp;
};

template <class KOut, class VOut>
class ProcessorContext {
 public:
  virtual ~ProcessorContext() = default;

  // Sends a record to the processor's children, with the current record's timestamp (or
  // the punctuation time, in a punctuation) unless one is given.
  virtual void Forward(KOut key, VOut value) = 0;
  virtual void Forward(KOut key, VOut value, int64_t timestamp) = 0;

  // A state store connected to this processor (named in KStream::Process), typed by the
  // serdes its keys and values were written with.
  template <Serde KS, Serde VS>
  KeyValueStore<KS, VS> GetStateStore(std::string_view name, KS key_serde = {},
                                      VS value_serde = {}) {
    return KeyValueStore<KS, VS>(Store(name), write_context(), std::move(key_serde),
                                 std::move(value_serde));
  }

  // Where the record being processed came from; nullopt inside a punctuation.
  virtual std::optional<RecordContext> record_metadata() const = 0;
  // The task's partition, and the application's id.
  virtual int32_t partition() const = 0;
  virtual const std::string& application_id() const = 0;
  // The largest record timestamp the task has seen (as extracted; its sources report it
  // per batch, so within a batch it may already include later records), and the wall
  // clock, in ms.
  virtual int64_t current_stream_time() const = 0;
  virtual int64_t current_system_time() const = 0;

  // Calls `punctuator(time)` every `interval` of stream time or wall-clock time.
  virtual Cancellable Schedule(std::chrono::milliseconds interval, PunctuationType type,
                               std::function<void(int64_t time)> punctuator) = 0;
  // Asks for a commit as soon as the current batch is done.
  virtual void Commit() = 0;

 protected:
  virtual internal::KeyValueBytesStore& Store(std::string_view name) = 0;
  virtual const internal::StoreWriteContext& write_context() const = 0;
};

template <class KIn, class VIn, class KOut, class VOut>
class Processor {
 public:
  using KeyIn = KIn;
  using ValueIn = VIn;
  using KeyOut = KOut;
  using ValueOut = VOut;
  using Context = ProcessorContext<KOut, VOut>;

  virtual ~Processor() = default;
  // Called once, before the first record, with a context that outlives the processor.
  virtual void Init(Context& context) {}
  virtual void Process(const InputRecord<KIn, VIn>& record) = 0;
  // Called when the task closes.
  virtual void Close() {}
};

}  // namespace sluice
