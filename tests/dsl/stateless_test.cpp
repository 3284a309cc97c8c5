#include <gtest/gtest.h>

#include "sluice/sluice.h"
#include "sluice/testing.h"

namespace sluice {
namespace {

TEST(Stateless, FilterMapValuesTo) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Filter([](const std::string&, int64_t v) { return v > 10; })
      .MapValues([](int64_t v) { return std::to_string(v * 2); })
      .To("out");
  auto topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  auto driver = TopologyTestDriver::Create(*topology).value();
  auto in = driver->CreateInputTopic("in", StringSerde(), Int64Serde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("a", 5).ok());
  ASSERT_TRUE(in.PipeInput("b", 50).ok());
  auto kvs = out.ReadKeyValuesToList();
  ASSERT_EQ(kvs.size(), 1u);
  EXPECT_EQ(kvs[0].key, "b");
  EXPECT_EQ(kvs[0].value, "100");
  std::cout << topology->Describe();
}

}  // namespace
}  // namespace sluice
