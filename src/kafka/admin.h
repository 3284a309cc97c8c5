// Topic administration for the engine: creating internal topics and checking
// partition counts for co-partitioning.
//
//   auto admin = Admin::Create({{"bootstrap.servers", servers}});
//   absl::Status s = (*admin)->CreateTopics(
//       {{.name = "app-store-changelog", .partitions = 4, .replication = 1,
//         .configs = {{"cleanup.policy", "compact"}}}},
//       std::chrono::seconds(30));
//   if (absl::IsUnimplemented(s)) { /* embedded mock: use MockCluster */ }
//   auto counts = (*admin)->PartitionCounts({"orders", "stock"}, 10s);

#ifndef SLUICE_SRC_KAFKA_ADMIN_H_
#define SLUICE_SRC_KAFKA_ADMIN_H_

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/kafka/handles.h"
#include "src/kafka/kafka_conf.h"
#include "src/kafka/kafka_status.h"

namespace sluice::internal {

// A topic to create.
struct TopicSpec {
  std::string name;
  int partitions = 1;
  // -1 lets the broker pick (default.replication.factor).
  int replication = 1;
  std::map<std::string, std::string> configs;
};

// Owns one librdkafka client used only for admin requests and metadata; each
// call blocks until the broker answers or the timeout passes. Thread-safe:
// calls may come from any thread (each uses its own result queue).
class Admin {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Admin>> Create(
      const KafkaProperties& props, std::string_view config_prefix = "admin.");

  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Creates `topics`; a topic that already exists is not an error (its
  // partition count is not checked here: use PartitionCounts). If the
  // cluster cannot serve CreateTopics (no controller, or the API is not
  // supported, as with librdkafka 2.0.2's mock cluster) returns UNIMPLEMENTED
  // quickly so callers can fall back. Other failures name every
  // topic that failed.
  [[nodiscard]] absl::Status CreateTopics(const std::vector<TopicSpec>& topics,
                                          std::chrono::milliseconds timeout);

  // Deletes `topics`; a topic that does not exist is not an error.
  // UNIMPLEMENTED if the broker lacks the DeleteTopics API.
  [[nodiscard]] absl::Status DeleteTopics(
      const std::vector<std::string>& topics,
      std::chrono::milliseconds timeout);

  // Partition count of each of `topics`, from one metadata request for all
  // topics (which, unlike a per-topic request, never auto-creates them).
  // NOT_FOUND names every missing topic.
  [[nodiscard]] absl::StatusOr<std::map<std::string, int>> PartitionCounts(
      const std::vector<std::string>& topics,
      std::chrono::milliseconds timeout);

  [[nodiscard]] absl::Status LastError() const { return errors_.LastError(); }

  rd_kafka_t* handle() const { return rk_.get(); }

 private:
  Admin() = default;

  static void ErrorCallbackTrampoline(rd_kafka_t* rk, int err,
                                      const char* reason, void* opaque);
  absl::StatusOr<AdminOptionsPtr> Options(rd_kafka_admin_op_t op,
                                          std::chrono::milliseconds timeout);
  // OK if the cluster has a controller (admin requests go there);
  // UNIMPLEMENTED if it is reachable but reports none (the 2.0.2 mock).
  absl::Status RequireController(std::chrono::milliseconds timeout,
                                 std::string_view what);
  // Waits for the result event of one admin request on `queue`.
  absl::StatusOr<EventPtr> WaitResult(rd_kafka_queue_t* queue,
                                      std::chrono::milliseconds timeout,
                                      std::string_view what);

  ClientErrorState errors_;
  RdKafkaPtr rk_;
};

}  // namespace sluice::internal

#endif  // SLUICE_SRC_KAFKA_ADMIN_H_
