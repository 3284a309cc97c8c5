// Helpers shared by the DSL tests: readable KeyValue failures, and a driver for a builder.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"

namespace sluice {

// Readable failure messages for KeyValue comparisons (found by ADL).
template <class K, class V>
void PrintTo(const KeyValue<K, V>& kv, std::ostream* os) {
  *os << "{" << ::testing::PrintToString(kv.key) << ", " << ::testing::PrintToString(kv.value)
      << "}";
}

namespace testing {

// Config that turns the record cache off: every update is emitted as it happens.
inline const std::map<std::string, std::string> kNoCache = {{"cache.max.bytes.buffering", "0"}};

// Builds the topology and a driver for it; a failure fails the test and gives null.
inline std::unique_ptr<TopologyTestDriver> MakeDriver(
    StreamsBuilder& builder, TopologyTestDriver::Options options = {},
    std::map<std::string, std::string> config = {}) {
  absl::StatusOr<Topology> topology = builder.Build();
  EXPECT_TRUE(topology.ok()) << topology.status();
  if (!topology.ok()) return nullptr;
  auto driver = TopologyTestDriver::Create(*topology, std::move(options), std::move(config));
  EXPECT_TRUE(driver.ok()) << driver.status();
  return driver.ok() ? std::move(*driver) : nullptr;
}

// The '|'-separated fields of a test value ("a|b|c").
inline std::vector<std::string> Fields(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t bar = s.find('|', start);
    out.push_back(s.substr(start, bar - start));
    if (bar == std::string::npos) return out;
    start = bar + 1;
  }
}

}  // namespace testing
}  // namespace sluice
