// Session windows as plain C++, the reference the session tests check against: each
// key's sorted times split where the gap between two exceeds `gap`.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace sluice::testing {

// (key, start, end) -> the number of records in that session.
using SessionCounts = std::map<std::tuple<std::string, int64_t, int64_t>, int64_t>;

inline SessionCounts SessionReference(std::map<std::string, std::vector<int64_t>> times_by_key,
                                      int64_t gap) {
  SessionCounts out;
  for (auto& [key, times] : times_by_key) {
    std::sort(times.begin(), times.end());
    size_t begin = 0;
    for (size_t i = 1; i <= times.size(); ++i) {
      if (i == times.size() || times[i] - times[i - 1] > gap) {
        out[{key, times[begin], times[i - 1]}] = static_cast<int64_t>(i - begin);
        begin = i;
      }
    }
  }
  return out;
}

}  // namespace sluice::testing
