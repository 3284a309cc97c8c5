// ProcessorGraph: the node instances of one sub-topology for one task, wired as the
// topology says, with the flush order of its merge nodes. Built and used on the task's
// worker thread.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "sluice/internal/node.h"
#include "sluice/internal/str.h"
#include "sluice/topology.h"

namespace sluice::internal {

class ProcessorGraph {
 public:
  // Instantiates every node of `subtopology` through its factory and wires it.
  static absl::StatusOr<std::unique_ptr<ProcessorGraph>> Create(
      const CompiledTopology& topology, int subtopology, TaskServices& services);

  // The source node that reads `topic` (its Kafka name), or nullptr.
  SourceInput* SourceFor(std::string_view topic) const;

  // Pushes one batch of raw records of `context.topic` through the graph, then flushes
  // merge nodes in topological order. Throws TaskFailure or whatever user code throws.
  // A graph where state written on one branch below a source is read on another (a
  // stream joined with a table made from the same topic, a stream-stream self-join)
  // takes the batch one record at a time: each record sees the state every earlier
  // record left, as in Kafka Streams' depth-first order, whatever the batch size.
  void Process(std::span<const RawRecord> records, const BatchContext& context);
  bool record_at_a_time() const { return record_at_a_time_; }

  // At commit: every node, in topological order, lets its store caches write down and
  // forwards what they emit; merge nodes then emit what reached them.
  void FlushCaches();

  // Runs the punctuations due at `time` (stream time or wall clock), then flushes merges.
  void Punctuate(bool stream_time, int64_t time);
  bool punctuates() const { return !punctuating_.empty(); }

 private:
  std::vector<std::unique_ptr<NodeInstance>> nodes_;
  absl::flat_hash_map<std::string, SourceInput*, StringHash, StringEq> sources_;
  std::vector<NodeInstance*> flush_order_;
  std::vector<bool> needs_flush_;  // per node in nodes_
  std::vector<NodeInstance*> punctuating_;
  bool record_at_a_time_ = false;
};

// True if two nodes of `subtopology` that use the same store lie on different branches
// below a common source: neither is the other's ancestor, and one source feeds both.
bool StateCrossesBranches(const CompiledTopology& topology, int subtopology);

}  // namespace sluice::internal
