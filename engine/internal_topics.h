// Prepares the topics a topology needs before the App joins its group: checks that the
// source topics exist, creates the repartition topics (through the embedded broker's own
// API when it runs in this process, else with CreateTopics), and checks partition counts.
// Runs on the App's group-member thread.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "sluice/config.h"
#include "sluice/topology.h"
#include "src/kafka/admin.h"
#include "src/kafka/mock_cluster.h"

namespace sluice::internal {

// Returns the partition count of every topic the topology reads, by Kafka name.
absl::StatusOr<std::map<std::string, int32_t>> PrepareTopics(const CompiledTopology& topology,
                                                             const StreamsConfig& config,
                                                             Admin& admin, MockCluster* mock);

}  // namespace sluice::internal
