// Helpers shared by the windowed DSL tests: one output record of a windowed count, read
// from an output topic keyed by Windowed<std::string>.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"

namespace sluice::testing {


// Key, window, value (nullopt: deleted) and timestamp of one output record.
struct WindowOut {
  std::string key;
  int64_t start = 0, end = 0;
  std::optional<int64_t> value;
  int64_t timestamp = 0;
  friend bool operator==(const WindowOut&, const WindowOut&) = default;
  friend std::ostream& operator<<(std::ostream& os, const WindowOut& o) {
    os << "{" << o.key << "@[" << o.start << "," << o.end << "] ";
    if (o.value) {
      os << *o.value;
    } else {
      os << "null";
    }
    return os << " t" << o.timestamp << "}";
  }
};

// Every record not read yet of a windowed count's output topic.
template <class WS>
std::vector<WindowOut> ReadWindowOuts(TestOutputTopic<WS, Nullable<Int64Serde>>& topic) {
  std::vector<WindowOut> out;
  auto records = topic.ReadRecordsToList();
  EXPECT_TRUE(records.ok()) << records.status();
  if (!records.ok()) return out;
  for (auto& r : *records) {
    out.push_back({r.key.key, r.key.window.start_ms, r.key.window.end_ms, r.value, r.timestamp});
  }
  return out;
}

}  // namespace sluice::testing
