// The node that runs a user Processor (processor.h) inside a task: it is the processor's
// context, collects what the processor forwards during a batch or a punctuation, and
// emits it as one batch.
#pragma once

#include <algorithm>
#include <concepts>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "sluice/internal/node.h"
#include "sluice/internal/stateful.h"
#include "sluice/internal/str.h"
#include "sluice/processor.h"

namespace sluice::internal {

template <class KIn, class VIn, class KOut, class VOut>
class ProcessorNode final : public Input<KIn, VIn>, public ProcessorContext<KOut, VOut> {
 public:
  using UserProcessor = Processor<KIn, VIn, KOut, VOut>;

  // `fixed_key`: KStream::ProcessValues; forwarding another key than the record's fails.
  ProcessorNode(std::string name, std::unique_ptr<UserProcessor> processor,
                std::vector<std::string> stores, TaskServices& services, bool fixed_key = false)
      : name_(std::move(name)), processor_(std::move(processor)), stores_(std::move(stores)),
        services_(services), fixed_key_(fixed_key) {
    flush_context_.partition = flush_context_.task_partition = services.partition();
  }
  ~ProcessorNode() override {
    if (initialized_) processor_->Close();
  }

  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void Init() override {
    if (processor_ == nullptr) {
      throw TaskFailure(absl::InternalError(Cat("processor '", name_, "': the supplier returned null")));
    }
    initialized_ = true;
    processor_->Init(*this);
  }

  void Process(const Batch<KIn, VIn>& batch) override {
    buffer_.Clear();
    context_ = batch.context;
    const bool skip_on_error = services_.processing_policy() == ProcessingErrorPolicy::kContinue;
    for (Record<KIn, VIn>* r : batch.records) {
      current_ = r;
      write_.timestamp = r->timestamp;
      write_.position = counter_.Next(*batch.context, r->offset);
      if (!skip_on_error) {
        processor_->Process(InputRecord<KIn, VIn>{r->key, r->value, r->timestamp});
      } else {
        ProcessOrSkip(*r, *batch.context);
      }
    }
    current_ = nullptr;
    write_.position.reset();
    out_.Emit(buffer_.View(), true, batch.context);
    buffer_.Clear();
  }

  void Punctuate(bool stream_time, int64_t time) override {
    for (size_t i = 0; i < schedules_.size(); ++i) {
      Scheduled& s = schedules_[i];
      if (*s.cancelled || s.stream_time != stream_time || time < 0) continue;
      if (s.next < 0) s.next = time;  // stream time: the first record after scheduling fires
      if (time < s.next) continue;
      const int64_t interval = s.interval.count();
      s.next += interval * (1 + (time - s.next) / interval);
      buffer_.Clear();
      punctuation_time_ = time;
      write_.timestamp = time;
      write_.position.reset();
      schedules_[i].punctuator(time);  // may add schedules: index, not reference
      out_.Emit(buffer_.View(), true, &flush_context_);
      buffer_.Clear();
    }
    std::erase_if(schedules_, [](const Scheduled& s) { return *s.cancelled; });
  }

  // ProcessorContext
  void Forward(KOut key, VOut value) override {
    Forward(std::move(key), std::move(value),
            current_ != nullptr ? current_->timestamp : punctuation_time_);
  }
  void Forward(KOut key, VOut value, int64_t timestamp) override {
    if constexpr (std::is_same_v<KOut, KIn> && std::equality_comparable<KOut>) {
      if (fixed_key_ && current_ != nullptr && !(key == current_->key)) {
        throw TaskFailure(absl::FailedPreconditionError(
            Cat("processor '", name_, "' (KStream::ProcessValues) forwarded a record under "
                "another key than the one it was given; use KStream::Process to change keys")));
      }
    }
    Record<KOut, VOut>& r = buffer_.Next();
    r.key = std::move(key);
    r.value = std::move(value);
    r.timestamp = timestamp;
    r.offset = current_ != nullptr ? current_->offset : -1;
    r.seq = current_ != nullptr ? current_->seq : 0;
    r.headers = current_ != nullptr ? current_->headers : nullptr;
  }
  std::optional<RecordContext> record_metadata() const override {
    if (current_ == nullptr) return std::nullopt;
    return RecordContext{context_->topic, context_->partition, current_->offset, current_->timestamp};
  }
  int32_t partition() const override { return services_.partition(); }
  const std::string& application_id() const override { return services_.application_id(); }
  int64_t current_stream_time() const override { return services_.stream_time(); }
  int64_t current_system_time() const override { return services_.wall_clock_time(); }
  Cancellable Schedule(std::chrono::milliseconds interval, PunctuationType type,
                       std::function<void(int64_t)> punctuator) override {
    if (interval.count() < 1) {
      throw TaskFailure(absl::InvalidArgumentError(
          Cat("processor '", name_, "': a punctuation interval must be at least 1 ms")));
    }
    auto cancelled = std::make_shared<bool>(false);
    const bool stream = type == PunctuationType::kStreamTime;
    schedules_.push_back({interval, stream, std::move(punctuator), cancelled,
                          stream ? -1 : services_.wall_clock_time() + interval.count()});
    return Cancellable(cancelled);
  }
  void Commit() override { services_.RequestCommit(); }

 protected:
  KeyValueBytesStore& Store(std::string_view name) override {
    if (std::find(stores_.begin(), stores_.end(), name) == stores_.end()) {
      throw TaskFailure(absl::InvalidArgumentError(
          Cat("processor '", name_, "' is not connected to state store '", name,
              "'; name the store in KStream::Process")));
    }
    return RequireStore(services_, name);
  }
  const StoreWriteContext& write_context() const override { return write_; }

 private:
  // processing.exception.handler=continue: a record whose Process() throws is skipped
  // (what it forwarded is dropped; what it wrote to stores stays) and sent to the
  // dead-letter queue. Engine failures (TaskFailure) still fail the task.
  void ProcessOrSkip(const Record<KIn, VIn>& r, const BatchContext& context) {
    const size_t forwarded = buffer_.size();
    try {
      processor_->Process(InputRecord<KIn, VIn>{r.key, r.value, r.timestamp});
    } catch (const TaskFailure&) {
      throw;
    } catch (const std::exception& e) {
      buffer_.Truncate(forwarded);
      services_.RecordSkipped(
          context, r.offset,
          absl::InvalidArgumentError(Cat("processor '", name_, "' threw on the record at topic '",
                                         context.topic, "' partition ", context.partition,
                                         " offset ", r.offset, ": ", e.what(),
                                         " (processing.exception.handler=continue)")));
    }
  }

  struct Scheduled {
    std::chrono::milliseconds interval;
    bool stream_time;
    std::function<void(int64_t)> punctuator;
    std::shared_ptr<bool> cancelled;
    int64_t next;
  };

  std::string name_;
  std::unique_ptr<UserProcessor> processor_;
  std::vector<std::string> stores_;
  TaskServices& services_;
  const bool fixed_key_;
  bool initialized_ = false;
  Output<KOut, VOut> out_;
  RecordBuffer<KOut, VOut> buffer_;
  const BatchContext* context_ = nullptr;
  BatchContext flush_context_;
  Record<KIn, VIn>* current_ = nullptr;
  int64_t punctuation_time_ = 0;
  StoreWriteContext write_;
  PositionCounter counter_;
  std::vector<Scheduled> schedules_;
};

}  // namespace sluice::internal
