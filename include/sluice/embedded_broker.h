// EmbeddedBroker: a Kafka-protocol broker inside your process, for tests,
// demos and local development. It is librdkafka's mock cluster listening on
// 127.0.0.1, so any Kafka client (Sluice apps, kcat, python-kafka, a second
// process) can connect to bootstrap_servers(). The `sluice-broker` program
// runs one in the foreground for use from other processes.
//
//   auto broker = sluice::EmbeddedBroker::Start();
//   if (!broker.ok()) return broker.status();
//   absl::Status s = (*broker)->CreateTopic("orders", 4);
//   config.bootstrap_servers = (*broker)->bootstrap_servers();
//
// LIMITS of the mock in librdkafka 2.0.2 (design and test around them; they
// are not bugs in your application):
//   - Retention: per partition at most 100,000 message SETS (produce batches,
//     not records) or 5 MiB; the oldest whole batches are dropped silently
//     and the low watermark moves up. The 5 MiB cap binds first in practice:
//     keep data below ~45,000 records of ~100 bytes per partition and check
//     that the low watermark is still 0.
//   - No topic admin API: the mock reports ControllerId 0 while its brokers
//     are 1..N and has no CreateTopics/DeleteTopics handlers, so a plain
//     librdkafka CreateTopics waits for a controller until it times out.
//     Sluice's internal Admin recognises this and returns UNIMPLEMENTED at
//     once; create topics with CreateTopic() here instead.
//   - CreateTopic()'s replication argument is validated but not used: every
//     partition gets min(3, num_brokers) replicas.
//   - A topic referenced before it exists (e.g. by a producer's metadata
//     request, or kcat) is auto-created with 4 partitions. Other processes
//     cannot call CreateTopic(): pre-create their topics with
//     `sluice-broker --topic NAME:PARTITIONS`.
//   - Consumer groups: the first rebalance of a group is delayed by a fixed
//     3 s and later ones (a member joining or leaving) by
//     session.timeout.ms - 1000 ms; members waiting in a join do not
//     heartbeat, so session.timeout.ms must stay above 3000.
//   - Transactions: no transaction markers are written and read_committed
//     consumers are not filtered, so aborted records are visible; offsets
//     sent inside a transaction (send_offsets_to_transaction) are not
//     persisted; a second producer with the same transactional.id is NOT
//     fenced automatically (inject the error with PushRequestErrors).
//   - All state is in memory and lost when the broker is destroyed.
//
// Thread-safety: every method may be called from any thread.

#ifndef SLUICE_EMBEDDED_BROKER_H_
#define SLUICE_EMBEDDED_BROKER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sluice {

namespace internal {
class MockCluster;
}  // namespace internal

class EmbeddedBroker {
 public:
  // Starts `num_brokers` brokers (ids 1..num_brokers) on ephemeral loopback
  // ports.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EmbeddedBroker>> Start(
      int num_brokers = 1);

  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;
  // Stops the brokers; connected clients see disconnects.
  ~EmbeddedBroker();

  // "127.0.0.1:PORT[,127.0.0.1:PORT...]", one entry per broker.
  std::string bootstrap_servers() const;
  int num_brokers() const;

  // Creates `name`. ALREADY_EXISTS if a topic of that name exists (including
  // one that was auto-created), whatever its partition count.
  [[nodiscard]] absl::Status CreateTopic(std::string_view name, int partitions,
                                         int replication = 1);

  // ---- Fault injection, for tests. Broker ids are 1..num_brokers(); -1
  // means every broker. Error codes are Kafka protocol error codes (e.g. 6 =
  // NOT_LEADER_OR_FOLLOWER, 7 = REQUEST_TIMED_OUT, 3 = UNKNOWN_TOPIC_OR_PART)
  // or librdkafka's negative internal codes (-195 = transport failure, which
  // makes the broker drop the connection).

  // Disconnects clients and refuses new connections (no leader change).
  [[nodiscard]] absl::Status SetBrokerDown(int broker_id);
  [[nodiscard]] absl::Status SetBrokerUp(int broker_id);
  // Delays every response of `broker_id` by `rtt_ms`.
  [[nodiscard]] absl::Status SetRtt(int broker_id, int rtt_ms);
  // The next error_codes.size() requests of protocol `api_key` (0 = Produce,
  // 1 = Fetch, 2 = ListOffsets, 3 = Metadata, 8 = OffsetCommit,
  // 9 = OffsetFetch, 10 = FindCoordinator, 11 = JoinGroup, 14 = SyncGroup,
  // 22 = InitProducerId, ...) fail with these codes, in order.
  void PushRequestErrors(int16_t api_key, std::vector<int> error_codes);
  void ClearRequestErrors(int16_t api_key);
  // Error returned for `topic` in Metadata responses; 0 clears it.
  void SetTopicError(std::string_view topic, int error_code);
  // Makes `broker_id` the leader of `topic` [`partition`] (-1: no leader).
  [[nodiscard]] absl::Status SetPartitionLeader(std::string_view topic,
                                                int32_t partition,
                                                int broker_id);

  // The engine's handle on the underlying mock cluster.
  internal::MockCluster* mock() const { return mock_.get(); }

 private:
  explicit EmbeddedBroker(std::unique_ptr<internal::MockCluster> mock);

  std::unique_ptr<internal::MockCluster> mock_;
};

}  // namespace sluice

#endif  // SLUICE_EMBEDDED_BROKER_H_
