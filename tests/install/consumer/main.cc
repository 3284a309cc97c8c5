// Uses the installed Sluice: builds a topology, runs it in the test driver, checks output.
#include <sluice/sluice.h>
#include <sluice/testing.h>

#include <cstdio>

int main() {
  sluice::StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in")
      .Filter([](const std::string&, int64_t v) { return v % 2 == 0; })
      .MapValues([](int64_t v) { return v * 10; })
      .To("out");
  auto topology = builder.Build();
  if (!topology.ok()) return 1;
  auto driver = sluice::TopologyTestDriver::Create(*topology).value();
  auto in = driver->CreateInputTopic("in", sluice::StringSerde(), sluice::Int64Serde());
  auto out = driver->CreateOutputTopic("out", sluice::StringSerde(), sluice::Int64Serde());
  for (int64_t i = 1; i <= 4; ++i) {
    if (!in.PipeInput("k", i).ok()) return 1;
  }
  auto values = out.ReadValuesToList();
  bool ok = values == std::vector<int64_t>{20, 40};
  std::printf("installed Sluice works: %s\n", ok ? "yes" : "no");
  return ok ? 0 : 1;
}
