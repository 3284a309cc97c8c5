// Typed source and sink nodes: the only places where records are deserialized (once, at
// the source) and serialized (once, at the sink). Node instances of one task, owned by
// its worker.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/internal/str.h"
#include "sluice/internal/node.h"
#include "sluice/named.h"
#include "sluice/record_context.h"
#include "sluice/serde.h"

namespace sluice::internal {

template <class S>
std::string_view SerdeName() {
  if constexpr (requires { S::kName; }) {
    return S::kName;
  } else {
    return "custom";
  }
}

// Stamps a source's records with their timestamps: the Consumed extractor's, or the
// record's / the wall clock's (default.timestamp.extractor), with the invalid-timestamp
// policy applied. The task keeps each source partition's time (the largest valid
// timestamp stamped on it); the stamper reads it at the start of a batch and reports
// the batch's largest timestamp at the end: two virtual calls per batch, none per record.
class TimestampStamper {
 public:
  // `record_timestamps`: ignore the config (a repartition topic, whose records keep the
  // timestamps they were written with).
  TimestampStamper(std::optional<InvalidTimestampPolicy> policy, bool has_extractor,
                   TaskServices& services, bool record_timestamps = false)
      : services_(services) {
    const TimestampDefaults defaults =
        record_timestamps ? TimestampDefaults() : services.timestamp_defaults();
    policy_ = policy.value_or(defaults.policy);
    wall_clock_ = !has_extractor && defaults.source == TimestampSource::kWallClock;
  }

  // Before the batch's first record. A batch that failed never reached EndBatch: what it
  // stamped is forgotten, as its offsets are.
  void Begin(const BatchContext& context) {
    start_ = partition_time_ = services_.partition_time(context.source_index);
  }
  // The timestamp a record has before any extractor: its own, or the wall clock.
  int64_t Base(int64_t record_timestamp) const {
    return wall_clock_ ? services_.wall_clock_time() : record_timestamp;
  }
  // The largest valid timestamp of the batch's partition so far (the extractor's
  // partition_time argument).
  int64_t partition_time() const { return partition_time_; }

  // The record's timestamp under the policy; nullopt: skip it (counted).
  std::optional<int64_t> Stamp(int64_t timestamp, const BatchContext& context, int64_t offset) {
    if (timestamp >= 0) {
      partition_time_ = std::max(partition_time_, timestamp);
      return timestamp;
    }
    const std::string where = Cat("the record at topic '", context.topic, "' partition ",
                                  context.partition, " offset ", offset,
                                  " has an invalid (negative) timestamp ", timestamp);
    switch (policy_) {
      case InvalidTimestampPolicy::kSkip:
        services_.RecordSkipped(context, offset, absl::InvalidArgumentError(Cat(
            where, "; skipped (invalid timestamp policy: skip, LogAndSkipOnInvalidTimestamp)")));
        return std::nullopt;
      case InvalidTimestampPolicy::kUsePartitionTime:
        if (partition_time_ >= 0) return partition_time_;
        throw TaskFailure(absl::InvalidArgumentError(Cat(
            where, " and its partition has no valid timestamp yet to use instead "
                   "(UsePartitionTimeOnInvalidTimestamp)")));
      case InvalidTimestampPolicy::kFail:
        break;
    }
    throw TaskFailure(absl::InvalidArgumentError(Cat(
        where, " (FailOnInvalidTimestamp); use a timestamp extractor, or set "
               "default.timestamp.extractor to LogAndSkipOnInvalidTimestamp or "
               "UsePartitionTimeOnInvalidTimestamp")));
  }

  // After the batch: the partition's time, and with it the task's stream time, follow.
  void EndBatch(const BatchContext& context) {
    if (partition_time_ > start_) {
      services_.AdvancePartitionTime(context.source_index, partition_time_);
    }
  }

 private:
  TaskServices& services_;
  InvalidTimestampPolicy policy_ = InvalidTimestampPolicy::kFail;
  bool wall_clock_ = false;
  int64_t start_ = -1;
  int64_t partition_time_ = -1;
};

template <class K, class V>
using TimestampExtractorFn = std::function<int64_t(const K&, const V&, int64_t, int64_t)>;

template <Serde KS, Serde VS>
class SourceNode final : public SourceInput {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  SourceNode(KS key_serde, VS value_serde, TimestampExtractorFn<K, V> extractor,
             std::optional<InvalidTimestampPolicy> policy, TaskServices& services,
             bool record_timestamps = false)
      : key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)),
        services_(services), extractor_(std::move(extractor)),
        stamper_(policy, static_cast<bool>(extractor_), services, record_timestamps) {}

  absl::Status AddChild(NodeInstance* child) override { return out_.Wire(child); }

  void ProcessRaw(std::span<const RawRecord> raw, const BatchContext& context) override {
    buffer_.Clear();
    stamper_.Begin(context);
    for (size_t i = 0; i < raw.size(); ++i) {
      const RawRecord& in = raw[i];
      Record<K, V>& r = buffer_.Next();
      absl::Status status = key_serde_.Deserialize(in.key, r.key);
      const char* part = "key";
      if (status.ok()) {
        status = value_serde_.Deserialize(in.value, r.value);
        part = "value";
      }
      if (!status.ok()) {
        absl::Status why = absl::InvalidArgumentError(internal::Cat(
            "failed to deserialize the ", part, " of the record at topic '", context.topic,
            "' partition ", context.partition, " offset ", in.offset, " (serde ",
            part[0] == 'k' ? SerdeName<KS>() : SerdeName<VS>(), "): ", status.message()));
        if (services_.deserialization_policy() == DeserializationErrorPolicy::kFail) {
          throw TaskFailure(std::move(why));
        }
        services_.RecordSkipped(context, in.offset,
                                absl::Status(why.code(), Cat(why.message(), " (default.deserialization."
                                                                            "exception.handler=continue)")));
        buffer_.Unwind();
        continue;
      }
      int64_t timestamp = stamper_.Base(in.timestamp);
      if (extractor_) {
        timestamp = extractor_(std::as_const(r.key), std::as_const(r.value), in.timestamp,
                               stamper_.partition_time());
      }
      std::optional<int64_t> stamped = stamper_.Stamp(timestamp, context, in.offset);
      if (!stamped) {
        buffer_.Unwind();
        continue;
      }
      r.timestamp = *stamped;
      r.offset = in.offset;
      r.seq = static_cast<uint32_t>(i);
      r.headers = in.headers;
    }
    stamper_.EndBatch(context);
    out_.Emit(buffer_.View(), true, &context);
  }

 private:
  KS key_serde_;
  VS value_serde_;
  TaskServices& services_;
  TimestampExtractorFn<K, V> extractor_;
  TimestampStamper stamper_;
  Output<K, V> out_;
  RecordBuffer<K, V> buffer_;
};

// Returns the bytes of `value`, or a null view when the serde says it is null. A serde
// whose type already is its bytes (StringSerde, BytesSerde) offers AsBytes(), and the
// value is not copied. The view is valid until the record or `buf` changes.
template <Serde S>
std::string_view SerializeInto(const S& serde, const typename S::Type& value, std::string& buf) {
  if constexpr (NullableSerde<S>) {
    if (serde.IsNull(value)) return {};
  }
  if constexpr (requires { { serde.AsBytes(value) } -> std::same_as<std::string_view>; }) {
    std::string_view bytes = serde.AsBytes(value);
    // A view of an empty string may have no data(); an empty value is not a Kafka null.
    return bytes.data() == nullptr ? std::string_view(buf.data(), 0) : bytes;
  } else {
    serde.Serialize(value, buf);
    return buf;
  }
}

// Chooses the output topic of a record: fixed, or computed per record.
template <class K, class V>
using TopicNameExtractor =
    std::function<std::string(const K& key, const V& value, const RecordContext& context)>;

template <Serde KS, Serde VS>
class SinkNode final : public Input<typename KS::Type, typename VS::Type> {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  // `topic` is the Kafka topic name, already resolved; empty when `extractor` is set.
  SinkNode(std::string topic, TopicNameExtractor<K, V> extractor, KS key_serde,
           VS value_serde, StreamPartitioner<K, V> partitioner, TaskServices& services)
      : topic_(std::move(topic)), extractor_(std::move(extractor)),
        key_serde_(std::move(key_serde)), value_serde_(std::move(value_serde)),
        partitioner_(std::move(partitioner)), collector_(services.collector()) {}

  absl::Status AddChild(NodeInstance*) override {
    return absl::InternalError("a sink node has no children");
  }

  void Process(const Batch<K, V>& batch) override {
    for (Record<K, V>* r : batch.records) {
      OutRecord out;
      if (extractor_) {
        RecordContext rc{batch.context->topic, batch.context->partition, r->offset,
                         r->timestamp};
        dynamic_topic_ = extractor_(std::as_const(r->key), std::as_const(r->value), rc);
        out.topic = dynamic_topic_;
      } else {
        out.topic = topic_;
      }
      out.key = SerializeInto(key_serde_, r->key, key_buf_);
      out.value = SerializeInto(value_serde_, r->value, value_buf_);
      out.timestamp = r->timestamp;
      out.headers = r->headers;
      out.seq = r->seq;
      if (partitioner_) out.partition = ChoosePartition(out.topic, *r);
      absl::Status status = collector_.Send(out);
      if (!status.ok()) throw TaskFailure(std::move(status));
    }
  }

 private:
  int32_t ChoosePartition(std::string_view topic, const Record<K, V>& r) {
    absl::StatusOr<int32_t> count = collector_.PartitionCount(topic);
    if (!count.ok()) throw TaskFailure(count.status());
    std::optional<int32_t> p = partitioner_(topic, r.key, r.value, *count);
    if (!p) return -1;
    if (*p < 0 || *p >= *count) {
      throw TaskFailure(absl::OutOfRangeError(internal::Cat(
          "the stream partitioner returned partition ", *p, " for topic '", topic,
          "', which has ", *count, " partitions")));
    }
    return *p;
  }

  std::string topic_;
  TopicNameExtractor<K, V> extractor_;
  KS key_serde_;
  VS value_serde_;
  StreamPartitioner<K, V> partitioner_;
  RecordCollector& collector_;
  std::string key_buf_;
  std::string value_buf_;
  std::string dynamic_topic_;
};

}  // namespace sluice::internal
