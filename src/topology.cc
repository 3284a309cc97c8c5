// Compiles the DSL's logical graph into sub-topologies and renders descriptions.
#include "sluice/topology.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "sluice/internal/str.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sluice/streams_builder.h"
#include "src/log.h"

namespace sluice {
namespace internal {

std::string GraphBuilder::NextName(std::string_view prefix) {
  return absl::StrFormat("%s%010d", prefix, index_++);
}

int GraphBuilder::Add(GraphNode node) {
  node.id = static_cast<int>(nodes_.size());
  for (int parent : node.parents) {
    if (parent < 0 || parent >= node.id) {
      errors_.push_back(internal::Cat("node '", node.name, "' has an unknown parent"));
      continue;
    }
    nodes_[parent].children.push_back(node.id);
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().id;
}

void GraphBuilder::AddStore(StoreSpec spec) {
  for (const StoreSpec& s : stores_) {
    if (s.name == spec.name) {
      errors_.push_back(internal::Cat("two state stores are named '", spec.name,
                                      "'; names given with Materialized must be unique"));
      return;
    }
  }
  stores_.push_back(std::move(spec));
}

void GraphBuilder::AddGlobalStore(GlobalStoreSpec spec) {
  for (const StoreSpec& s : stores_) {
    if (s.name == spec.name) {
      errors_.push_back(internal::Cat("two state stores are named '", spec.name, "'"));
      return;
    }
  }
  for (const GlobalStoreSpec& s : global_stores_) {
    if (s.name == spec.name || s.topic == spec.topic) {
      errors_.push_back(internal::Cat("two global tables use the store '", spec.name,
                                      "' or the topic '", spec.topic, "'"));
      return;
    }
  }
  global_stores_.push_back(std::move(spec));
}

const StoreSpec* CompiledTopology::FindStore(std::string_view name) const {
  for (const StoreSpec& s : stores) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

int CompiledTopology::SubtopologyOf(const std::string& topic) const {
  for (const Subtopology& s : subtopologies) {
    if (std::find(s.source_topics.begin(), s.source_topics.end(), topic) !=
        s.source_topics.end()) {
      return s.id;
    }
  }
  return -1;
}

namespace {

int Find(std::vector<int>& parent, int x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

}  // namespace
}  // namespace internal

absl::StatusOr<Topology> StreamsBuilder::Build() {
  using internal::GraphNode;
  using internal::NodeKind;
  auto compiled = std::make_shared<internal::CompiledTopology>();
  std::vector<std::string> errors = graph_->errors();
  compiled->nodes = graph_->nodes();
  compiled->stores = graph_->stores();
  compiled->global_stores = graph_->global_stores();
  const std::vector<GraphNode>& nodes = compiled->nodes;
  if (nodes.empty()) {
    return absl::InvalidArgumentError(
        "the topology is empty: read at least one topic with StreamsBuilder::Stream()");
  }

  std::set<std::string> names;
  std::map<std::string, std::string> topic_reader;  // source topic -> source node
  for (const GraphNode& n : nodes) {
    if (n.name.empty()) errors.push_back(internal::Cat("node ", n.id, " has an empty name"));
    if (!names.insert(n.name).second) {
      errors.push_back(internal::Cat("two nodes are named '", n.name,
                                    "'; names given with Named/Consumed/Produced must be unique"));
    }
    if (n.kind == NodeKind::kSource) {
      if (n.topics.empty()) errors.push_back(internal::Cat("source '", n.name, "' reads no topic"));
      for (const std::string& t : n.topics) {
        if (t.empty()) errors.push_back(internal::Cat("source '", n.name, "' has an empty topic name"));
        auto [it, inserted] = topic_reader.emplace(t, n.name);
        if (!inserted) {
          errors.push_back(internal::Cat("topic '", t, "' is read by two sources, '", it->second,
                                        "' and '", n.name,
                                        "'; read it once and use the stream twice"));
        }
      }
    }
  }
  for (const internal::GlobalStoreSpec& g : compiled->global_stores) {
    auto it = topic_reader.find(g.topic);
    if (it != topic_reader.end()) {
      errors.push_back(internal::Cat("topic '", g.topic, "' is read both by the global table '",
                                     g.name, "' and by the source '", it->second, "'"));
    }
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(internal::Cat("invalid topology: ", absl::StrJoin(errors, "; ")));
  }

  // Sub-topologies: the connected components of the graph, where nodes that share a
  // store are connected too.
  std::vector<int> parent(nodes.size());
  std::iota(parent.begin(), parent.end(), 0);
  std::map<std::string, int> store_user;
  for (const GraphNode& n : nodes) {
    for (int p : n.parents) parent[internal::Find(parent, n.id)] = internal::Find(parent, p);
    for (const std::string& store : n.stores) {
      if (compiled->FindStore(store) == nullptr) {
        errors.push_back(internal::Cat("node '", n.name, "' uses state store '", store,
                                       "', which was never added"));
        continue;
      }
      auto [it, inserted] = store_user.emplace(store, n.id);
      if (!inserted) parent[internal::Find(parent, n.id)] = internal::Find(parent, it->second);
    }
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(internal::Cat("invalid topology: ", absl::StrJoin(errors, "; ")));
  }
  std::map<int, int> root_to_id;  // components numbered by their first node
  for (const GraphNode& n : nodes) {
    int root = internal::Find(parent, n.id);
    auto [it, inserted] = root_to_id.emplace(root, static_cast<int>(root_to_id.size()));
    if (inserted) {
      internal::Subtopology sub;
      sub.id = it->second;
      compiled->subtopologies.push_back(std::move(sub));
    }
    internal::Subtopology& s = compiled->subtopologies[it->second];
    s.nodes.push_back(n.id);
    if (n.kind == NodeKind::kSource) {
      for (const std::string& t : n.topics) {
        s.source_topics.push_back(t);
        s.source_internal.push_back(n.internal_topic);
      }
    }
    if (n.kind == NodeKind::kSink) {
      ++s.sink_count;
      if (n.internal_topic) {
        internal::InternalTopic topic;
        topic.name = n.topics.at(0);
        topic.source_subtopology = it->second;
        topic.partitions = n.partitions;
        compiled->internal_topics.push_back(std::move(topic));
      }
    }
    for (const std::string& store : n.stores) {
      if (std::find(s.stores.begin(), s.stores.end(), store) == s.stores.end()) {
        s.stores.push_back(store);
      }
    }
  }
  // Repartition topics that must match the user topics they are joined or aggregated with.
  for (internal::InternalTopic& topic : compiled->internal_topics) {
    if (topic.partitions) continue;
    for (const internal::Subtopology& s : compiled->subtopologies) {
      if (s.stores.empty()) continue;
      auto it = std::find(s.source_topics.begin(), s.source_topics.end(), topic.name);
      if (it == s.source_topics.end()) continue;
      for (size_t i = 0; i < s.source_topics.size(); ++i) {
        if (!s.source_internal[i]) topic.copartition_sources.push_back(s.source_topics[i]);
      }
    }
  }
  // Changelog topics, after the repartition topics whose partition counts they may need.
  for (const internal::Subtopology& s : compiled->subtopologies) {
    for (const std::string& name : s.stores) {
      const internal::StoreSpec* store = compiled->FindStore(name);
      if (!store->logging) continue;
      internal::InternalTopic topic;
      topic.name = name + "-changelog";
      topic.source_subtopology = s.id;
      topic.changelog = true;
      topic.configs = store->changelog_configs;
      compiled->internal_topics.push_back(std::move(topic));
    }
  }
  for (const internal::StoreSpec& store : compiled->stores) {
    if (!store_user.contains(store.name)) {
      internal::Log(internal::LogLevel::kWarn, "state store '", store.name, "' is not used by any processor");
    }
  }
  return Topology(std::move(compiled));
}

std::string Topology::Describe() const {
  using internal::NodeKind;
  const auto& nodes = compiled_->nodes;
  auto names = [&](const std::vector<int>& ids) {
    if (ids.empty()) return std::string("none");
    return absl::StrJoin(ids, ", ", [&](std::string* out, int id) { out->append(nodes[id].name); });
  };
  // As Kafka's TopologyDescription.toString(): the first sub-topology line is indented by
  // three spaces, the following ones by two.
  std::string out = "Topologies:\n ";
  for (const internal::Subtopology& s : compiled_->subtopologies) {
    out += internal::Cat("  Sub-topology: ", s.id, "\n");
    for (int id : s.nodes) {
      const internal::GraphNode& n = nodes[id];
      switch (n.kind) {
        case NodeKind::kSource:
          out += internal::Cat("    Source: ", n.name, " (topics: [", absl::StrJoin(n.topics, ", "),
                          "])\n");
          break;
        case NodeKind::kProcessor:
          out += internal::Cat("    Processor: ", n.name, " (stores: [",
                               absl::StrJoin(n.stores, ", "), "])\n");
          break;
        case NodeKind::kSink:
          if (n.topics.empty()) {
            out += internal::Cat("    Sink: ", n.name, " (extractor class: TopicNameExtractor)\n");
          } else {
            out += internal::Cat("    Sink: ", n.name, " (topic: ", n.topics[0], ")\n");
          }
          break;
      }
      if (n.kind != NodeKind::kSink) out += internal::Cat("      --> ", names(n.children), "\n");
      if (n.kind != NodeKind::kSource) out += internal::Cat("      <-- ", names(n.parents), "\n");
    }
    out += "\n";
  }
  // As Kafka Streams prints a global store: a sub-topology that generates no tasks.
  int id = static_cast<int>(compiled_->subtopologies.size());
  for (const internal::GlobalStoreSpec& g : compiled_->global_stores) {
    out += internal::Cat("  Sub-topology: ", id++, " for global store (will not generate tasks)\n",
                         "    Source: ", g.name, "-global-source (topics: [", g.topic, "])\n",
                         "      --> ", g.name, "-global-processor\n",
                         "    Processor: ", g.name, "-global-processor (stores: [", g.name, "])\n",
                         "      --> none\n      <-- ", g.name, "-global-source\n\n");
  }
  return out;
}

std::string Topology::ToDot() const {
  using internal::NodeKind;
  const auto& nodes = compiled_->nodes;
  auto quote = [](std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  };
  std::string out = "digraph topology {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n";
  std::set<std::string> topics;
  for (const internal::Subtopology& s : compiled_->subtopologies) {
    out += internal::Cat("  subgraph cluster_", s.id, " {\n    label=\"Sub-topology ", s.id,
                    "\";\n");
    for (int id : s.nodes) {
      const internal::GraphNode& n = nodes[id];
      const char* shape = n.kind == NodeKind::kProcessor ? "ellipse" : "hexagon";
      out += internal::Cat("    ", quote(n.name), " [shape=", shape, "];\n");
    }
    out += "  }\n";
  }
  for (const internal::GraphNode& n : nodes) {
    for (int c : n.children) out += internal::Cat("  ", quote(n.name), " -> ", quote(nodes[c].name), ";\n");
    for (const std::string& t : n.topics) {
      topics.insert(t);
      if (n.kind == NodeKind::kSource) {
        out += internal::Cat("  ", quote("topic:" + t), " -> ", quote(n.name), ";\n");
      } else {
        out += internal::Cat("  ", quote(n.name), " -> ", quote("topic:" + t), ";\n");
      }
    }
  }
  for (const std::string& t : topics) {
    out += internal::Cat("  ", quote("topic:" + t), " [shape=box, style=filled, fillcolor=lightgrey, label=",
                    quote(t), "];\n");
  }
  out += "}\n";
  return out;
}

}  // namespace sluice
