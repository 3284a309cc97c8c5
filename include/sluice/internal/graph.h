// The logical graph the DSL builds: type-erased nodes with their names, topics and
// edges, each with a factory that instantiates the typed operator for one task.
// StreamsBuilder::Build() compiles it into a Topology (sub-topologies, internal topics).
// Built on the user's thread; read-only once built.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/internal/node.h"

namespace sluice::internal {

enum class NodeKind { kSource, kProcessor, kSink };

// A state store of the topology (Materialized, or one the Processor API added).
struct StoreSpec {
  std::string name;
  bool persistent = true;   // RocksDB, else in memory
  bool logging = true;      // backed by <application.id>-<name>-changelog
  bool caching = true;      // write-back cache in front
  std::map<std::string, std::string> changelog_configs;  // topic configs on creation
};

// The store of a GlobalKTable: filled from every partition of `topic` in every instance
// (by the App's global thread, or the test driver), read by any task. It holds each
// record's key and value bytes as they are in the topic.
struct GlobalStoreSpec {
  std::string name;
  std::string topic;
  // Checks that a record's key and value (nullopt: a tombstone) deserialize; the error
  // says what did not.
  std::function<absl::Status(std::string_view key, std::optional<std::string_view> value)> check;
};

using NodeFactory = std::function<std::unique_ptr<NodeInstance>(TaskServices&)>;

struct GraphNode {
  int id = 0;
  std::string name;
  NodeKind kind = NodeKind::kProcessor;
  std::vector<int> parents;
  std::vector<int> children;
  NodeFactory factory;
  // Source: the topics it reads. Sink: the one topic it writes (empty when the topic is
  // chosen per record). Topology names: internal topics are prefixed at run time.
  std::vector<std::string> topics;
  bool internal_topic = false;
  // Sink of a repartition topic: the partition count asked for, if any.
  std::optional<int32_t> partitions;
  // Buffers records and emits them on Flush (merge).
  bool needs_flush = false;
  // Names of the state stores the node uses.
  std::vector<std::string> stores;
  // Has punctuations (a Processor API node).
  bool punctuates = false;
  // A windowed aggregation: its grace period (Suppressed::UntilWindowCloses reads it).
  std::optional<int64_t> window_grace_ms;
};

// Owns the graph while the DSL builds it. Shared by every handle of one StreamsBuilder.
class GraphBuilder {
 public:
  // "KSTREAM-MAP-0000000003": the Kafka Streams naming scheme, one index per builder.
  std::string NextName(std::string_view prefix);

  // Adds a node; `parents` must already exist. Returns its id. Node names must be unique:
  // a duplicate is remembered and reported by Build().
  int Add(GraphNode node);

  // Registers a store; a second store of the same name is an error reported by Build().
  void AddStore(StoreSpec spec);
  void AddGlobalStore(GlobalStoreSpec spec);

  const std::vector<GraphNode>& nodes() const { return nodes_; }
  const std::vector<StoreSpec>& stores() const { return stores_; }
  const std::vector<GlobalStoreSpec>& global_stores() const { return global_stores_; }
  const std::vector<std::string>& errors() const { return errors_; }
  void AddError(std::string error) { errors_.push_back(std::move(error)); }

 private:
  std::vector<GraphNode> nodes_;
  std::vector<StoreSpec> stores_;
  std::vector<GlobalStoreSpec> global_stores_;
  std::vector<std::string> errors_;
  int index_ = 0;
};

}  // namespace sluice::internal
