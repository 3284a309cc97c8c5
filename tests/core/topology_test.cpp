// Topology compilation: Describe() in Kafka Streams' TopologyDescription text format,
// ToDot(), sub-topologies and internal topics, and Build() errors.
#include "sluice/topology.h"

#include <gtest/gtest.h>

#include <string>

#include "sluice/sluice.h"

namespace sluice {
namespace {

// Takes std::string and Abseil's own string_view alike (Debian's Abseil does not use
// std::string_view).
template <class S>
bool Contains(const S& haystack, std::string_view needle) {
  return std::string_view(haystack.data(), haystack.size()).find(needle) !=
         std::string_view::npos;
}

TEST(Describe, SingleChainMatchesKafkaStreamsText) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Filter([](const std::string&, int64_t v) { return v > 0; })
      .MapValues([](int64_t v) { return v * 2; })
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  // What Kafka Streams prints for
  // builder.stream("in").filter(..).mapValues(..).to("out").
  EXPECT_EQ(topology->Describe(),
            "Topologies:\n"
            "   Sub-topology: 0\n"
            "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
            "      --> KSTREAM-FILTER-0000000001\n"
            "    Processor: KSTREAM-FILTER-0000000001 (stores: [])\n"
            "      --> KSTREAM-MAPVALUES-0000000002\n"
            "      <-- KSTREAM-SOURCE-0000000000\n"
            "    Processor: KSTREAM-MAPVALUES-0000000002 (stores: [])\n"
            "      --> KSTREAM-SINK-0000000003\n"
            "      <-- KSTREAM-FILTER-0000000001\n"
            "    Sink: KSTREAM-SINK-0000000003 (topic: out)\n"
            "      <-- KSTREAM-MAPVALUES-0000000002\n"
            "\n");
}

TEST(Describe, UserNamesAndEveryOperatorPrefix) {
  StreamsBuilder builder;
  auto s = builder.Stream("in", Consumed<StringSerde, StringSerde>().WithName("source"));
  s.Map([](const std::string& k, const std::string& v) { return KeyValue{k, v}; })
      .SelectKey([](const std::string& k, const std::string&) { return k; })
      .FlatMap([](const std::string& k, const std::string& v) {
        return std::vector<KeyValue<std::string, std::string>>{{k, v}};
      })
      .FlatMapValues([](const std::string& v) { return std::vector<std::string>{v}; })
      .FilterNot([](const std::string&, const std::string&) { return false; }, Named::As("nope"))
      .Peek([](const std::string&, const std::string&) {})
      .To("out", Produced<StringSerde, StringSerde>().WithName("sink"));
  s.Foreach([](const std::string&, const std::string&) {});
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  EXPECT_EQ(topology->Describe(),
            "Topologies:\n"
            "   Sub-topology: 0\n"
            "    Source: source (topics: [in])\n"
            "      --> KSTREAM-MAP-0000000000, KSTREAM-FOREACH-0000000005\n"
            "    Processor: KSTREAM-MAP-0000000000 (stores: [])\n"
            "      --> KSTREAM-KEY-SELECT-0000000001\n"
            "      <-- source\n"
            "    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])\n"
            "      --> KSTREAM-FLATMAP-0000000002\n"
            "      <-- KSTREAM-MAP-0000000000\n"
            "    Processor: KSTREAM-FLATMAP-0000000002 (stores: [])\n"
            "      --> KSTREAM-FLATMAPVALUES-0000000003\n"
            "      <-- KSTREAM-KEY-SELECT-0000000001\n"
            "    Processor: KSTREAM-FLATMAPVALUES-0000000003 (stores: [])\n"
            "      --> nope\n"
            "      <-- KSTREAM-FLATMAP-0000000002\n"
            "    Processor: nope (stores: [])\n"
            "      --> KSTREAM-PEEK-0000000004\n"
            "      <-- KSTREAM-FLATMAPVALUES-0000000003\n"
            "    Processor: KSTREAM-PEEK-0000000004 (stores: [])\n"
            "      --> sink\n"
            "      <-- nope\n"
            "    Sink: sink (topic: out)\n"
            "      <-- KSTREAM-PEEK-0000000004\n"
            "    Processor: KSTREAM-FOREACH-0000000005 (stores: [])\n"
            "      --> none\n"
            "      <-- source\n"
            "\n");
}

TEST(Describe, SplitAndMerge) {
  StreamsBuilder builder;
  auto branches = builder.Stream<std::string, int64_t>("in")
                      .Split(Named::As("s-"))
                      .Branch([](const std::string&, int64_t v) { return v > 0; })
                      .DefaultBranch(Branched<std::string, int64_t>::As("rest"));
  branches.at("s-1").Merge(branches.at("s-rest")).To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  EXPECT_EQ(topology->Describe(),
            "Topologies:\n"
            "   Sub-topology: 0\n"
            "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
            "      --> s-\n"
            "    Processor: s- (stores: [])\n"
            "      --> s-1, s-rest\n"
            "      <-- KSTREAM-SOURCE-0000000000\n"
            "    Processor: s-1 (stores: [])\n"
            "      --> KSTREAM-MERGE-0000000001\n"
            "      <-- s-\n"
            "    Processor: s-rest (stores: [])\n"
            "      --> KSTREAM-MERGE-0000000001\n"
            "      <-- s-\n"
            "    Processor: KSTREAM-MERGE-0000000001 (stores: [])\n"
            "      --> KSTREAM-SINK-0000000002\n"
            "      <-- s-1, s-rest\n"
            "    Sink: KSTREAM-SINK-0000000002 (topic: out)\n"
            "      <-- KSTREAM-MERGE-0000000001\n"
            "\n");
}

TEST(Describe, TwoInputTopicsMergedAndATopicExtractor) {
  StreamsBuilder builder;
  auto a = builder.Stream<std::string, int64_t>("a");
  auto b = builder.Stream<std::string, int64_t>("b");
  a.Merge(b).To([](const std::string&, const int64_t&, const RecordContext&) { return "x"; },
                Produced<StringSerde, Int64Serde>());
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  EXPECT_EQ(topology->Describe(),
            "Topologies:\n"
            "   Sub-topology: 0\n"
            "    Source: KSTREAM-SOURCE-0000000000 (topics: [a])\n"
            "      --> KSTREAM-MERGE-0000000002\n"
            "    Source: KSTREAM-SOURCE-0000000001 (topics: [b])\n"
            "      --> KSTREAM-MERGE-0000000002\n"
            "    Processor: KSTREAM-MERGE-0000000002 (stores: [])\n"
            "      --> KSTREAM-SINK-0000000003\n"
            "      <-- KSTREAM-SOURCE-0000000000, KSTREAM-SOURCE-0000000001\n"
            "    Sink: KSTREAM-SINK-0000000003 (extractor class: TopicNameExtractor)\n"
            "      <-- KSTREAM-MERGE-0000000002\n"
            "\n");
  ASSERT_EQ(topology->compiled().subtopologies.size(), 1u);
  EXPECT_EQ(topology->compiled().subtopologies[0].source_topics,
            (std::vector<std::string>{"a", "b"}));
}

TEST(Describe, RepartitionSplitsIntoTwoSubTopologies) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .SelectKey([](const std::string&, int64_t v) { return std::to_string(v); })
      .Repartition()
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  // Kafka Streams indents the first sub-topology line by three spaces and the following
  // ones by two.
  EXPECT_EQ(topology->Describe(),
            "Topologies:\n"
            "   Sub-topology: 0\n"
            "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
            "      --> KSTREAM-KEY-SELECT-0000000001\n"
            "    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])\n"
            "      --> KSTREAM-REPARTITION-0000000002-repartition-sink\n"
            "      <-- KSTREAM-SOURCE-0000000000\n"
            "    Sink: KSTREAM-REPARTITION-0000000002-repartition-sink "
            "(topic: KSTREAM-REPARTITION-0000000002-repartition)\n"
            "      <-- KSTREAM-KEY-SELECT-0000000001\n"
            "\n"
            "  Sub-topology: 1\n"
            "    Source: KSTREAM-REPARTITION-0000000002-repartition-source "
            "(topics: [KSTREAM-REPARTITION-0000000002-repartition])\n"
            "      --> KSTREAM-SINK-0000000003\n"
            "    Sink: KSTREAM-SINK-0000000003 (topic: out)\n"
            "      <-- KSTREAM-REPARTITION-0000000002-repartition-source\n"
            "\n");
  const auto& compiled = topology->compiled();
  ASSERT_EQ(compiled.subtopologies.size(), 2u);
  ASSERT_EQ(compiled.internal_topics.size(), 1u);
  EXPECT_EQ(compiled.internal_topics[0].name, "KSTREAM-REPARTITION-0000000002-repartition");
  EXPECT_EQ(compiled.internal_topics[0].source_subtopology, 0);
  EXPECT_EQ(compiled.internal_topics[0].partitions, std::nullopt);
  EXPECT_EQ(compiled.SubtopologyOf("in"), 0);
  EXPECT_EQ(compiled.SubtopologyOf("KSTREAM-REPARTITION-0000000002-repartition"), 1);
  EXPECT_EQ(compiled.SubtopologyOf("out"), -1);
  EXPECT_EQ(compiled.subtopologies[1].source_internal, (std::vector<bool>{true}));
}

TEST(Describe, NamedRepartitionUsesTheUserName) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Repartition(Repartitioned<StringSerde, Int64Serde>::As("by-user").WithNumberOfPartitions(4))
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  EXPECT_EQ(topology->Describe(),
            "Topologies:\n"
            "   Sub-topology: 0\n"
            "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
            "      --> by-user-repartition-sink\n"
            "    Sink: by-user-repartition-sink (topic: by-user-repartition)\n"
            "      <-- KSTREAM-SOURCE-0000000000\n"
            "\n"
            "  Sub-topology: 1\n"
            "    Source: by-user-repartition-source (topics: [by-user-repartition])\n"
            "      --> KSTREAM-SINK-0000000001\n"
            "    Sink: KSTREAM-SINK-0000000001 (topic: out)\n"
            "      <-- by-user-repartition-source\n"
            "\n");
  ASSERT_EQ(topology->compiled().internal_topics.size(), 1u);
  EXPECT_EQ(topology->compiled().internal_topics[0].name, "by-user-repartition");
  EXPECT_EQ(topology->compiled().internal_topics[0].partitions, 4);
}

TEST(ToDot, HasClustersNodesEdgesAndTopics) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Filter([](const std::string&, int64_t) { return true; })
      .Repartition(Repartitioned<StringSerde, Int64Serde>::As("r"))
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  const std::string dot = topology->ToDot();
  EXPECT_TRUE(dot.starts_with("digraph topology {\n")) << dot;
  EXPECT_TRUE(dot.ends_with("}\n")) << dot;
  EXPECT_TRUE(Contains(dot, "subgraph cluster_0 {")) << dot;
  EXPECT_TRUE(Contains(dot, "subgraph cluster_1 {")) << dot;
  EXPECT_TRUE(Contains(dot, "label=\"Sub-topology 1\"")) << dot;
  EXPECT_TRUE(Contains(dot, "\"KSTREAM-FILTER-0000000001\" [shape=ellipse];")) << dot;
  EXPECT_TRUE(Contains(dot, "\"KSTREAM-SOURCE-0000000000\" [shape=hexagon];")) << dot;
  EXPECT_TRUE(Contains(dot, "\"KSTREAM-SOURCE-0000000000\" -> \"KSTREAM-FILTER-0000000001\";"))
      << dot;
  EXPECT_TRUE(Contains(dot, "\"KSTREAM-FILTER-0000000001\" -> \"r-repartition-sink\";")) << dot;
  EXPECT_TRUE(Contains(dot, "\"topic:in\" -> \"KSTREAM-SOURCE-0000000000\";")) << dot;
  EXPECT_TRUE(Contains(dot, "\"r-repartition-sink\" -> \"topic:r-repartition\";")) << dot;
  EXPECT_TRUE(Contains(dot, "\"topic:r-repartition\" -> \"r-repartition-source\";")) << dot;
  EXPECT_TRUE(Contains(dot, "\"KSTREAM-SINK-0000000002\" -> \"topic:out\";")) << dot;
  EXPECT_TRUE(Contains(dot, "\"topic:out\" [shape=box, style=filled, fillcolor=lightgrey, "
                            "label=\"out\"];"))
      << dot;
}

TEST(ToDot, QuotesNamesWithQuotes) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Peek([](const std::string&, int64_t) {}, Named::As("say \"hi\""))
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok());
  EXPECT_TRUE(Contains(topology->ToDot(), "\"say \\\"hi\\\"\" [shape=ellipse];"))
      << topology->ToDot();
}

TEST(Build, DuplicateNamesAreAnError) {
  StreamsBuilder builder;
  auto s = builder.Stream<std::string, int64_t>("in");
  s.Filter([](const std::string&, int64_t) { return true; }, Named::As("dup")).To("a");
  s.Peek([](const std::string&, int64_t) {}, Named::As("dup")).To("b");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_EQ(topology.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(topology.status().message(), "two nodes are named 'dup'"))
      << topology.status();
}

TEST(Build, DuplicateNameAcrossConsumedAndProducedIsAnError) {
  StreamsBuilder builder;
  builder.Stream("in", Consumed<StringSerde, StringSerde>().WithName("io"))
      .To("out", Produced<StringSerde, StringSerde>().WithName("io"));
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_TRUE(Contains(topology.status().message(), "'io'")) << topology.status();
}

TEST(Build, ATopicReadByTwoSourcesIsAnError) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("orders").To("a");
  builder.Stream<std::string, int64_t>("orders").To("b");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_TRUE(Contains(topology.status().message(),
                       "topic 'orders' is read by two sources, 'KSTREAM-SOURCE-0000000000' and "
                       "'KSTREAM-SOURCE-0000000002'"))
      << topology.status();
}

TEST(Build, ATopicListedTwiceInOneSourceIsAnError) {
  StreamsBuilder builder;
  builder.Stream(std::vector<std::string>{"t", "t"}, Consumed<StringSerde, StringSerde>())
      .To("out");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_TRUE(Contains(topology.status().message(), "topic 't'")) << topology.status();
}

TEST(Build, EmptyTopicNameIsAnError) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("").To("out");
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_TRUE(Contains(topology.status().message(), "empty topic name")) << topology.status();
  EXPECT_TRUE(Contains(topology.status().message(), "KSTREAM-SOURCE-0000000000"));
}

TEST(Build, EmptyBuilderIsAnError) {
  StreamsBuilder builder;
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_EQ(topology.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(topology.status().message(), "the topology is empty"))
      << topology.status();
  EXPECT_TRUE(Contains(topology.status().message(), "StreamsBuilder::Stream()"));
}

TEST(Build, SeveralErrorsAreReportedTogether) {
  StreamsBuilder builder;
  auto s = builder.Stream<std::string, int64_t>("x");
  builder.Stream<std::string, int64_t>("x");
  s.Peek([](const std::string&, int64_t) {}, Named::As("p"));
  s.Peek([](const std::string&, int64_t) {}, Named::As("p"));
  auto topology = builder.Build();
  ASSERT_FALSE(topology.ok());
  EXPECT_TRUE(Contains(topology.status().message(), "topic 'x'")) << topology.status();
  EXPECT_TRUE(Contains(topology.status().message(), "'p'")) << topology.status();
}

TEST(Build, DisconnectedStreamsAreSeparateSubTopologies) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("a").To("x");
  builder.Stream<std::string, int64_t>("b").To("y");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok());
  const auto& compiled = topology->compiled();
  ASSERT_EQ(compiled.subtopologies.size(), 2u);
  EXPECT_EQ(compiled.subtopologies[0].nodes, (std::vector<int>{0, 1}));
  EXPECT_EQ(compiled.subtopologies[1].nodes, (std::vector<int>{2, 3}));
  EXPECT_EQ(compiled.SubtopologyOf("b"), 1);
  EXPECT_TRUE(Contains(topology->Describe(), "\n\n  Sub-topology: 1\n"));
}

}  // namespace
}  // namespace sluice
