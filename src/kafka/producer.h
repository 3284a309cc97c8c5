// A producer over librdkafka that keeps the books needed for at-least-once:
// Flush() is the commit barrier that says whether every record produced so
// far was acknowledged by the broker.
//
//   auto producer = Producer::Create({{"bootstrap.servers", servers},
//                                     {"partitioner", "murmur2_random"},
//                                     {"linger.ms", "5"}});
//   RETURN_IF_ERROR((*producer)->Produce("out", RD_KAFKA_PARTITION_UA,
//                                        key.data(), key.size(),
//                                        value.data(), value.size(),
//                                        timestamp_ms, nullptr));
//   RETURN_IF_ERROR((*producer)->Flush(std::chrono::seconds(30)));
//   // ... only now commit the input offsets.
//
// Policy (partitioner, enable.idempotence, linger.ms, acks ...) comes from the
// properties; nothing is hardcoded here. Use partitioner=murmur2_random to
// place keys the way Kafka's Java clients do.

#ifndef SLUICE_SRC_KAFKA_PRODUCER_H_
#define SLUICE_SRC_KAFKA_PRODUCER_H_

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/kafka/handles.h"
#include "src/kafka/kafka_conf.h"
#include "src/kafka/kafka_status.h"

namespace sluice::internal {

// Options beyond librdkafka properties.
struct ProducerOptions {
  // How long Produce() keeps retrying while librdkafka's local queue is full
  // (queue.buffering.max.messages / .kbytes) before giving up.
  std::chrono::milliseconds queue_full_timeout{30000};
  // Told about errors from librdkafka's error callback (see ClientErrorState).
  ErrorCallback on_error;
  // Only used in error messages about bad properties.
  std::string config_prefix = "producer.";
};

// Owns one librdkafka producer and counts its delivery reports. Produce,
// Flush, Poll, PartitionCount and ClearDeliveryError belong to one owner
// thread (a worker); delivery reports run on that thread inside those calls.
// LastError, FatalError and the counters may be read from any thread.
class Producer {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Producer>> Create(
      const KafkaProperties& props, ProducerOptions options = {});

  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;
  // Waits briefly (up to 5 s) for in-flight records, then destroys the client.
  ~Producer();

  // Enqueues one record. `partition` is RD_KAFKA_PARTITION_UA for the
  // configured partitioner. Null `key`/`value` pointers produce Kafka null
  // (an empty but non-null payload stays empty). `timestamp_ms` 0 means "now".
  // `headers` (may be null) are copied. Key and value are copied too. While
  // the local queue is full this serves delivery reports and retries for up to
  // ProducerOptions::queue_full_timeout, then fails naming the topic.
  // `track_offset`: remember the offset it is acknowledged at (see TrackedEnd).
  [[nodiscard]] absl::Status Produce(std::string_view topic, int32_t partition,
                                     const void* key, size_t key_len,
                                     const void* value, size_t value_len,
                                     int64_t timestamp_ms,
                                     const rd_kafka_headers_t* headers,
                                     bool track_offset = false);

  // One past the highest acknowledged offset of a tracked record of `topic`
  // [`partition`], or -1 if none.
  int64_t TrackedEnd(std::string_view topic, int32_t partition);

  // Serves delivery reports and errors for up to `timeout`.
  void Poll(std::chrono::milliseconds timeout);

  // Waits until every record produced so far is acknowledged, then returns OK
  // only if all of them were acknowledged without error. Otherwise the first
  // delivery error, naming topic, partition and the librdkafka error; it stays
  // sticky (every later Flush fails too) until ClearDeliveryError(), because
  // offsets past a lost record must never be committed. Records still in
  // flight after `timeout` give DEADLINE_EXCEEDED.
  [[nodiscard]] absl::Status Flush(std::chrono::milliseconds timeout);

  // Forgets a delivery error, e.g. after the owner rewound its inputs.
  void ClearDeliveryError();

  // The first delivery error since creation / ClearDeliveryError(), or OK.
  [[nodiscard]] absl::Status DeliveryError() const;

  // Number of partitions of `topic`, from metadata; cached after the first
  // successful lookup. NotFound names the topic if it does not exist.
  [[nodiscard]] absl::StatusOr<int> PartitionCount(
      std::string_view topic, std::chrono::milliseconds timeout);

  // Errors from librdkafka's error callback (see ClientErrorState).
  [[nodiscard]] absl::Status LastError() const { return errors_.LastError(); }
  [[nodiscard]] absl::Status FatalError() const { return errors_.FatalError(); }
  ClientErrorState& error_state() { return errors_; }

  // Records accepted by Produce(), acknowledged OK, and failed.
  int64_t produced_count() const { return produced_; }
  int64_t acked_count() const { return acked_; }
  int64_t failed_count() const { return failed_; }

  rd_kafka_t* handle() const { return rk_.get(); }

 private:
  explicit Producer(ProducerOptions options)
      : queue_full_timeout_(options.queue_full_timeout),
        errors_(std::move(options.on_error)) {}

  static void DeliveryCallback(rd_kafka_t* rk, const rd_kafka_message_t* msg,
                               void* opaque);
  static void ErrorCallbackTrampoline(rd_kafka_t* rk, int err,
                                      const char* reason, void* opaque);
  // The cached topic handle for `topic`, created on first use.
  absl::StatusOr<rd_kafka_topic_t*> Topic(std::string_view topic);

  const std::chrono::milliseconds queue_full_timeout_;
  ClientErrorState errors_;
  RdKafkaPtr rk_;
  // Topic handles must go before rk_; declared after it so they are.
  absl::flat_hash_map<std::string, TopicPtr> topics_;
  // The topic of the previous record (a copy: flat_hash_map moves its keys on rehash).
  std::string last_topic_name_;
  rd_kafka_topic_t* last_topic_ = nullptr;
  absl::flat_hash_map<std::string, int> partition_counts_;
  // Delivery reports run on the owner thread (inside Poll/Flush/Produce).
  static const char kTrackOffset;
  absl::flat_hash_map<std::pair<const rd_kafka_topic_t*, int32_t>, int64_t> tracked_ends_;

  std::atomic<int64_t> produced_{0};
  std::atomic<int64_t> acked_{0};
  std::atomic<int64_t> failed_{0};
  mutable std::mutex mu_;
  absl::Status delivery_error_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::internal

#endif  // SLUICE_SRC_KAFKA_PRODUCER_H_
