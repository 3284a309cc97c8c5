#include "operators/processor_graph.h"

#include <map>
#include <set>

#include "sluice/internal/str.h"

namespace sluice::internal {

bool StateCrossesBranches(const CompiledTopology& topology, int subtopology) {
  const Subtopology& sub = topology.subtopologies.at(subtopology);
  // Each node's ancestors (itself included) and the sources among them; nodes come in
  // topological order.
  std::map<int, std::set<int>> ancestors;
  std::map<int, std::set<int>> sources;
  std::map<std::string, std::vector<int>> users;  // store -> the nodes that use it
  for (int id : sub.nodes) {
    const GraphNode& node = topology.nodes[id];
    std::set<int>& mine = ancestors[id];
    mine.insert(id);
    if (node.kind == NodeKind::kSource) sources[id].insert(id);
    for (int parent : node.parents) {
      mine.insert(ancestors[parent].begin(), ancestors[parent].end());
      sources[id].insert(sources[parent].begin(), sources[parent].end());
    }
    for (const std::string& store : node.stores) users[store].push_back(id);
  }
  for (const auto& [store, nodes] : users) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      for (size_t j = i + 1; j < nodes.size(); ++j) {
        const int a = nodes[i], b = nodes[j];
        if (ancestors[a].contains(b) || ancestors[b].contains(a)) continue;
        for (int source : sources[a]) {
          if (sources[b].contains(source)) return true;
        }
      }
    }
  }
  return false;
}

absl::StatusOr<std::unique_ptr<ProcessorGraph>> ProcessorGraph::Create(
    const CompiledTopology& topology, int subtopology, TaskServices& services) {
  auto graph = std::make_unique<ProcessorGraph>();
  const Subtopology& sub = topology.subtopologies.at(subtopology);
  absl::flat_hash_map<int, NodeInstance*> by_id;
  // Nodes are in creation order, so parents come before their children.
  for (int id : sub.nodes) {
    const GraphNode& node = topology.nodes[id];
    std::unique_ptr<NodeInstance> instance = node.factory(services);
    if (instance == nullptr) {
      return absl::InternalError(internal::Cat("node '", node.name, "' has no instance"));
    }
    for (int parent : node.parents) {
      absl::Status status = by_id.at(parent)->AddChild(instance.get());
      if (!status.ok()) {
        return absl::InternalError(internal::Cat("wiring '", topology.nodes[parent].name, "' -> '",
                                                node.name, "': ", status.message()));
      }
    }
    if (node.kind == NodeKind::kSource) {
      auto* source = dynamic_cast<SourceInput*>(instance.get());
      if (source == nullptr) {
        return absl::InternalError(internal::Cat("source '", node.name, "' reads no raw records"));
      }
      for (const std::string& topic : node.topics) {
        graph->sources_[services.ResolveTopic(topic, node.internal_topic)] = source;
      }
    }
    if (node.needs_flush) graph->flush_order_.push_back(instance.get());
    graph->needs_flush_.push_back(node.needs_flush);
    if (node.punctuates) graph->punctuating_.push_back(instance.get());
    by_id[id] = instance.get();
    graph->nodes_.push_back(std::move(instance));
  }
  graph->record_at_a_time_ = StateCrossesBranches(topology, subtopology);
  try {
    for (auto& node : graph->nodes_) node->Init();
  } catch (const TaskFailure& failure) {
    return failure.status();
  } catch (const std::exception& e) {
    return absl::InternalError(internal::Cat("exception from a processor's Init: ", e.what()));
  }
  return graph;
}

SourceInput* ProcessorGraph::SourceFor(std::string_view topic) const {
  auto it = sources_.find(topic);
  return it == sources_.end() ? nullptr : it->second;
}

void ProcessorGraph::Process(std::span<const RawRecord> records, const BatchContext& context) {
  SourceInput* source = SourceFor(context.topic);
  if (source == nullptr) {
    throw TaskFailure(absl::InternalError(
        internal::Cat("no source node reads topic '", context.topic, "' in this task")));
  }
  try {
    if (!record_at_a_time_) {
      source->ProcessRaw(records, context);
      for (NodeInstance* node : flush_order_) node->Flush();
      return;
    }
    BatchContext one = context;
    for (size_t i = 0; i < records.size(); ++i) {
      one.raw = records.subspan(i, 1);
      source->ProcessRaw(one.raw, one);
      for (NodeInstance* node : flush_order_) node->Flush();
    }
  } catch (...) {
    // Nothing of a failed batch may surface in the next one.
    for (NodeInstance* node : flush_order_) node->Reset();
    throw;
  }
}

void ProcessorGraph::Punctuate(bool stream_time, int64_t time) {
  try {
    for (NodeInstance* node : punctuating_) node->Punctuate(stream_time, time);
    for (NodeInstance* node : flush_order_) node->Flush();
  } catch (...) {
    for (NodeInstance* node : flush_order_) node->Reset();
    throw;
  }
}

void ProcessorGraph::FlushCaches() {
  try {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      nodes_[i]->FlushCache();
      if (needs_flush_[i]) nodes_[i]->Flush();
    }
  } catch (...) {
    for (NodeInstance* node : flush_order_) node->Reset();
    throw;
  }
}

}  // namespace sluice::internal
