// A group consumer over librdkafka's high-level consumer, shaped for an engine
// that forwards each assigned partition's queue to the worker owning the task.
//
//   class Listener : public RebalanceListener { ... };   // forwards queues
//   Listener listener;
//   auto consumer = Consumer::Create(
//       {{"bootstrap.servers", servers}, {"group.id", "app"}}, &listener);
//   if (!consumer.ok()) return consumer.status();
//   RETURN_IF_ERROR((*consumer)->Subscribe({"orders"}));
//   while (running) {
//     MessagePtr stray = (*consumer)->Poll(std::chrono::milliseconds(100));
//     ...  // rebalances and errors were served inside Poll
//   }
//
// Queue forwarding facts (librdkafka 2.0.2, rdkafka_queue.c
// rd_kafka_q_fwd_set0):
//   - Forwarding a partition queue MOVES every op already waiting in it to the
//     destination queue (rd_kafka_q_concat), irreversibly; un-forwarding
//     (destination null) does not move anything back.
//   - Messages fetched before a revoke but still queued are dropped by
//     librdkafka's op-version barrier when the destination is polled with the
//     consume APIs (rd_kafka_consume_batch_queue / rd_kafka_consume_queue).
//   - rd_kafka_queue_get_partition() creates the partition object if it does
//     not exist yet, so forwarding in OnAssigned (before the assign) makes the
//     first fetched message already land on the destination queue.
//   - Without an application forward, assign (rd_kafka_toppar_op_fetch_start)
//     forwards the partition's fetch queue to the consumer queue, so fetched
//     messages go straight there: forwarding AFTER the assign does not pull
//     back messages already delivered to the consumer queue. Forward in
//     OnAssigned.
//   - Any rd_kafka_queue_forward() call, even to null, marks the partition
//     queue as application-forwarded (RD_KAFKA_Q_F_FWD_APP) for the life of
//     the client; a later assign then leaves it alone. So a listener that
//     un-forwards in OnRevoked must forward again in OnAssigned, or the
//     partition's messages sit in its own queue unread.

// Group timing against librdkafka 2.0.2's mock cluster (rdkafka_mock_cgrp.c):
// the first rebalance of a group completes after a fixed 3 s, later ones after
// session.timeout.ms - 1000 ms; members waiting in JoinGroup do not heartbeat,
// so keep session.timeout.ms well above 3000. A periodic metadata refresh
// that lands with the JoinGroup response makes a 2.0.2 group leader rejoin
// once more, so do not set topic.metadata.refresh.interval.ms to a divisor of
// 3000 ms (e.g. 500) when running against the mock.

#ifndef SLUICE_SRC_KAFKA_CONSUMER_H_
#define SLUICE_SRC_KAFKA_CONSUMER_H_

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/kafka/handles.h"
#include "src/kafka/kafka_conf.h"
#include "src/kafka/kafka_status.h"

namespace sluice::internal {

// Told about partition assignment changes; called on the thread that calls
// Consumer::Poll() (or Close()), from inside librdkafka's rebalance callback.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;

  // `partitions` are newly assigned (eager: the whole assignment; cooperative:
  // the increment, possibly empty). Called BEFORE the consumer assigns them,
  // so partition queues can be forwarded before any message is fetched.
  virtual void OnAssigned(
      const rd_kafka_topic_partition_list_t* partitions) = 0;

  // `partitions` are being taken away. Called BEFORE the consumer unassigns
  // them. `lost` is true when they were lost (session timeout, fencing):
  // another member may own them already, so do not commit their offsets.
  virtual void OnRevoked(const rd_kafka_topic_partition_list_t* partitions,
                         bool lost) = 0;
};

// Options beyond librdkafka properties.
struct ConsumerOptions {
  // Told about assignment changes; not owned, may be null; must outlive the
  // Consumer (Close() may revoke).
  RebalanceListener* listener = nullptr;
  // Told about errors from librdkafka's error callback (see ClientErrorState).
  ErrorCallback on_error;
  // Only used in error messages about bad properties.
  std::string config_prefix = "consumer.";
};

// Owns one librdkafka group consumer: subscription, rebalance handling,
// commits and partition queues. Poll, Subscribe, Committed, Position and
// Close belong to one owner thread (the engine's coordinator); CommitSync,
// PartitionQueue, NewQueue, GroupMetadata, LastError and handle() may be used
// from any thread (stream threads commit their own tasks' offsets). Every queue obtained from it must be destroyed before it is.
class Consumer {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Consumer>> Create(
      const KafkaProperties& props, RebalanceListener* listener);
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Consumer>> Create(
      const KafkaProperties& props, ConsumerOptions options);

  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;
  // Calls Close().
  ~Consumer();

  // Replaces the subscription. Topic names starting with '^' are regexes.
  [[nodiscard]] absl::Status Subscribe(const std::vector<std::string>& topics);

  // Serves the consumer queue for up to `timeout`: rebalance callbacks (and
  // with them the listener) and consumer errors run inside this call. Returns
  // a data message only if one reached the consumer queue, i.e. its
  // partition queue was not forwarded; with a forwarding listener that is a
  // bug the caller should report. Consumer error events are recorded (see
  // LastError()) and not returned.
  [[nodiscard]] MessagePtr Poll(std::chrono::milliseconds timeout);

  // Commits `offsets` (next offset to read per partition) synchronously;
  // null commits the current positions of the assignment. Partitions with
  // nothing to commit are not an error. A failure names every failed
  // partition.
  [[nodiscard]] absl::Status CommitSync(
      const rd_kafka_topic_partition_list_t* offsets);

  // The committed offsets of `partitions` (RD_KAFKA_OFFSET_INVALID where there
  // is none), fetched from the group coordinator.
  [[nodiscard]] absl::StatusOr<PartitionListPtr> Committed(
      const rd_kafka_topic_partition_list_t* partitions,
      std::chrono::milliseconds timeout);

  // The current consume positions (offset of the next message the
  // application will see) of `partitions`, from local state.
  [[nodiscard]] absl::StatusOr<PartitionListPtr> Position(
      const rd_kafka_topic_partition_list_t* partitions);

  // The current assignment.
  [[nodiscard]] absl::StatusOr<PartitionListPtr> Assignment();

  // Group metadata for send_offsets_to_transaction (exactly-once).
  [[nodiscard]] GroupMetadataPtr GroupMetadata() const;

  // A new reference to the queue of `topic` [`partition`], to be forwarded
  // with rd_kafka_queue_forward(). Must be destroyed before this Consumer.
  [[nodiscard]] absl::StatusOr<QueuePtr> PartitionQueue(std::string_view topic,
                                                        int32_t partition);

  // A new, empty queue on this client (a destination for forwarding).
  [[nodiscard]] QueuePtr NewQueue();

  // Leaves the group (revoking through the listener) and stops fetching.
  // Idempotent; later calls return the first result.
  [[nodiscard]] absl::Status Close();

  // The last error librdkafka reported out of band (e.g.
  // RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN for unreachable bootstrap servers),
  // or OK. Errors stay until ClearLastError().
  [[nodiscard]] absl::Status LastError() const { return errors_.LastError(); }
  [[nodiscard]] absl::Status FatalError() const { return errors_.FatalError(); }
  ClientErrorState& error_state() { return errors_; }
  void ClearLastError() { errors_.Clear(); }

  // Number of rebalance callbacks served so far (assign + revoke).
  int64_t rebalance_count() const { return rebalance_count_; }

  rd_kafka_t* handle() const { return rk_.get(); }

 private:
  Consumer(RebalanceListener* listener, ErrorCallback on_error)
      : listener_(listener), errors_(std::move(on_error)) {}

  static void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions,
                                void* opaque);
  static void ErrorCallbackTrampoline(rd_kafka_t* rk, int err,
                                      const char* reason, void* opaque);
  void OnRebalance(rd_kafka_resp_err_t err,
                   rd_kafka_topic_partition_list_t* partitions);
  void CheckOwnerThread();

  RebalanceListener* const listener_;
  ClientErrorState errors_;
  RdKafkaPtr rk_;
  bool closed_ = false;
  absl::Status close_status_;
  int64_t rebalance_count_ = 0;
  std::thread::id owner_;
};

// Formats "topic [partition]" pairs (and errors, if any) of `list` for
// messages: "orders [0], orders [1] (Broker: Not coordinator)".
std::string DescribePartitions(const rd_kafka_topic_partition_list_t* list,
                               bool errors_only = false);

}  // namespace sluice::internal

#endif  // SLUICE_SRC_KAFKA_CONSUMER_H_
