// Helpers shared by the join tests (tests/dsl/*join_test.cpp).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "sluice/sluice.h"
#include "tests/dsl/dsl_test_util.h"

namespace sluice::testing {

using SSKV = KeyValue<std::string, std::string>;
using OptS = std::optional<std::string>;
using SOKV = KeyValue<std::string, OptS>;

// Caching off, so that every update shows.

inline std::string Show(const OptS& s) { return s ? *s : "null"; }

}  // namespace sluice::testing
