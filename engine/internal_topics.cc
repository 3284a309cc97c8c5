#include "engine/internal_topics.h"

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/str_join.h"
#include "sluice/internal/str.h"
#include "src/log.h"

namespace sluice::internal {

namespace {

// The source topics of a stateful sub-topology feed the same stores, key by key: partition
// p of each must hold the same keys, so all need the same number of partitions.
template <class Resolve>
absl::Status CheckCopartitioning(const CompiledTopology& topology,
                                 const std::map<std::string, int32_t>& partitions,
                                 const Resolve& resolve) {
  for (const Subtopology& s : topology.subtopologies) {
    if (s.stores.empty() || s.source_topics.size() < 2) continue;
    std::vector<std::string> described;
    std::set<int32_t> counts;
    for (size_t i = 0; i < s.source_topics.size(); ++i) {
      const std::string name = resolve(s.source_topics[i], s.source_internal[i]);
      auto it = partitions.find(name);
      if (it == partitions.end()) continue;
      counts.insert(it->second);
      described.push_back(Cat("'", name, "' (", it->second, " partitions)"));
    }
    if (counts.size() > 1) {
      return absl::FailedPreconditionError(Cat(
          "topics ", absl::StrJoin(described, ", "), " are not co-partitioned: they feed the "
          "same state stores (sub-topology ", s.id, ": ", absl::StrJoin(s.stores, ", "),
          ") and must have the same number of partitions; repartition one of them"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

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

  // Repartition topics come before changelog topics in `internal_topics`, and a
  // repartition topic's writer comes before its readers, so every count needed below is
  // known when it is needed.
  for (const InternalTopic& t : topology.internal_topics) {
    const std::string name = resolve(t.name, true);
    int32_t wanted = 0;
    if (t.partitions) {
      wanted = *t.partitions;
    } else if (!t.copartition_sources.empty()) {
      for (const std::string& source : t.copartition_sources) {
        auto it = partitions.find(source);
        if (it != partitions.end()) wanted = std::max(wanted, it->second);
      }
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
      spec.configs["cleanup.policy"] = t.changelog ? "compact" : "delete";
      for (const auto& [key, value] : t.configs) spec.configs[key] = value;
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
            wanted, t.changelog ? " (one per partition of the store's tasks)"
                                : " (the count given to Repartitioned::WithNumberOfPartitions, "
                                  "else the largest partition count of the topics it is joined "
                                  "or aggregated with, else of its upstream source topics)",
            "; delete it or reset the application"));
      }
    } else if (got.status().code() != absl::StatusCode::kNotFound) {
      return got.status();
    }
    partitions[name] = wanted;
  }
  if (absl::Status s = CheckCopartitioning(topology, partitions, resolve); !s.ok()) return s;
  return partitions;
}

}  // namespace sluice::internal
