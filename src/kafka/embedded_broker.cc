#include "sluice/embedded_broker.h"

#include "src/kafka/mock_cluster.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(
    int num_brokers) {
  absl::StatusOr<std::unique_ptr<internal::MockCluster>> mock =
      internal::MockCluster::Create(num_brokers);
  if (!mock.ok()) return mock.status();
  return std::unique_ptr<EmbeddedBroker>(new EmbeddedBroker(std::move(*mock)));
}

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<internal::MockCluster> mock)
    : mock_(std::move(mock)) {}

EmbeddedBroker::~EmbeddedBroker() = default;

std::string EmbeddedBroker::bootstrap_servers() const {
  return mock_->bootstrap_servers();
}

int EmbeddedBroker::num_brokers() const { return mock_->num_brokers(); }

absl::Status EmbeddedBroker::CreateTopic(std::string_view name, int partitions,
                                         int replication) {
  return mock_->CreateTopic(name, partitions, replication);
}

absl::Status EmbeddedBroker::SetBrokerDown(int broker_id) {
  return mock_->SetBrokerDown(broker_id);
}

absl::Status EmbeddedBroker::SetBrokerUp(int broker_id) {
  return mock_->SetBrokerUp(broker_id);
}

absl::Status EmbeddedBroker::SetRtt(int broker_id, int rtt_ms) {
  return mock_->SetRtt(broker_id, rtt_ms);
}

void EmbeddedBroker::PushRequestErrors(int16_t api_key,
                                       std::vector<int> error_codes) {
  mock_->PushRequestErrors(api_key, error_codes);
}

void EmbeddedBroker::ClearRequestErrors(int16_t api_key) {
  mock_->ClearRequestErrors(api_key);
}

void EmbeddedBroker::SetTopicError(std::string_view topic, int error_code) {
  mock_->SetTopicError(topic, error_code);
}

absl::Status EmbeddedBroker::SetPartitionLeader(std::string_view topic,
                                                int32_t partition,
                                                int broker_id) {
  return mock_->SetPartitionLeader(topic, partition, broker_id);
}

}  // namespace sluice
