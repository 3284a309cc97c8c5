// librdkafka's mock Kafka cluster (rdkafka_mock.h) behind a Status-returning
// C++ API; the engine uses raw() when it runs against an embedded broker
// (e.g. to create internal topics, which the mock's CreateTopics cannot).
// See include/sluice/embedded_broker.h for the mock's limits.

#ifndef SLUICE_SRC_KAFKA_MOCK_CLUSTER_H_
#define SLUICE_SRC_KAFKA_MOCK_CLUSTER_H_

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/kafka/handles.h"

namespace sluice::internal {

// Owns one mock cluster and the librdkafka handle hosting it; the brokers
// serve the Kafka protocol on 127.0.0.1 from librdkafka's own threads. Every
// method is thread-safe (mock commands are executed by the cluster thread).
class MockCluster {
 public:
  // Starts `num_brokers` brokers (ids 1..num_brokers) on ephemeral ports.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MockCluster>> Create(
      int num_brokers);

  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;
  // Stops the brokers; clients still connected see disconnects.
  ~MockCluster();

  // Comma-separated "127.0.0.1:PORT" of every broker.
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  int num_brokers() const { return num_brokers_; }

  // Creates a topic. ALREADY_EXISTS if it exists (whatever its partitions).
  // `replication` is validated (1..num_brokers) but the 2.0.2 mock ignores
  // it: every partition gets min(3, num_brokers) replicas.
  [[nodiscard]] absl::Status CreateTopic(std::string_view name, int partitions,
                                         int replication);

  // Fault injection. `broker_id` -1 means all brokers where librdkafka allows.
  [[nodiscard]] absl::Status SetBrokerDown(int32_t broker_id);
  [[nodiscard]] absl::Status SetBrokerUp(int32_t broker_id);
  [[nodiscard]] absl::Status SetRtt(int32_t broker_id, int rtt_ms);
  // The next errors.size() requests with `api_key` (Kafka protocol ApiKey,
  // e.g. 0 = Produce, 1 = Fetch, 3 = Metadata, 8 = OffsetCommit) fail with
  // these Kafka error codes, in order.
  void PushRequestErrors(int16_t api_key, const std::vector<int>& error_codes);
  void ClearRequestErrors(int16_t api_key);
  // Error returned for `topic` in Metadata (and AddPartitionsToTxn) replies;
  // 0 clears it.
  void SetTopicError(std::string_view topic, int error_code);
  [[nodiscard]] absl::Status SetPartitionLeader(std::string_view topic,
                                                int32_t partition,
                                                int32_t broker_id);
  // `key_type` is "group" or "transaction".
  [[nodiscard]] absl::Status SetCoordinator(std::string_view key_type,
                                            std::string_view key,
                                            int32_t broker_id);
  // Restricts the advertised versions of `api_key`; -1/-1 disables the API.
  [[nodiscard]] absl::Status SetApiVersion(int16_t api_key, int16_t min_version,
                                           int16_t max_version);

  rd_kafka_mock_cluster_t* raw() const { return mcluster_; }

 private:
  MockCluster() = default;

  RdKafkaPtr rk_;  // hosts the cluster; destroyed after it
  rd_kafka_mock_cluster_t* mcluster_ = nullptr;
  std::string bootstrap_servers_;
  int num_brokers_ = 0;
};

}  // namespace sluice::internal

#endif  // SLUICE_SRC_KAFKA_MOCK_CLUSTER_H_
