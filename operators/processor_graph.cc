#include "operators/processor_graph.h"

#include "sluice/internal/str.h"

namespace sluice::internal {

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
    source->ProcessRaw(records, context);
    for (NodeInstance* node : flush_order_) node->Flush();
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
