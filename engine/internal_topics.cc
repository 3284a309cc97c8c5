#include "engine/internal_topics.h"

#include <algorithm>
#include <vector>

#include "sluice/internal/str.h"
#include "src/log.h"

namespace sluice::internal {

absl::StatusOr<std::map<std::string, int32_t>> PrepareTopics(const CompiledTopology& topology,
                                                             const StreamsConfig& config,
                                                             Admin& admin, MockCluster* mock) {
  const std::chrono::milliseconds timeout(config.default_api_timeout_ms());
  auto resolve = [&](const std::string& name, bool internal) {
    return internal ? Cat(config.application_id(), "-", name) : name;
  };

  std::vector<std::string> user_topics;
  for (const Subtopology& s : topology.subtopologies) {
    for (size_t i = 0; i < s.source_topics.size(); ++i) {
      if (!s.source_internal[i]) user_topics.push_back(s.source_topics[i]);
    }
  }
  absl::StatusOr<std::map<std::string, int>> counts = admin.PartitionCounts(user_topics, timeout);
  if (!counts.ok()) {
    if (counts.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(Cat("missing source topics: ", counts.status().message(),
                                     " (create them before starting the App)"));
    }
    return absl::UnavailableError(Cat("could not read topic metadata from bootstrap.servers=",
                                      config.bootstrap_servers(), " within ",
                                      StreamsConfig::kDefaultApiTimeoutMs, "=",
                                      config.default_api_timeout_ms(), " ms: ",
                                      counts.status().message()));
  }
  std::map<std::string, int32_t> partitions(counts->begin(), counts->end());

  for (const InternalTopic& t : topology.internal_topics) {
    const std::string name = resolve(t.name, true);
    int32_t wanted = 0;
    if (t.partitions) {
      wanted = *t.partitions;
    } else {
      const Subtopology& upstream = topology.subtopologies[t.source_subtopology];
      for (size_t i = 0; i < upstream.source_topics.size(); ++i) {
        auto it = partitions.find(resolve(upstream.source_topics[i], upstream.source_internal[i]));
        if (it != partitions.end()) wanted = std::max(wanted, it->second);
      }
    }
    if (wanted < 1) {
      return absl::InternalError(Cat("no partition count for internal topic '", name, "'"));
    }
    absl::Status created;
    if (mock != nullptr) {
      created = mock->CreateTopic(name, wanted, 1);
      if (created.code() == absl::StatusCode::kAlreadyExists) created = absl::OkStatus();
    } else {
      TopicSpec spec;
      spec.name = name;
      spec.partitions = wanted;
      spec.replication = config.replication_factor();
      spec.configs["cleanup.policy"] = "delete";
      created = admin.CreateTopics({spec}, timeout);
      if (created.code() == absl::StatusCode::kUnimplemented) {
        Log(LogLevel::kWarn, "the cluster cannot create topics (", created.message(),
            "); relying on auto-creation of internal topic '", name, "' with ", wanted,
            " partitions expected");
        created = absl::OkStatus();
      }
    }
    if (!created.ok()) return created;
    absl::StatusOr<std::map<std::string, int>> got = admin.PartitionCounts({name}, timeout);
    if (got.ok()) {
      int have = got->at(name);
      if (have != wanted) {
        return absl::FailedPreconditionError(Cat(
            "internal topic '", name, "' has ", have, " partitions but the topology needs ",
            wanted, " (the largest partition count of its upstream source topics, or the count "
            "given to Repartitioned::WithNumberOfPartitions); delete it or reset the application"));
      }
    } else if (got.status().code() != absl::StatusCode::kNotFound) {
      return got.status();
    }
    partitions[name] = wanted;
  }
  return partitions;
}

}  // namespace sluice::internal
