// Topology: the compiled form of what a StreamsBuilder built. Sub-topologies are the
// connected parts of the graph; each runs as one task per input partition. Describe()
// prints Kafka Streams' text format, so tools written for Kafka Streams read it;
// ToDot() renders Graphviz.
//
//   absl::StatusOr<Topology> topology = builder.Build();
//   std::cout << topology->Describe();
#pragma once

#include <map>
#include <memory>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

#include "sluice/internal/graph.h"

namespace sluice {

namespace internal {

struct Subtopology {
  int id = 0;
  std::vector<int> nodes;               // ids, in creation (and so topological) order
  std::vector<std::string> source_topics;  // topology names (internal ones unprefixed)
  std::vector<bool> source_internal;
  int sink_count = 0;
  std::vector<std::string> stores;  // names of the stores its nodes use
};

struct InternalTopic {
  std::string name;  // unprefixed: "<name>-repartition" or "<store>-changelog"
  // Repartition topic: the sub-topology whose sink writes it. Changelog: the sub-topology
  // whose tasks own the store (its partition count is that sub-topology's).
  int source_subtopology = -1;
  std::optional<int32_t> partitions;
  // A repartition topic without a count of its own, read by a sub-topology with state
  // (a join, an aggregation) beside user topics: those topics. It gets the largest of
  // their partition counts, so that the sub-topology's inputs are co-partitioned (as
  // Kafka Streams' CopartitionedTopicsEnforcer does); otherwise it gets the largest
  // count among the sources of the sub-topology that writes it.
  std::vector<std::string> copartition_sources;
  bool changelog = false;
  std::map<std::string, std::string> configs;  // topic configs on creation
};

// What the engine and the test driver need of a topology. Immutable once built.
struct CompiledTopology {
  std::vector<GraphNode> nodes;
  std::vector<Subtopology> subtopologies;
  std::vector<InternalTopic> internal_topics;
  std::vector<StoreSpec> stores;
  std::vector<GlobalStoreSpec> global_stores;  // GlobalKTables
  // Every source topic's sub-topology.
  int SubtopologyOf(const std::string& topic) const;
  const StoreSpec* FindStore(std::string_view name) const;
};

}  // namespace internal

class Topology {
 public:
  // Kafka Streams' TopologyDescription text.
  std::string Describe() const;
  // The same graph as Graphviz DOT: sub-topologies as clusters, topics as boxes.
  std::string ToDot() const;

  const internal::CompiledTopology& compiled() const { return *compiled_; }

 private:
  friend class StreamsBuilder;
  explicit Topology(std::shared_ptr<const internal::CompiledTopology> compiled)
      : compiled_(std::move(compiled)) {}
  std::shared_ptr<const internal::CompiledTopology> compiled_;
};

}  // namespace sluice
