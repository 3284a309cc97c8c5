#include "src/kafka/mock_cluster.h"

#include "absl/strings/str_cat.h"
#include "src/kafka/kafka_conf.h"
#include "src/kafka/kafka_status.h"

namespace sluice::internal {

absl::StatusOr<std::unique_ptr<MockCluster>> MockCluster::Create(
    int num_brokers) {
  if (num_brokers < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "embedded broker needs at least 1 broker, got ", num_brokers));
  }
  // The hosting handle never talks to a broker itself; it only owns the mock
  // cluster's threads. Keep it quiet about having no bootstrap servers.
  absl::StatusOr<KafkaConf> conf = KafkaConf::Create(KafkaProperties{
      {"client.id", "sluice-embedded-broker"}, {"log_level", "3"}});
  if (!conf.ok()) return conf.status();
  absl::StatusOr<RdKafkaPtr> rk =
      conf->NewClient(RD_KAFKA_PRODUCER, "embedded broker host");
  if (!rk.ok()) return rk.status();
  std::unique_ptr<MockCluster> cluster(new MockCluster());
  cluster->rk_ = std::move(*rk);
  cluster->mcluster_ =
      rd_kafka_mock_cluster_new(cluster->rk_.get(), num_brokers);
  if (cluster->mcluster_ == nullptr) {
    return absl::InternalError(absl::StrCat(
        "cannot start embedded broker with ", num_brokers,
        " broker(s): rd_kafka_mock_cluster_new failed (no free loopback "
        "port?)"));
  }
  cluster->bootstrap_servers_ =
      rd_kafka_mock_cluster_bootstraps(cluster->mcluster_);
  cluster->num_brokers_ = num_brokers;
  return cluster;
}

MockCluster::~MockCluster() {
  if (mcluster_ != nullptr) rd_kafka_mock_cluster_destroy(mcluster_);
}

absl::Status MockCluster::CreateTopic(std::string_view name, int partitions,
                                      int replication) {
  if (partitions < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "topic ", ToAbsl(name), ": partitions must be >= 1, got ", partitions));
  }
  if (replication < 1 || replication > num_brokers_) {
    return absl::InvalidArgumentError(
        absl::StrCat("topic ", ToAbsl(name), ": replication ", replication,
                     " needs 1..", num_brokers_, " brokers"));
  }
  const std::string topic(name);
  return KafkaError(
      rd_kafka_mock_topic_create(mcluster_, topic.c_str(), partitions,
                                 replication),
      absl::StrCat("cannot create topic ", ToAbsl(name), " with ", partitions,
                   " partition(s) on the embedded broker"));
}

absl::Status MockCluster::SetBrokerDown(int32_t broker_id) {
  return KafkaError(
      rd_kafka_mock_broker_set_down(mcluster_, broker_id),
      absl::StrCat("cannot set embedded broker ", broker_id, " down"));
}

absl::Status MockCluster::SetBrokerUp(int32_t broker_id) {
  return KafkaError(
      rd_kafka_mock_broker_set_up(mcluster_, broker_id),
      absl::StrCat("cannot set embedded broker ", broker_id, " up"));
}

absl::Status MockCluster::SetRtt(int32_t broker_id, int rtt_ms) {
  return KafkaError(
      rd_kafka_mock_broker_set_rtt(mcluster_, broker_id, rtt_ms),
      absl::StrCat("cannot set RTT of embedded broker ", broker_id));
}

void MockCluster::PushRequestErrors(int16_t api_key,
                                    const std::vector<int>& error_codes) {
  std::vector<rd_kafka_resp_err_t> errs;
  errs.reserve(error_codes.size());
  for (int e : error_codes) errs.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(mcluster_, api_key, errs.size(),
                                          errs.data());
}

void MockCluster::ClearRequestErrors(int16_t api_key) {
  rd_kafka_mock_clear_request_errors(mcluster_, api_key);
}

void MockCluster::SetTopicError(std::string_view topic, int error_code) {
  const std::string t(topic);
  rd_kafka_mock_topic_set_error(mcluster_, t.c_str(),
                                static_cast<rd_kafka_resp_err_t>(error_code));
}

absl::Status MockCluster::SetPartitionLeader(std::string_view topic,
                                             int32_t partition,
                                             int32_t broker_id) {
  const std::string t(topic);
  return KafkaError(
      rd_kafka_mock_partition_set_leader(mcluster_, t.c_str(), partition,
                                         broker_id),
      absl::StrCat("cannot move leader of ", ToAbsl(topic), " [", partition,
                   "] to embedded broker ", broker_id));
}

absl::Status MockCluster::SetCoordinator(std::string_view key_type,
                                         std::string_view key,
                                         int32_t broker_id) {
  const std::string type(key_type);
  const std::string k(key);
  return KafkaError(
      rd_kafka_mock_coordinator_set(mcluster_, type.c_str(), k.c_str(),
                                    broker_id),
      absl::StrCat("cannot set ", ToAbsl(key_type), " coordinator of ",
                   ToAbsl(key), " to embedded broker ", broker_id));
}

absl::Status MockCluster::SetApiVersion(int16_t api_key, int16_t min_version,
                                        int16_t max_version) {
  return KafkaError(rd_kafka_mock_set_apiversion(mcluster_, api_key,
                                                 min_version, max_version),
                    absl::StrCat("cannot set versions of ApiKey ", api_key,
                                 " on the embedded broker"));
}

}  // namespace sluice::internal
