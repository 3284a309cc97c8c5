// Plain-C++ reference implementations of the Nexmark queries: each computes its query's
// results from the events in generation order with ordinary containers, sharing no code
// with the engine (only the row encoding and the scalar functions of udf.h), and returns
// them as the output records the query's topic should settle to (queries.h, Settle).
#pragma once

#include <vector>

#include "bench/nexmark/queries.h"

namespace sluice::nexmark {

std::vector<OutRow> ReferenceQ0(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ1(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ2(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ3(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ4(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ5(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ7(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ8(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ11(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ12(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ14(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ17(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ18(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ19(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ20(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ21(const ReferenceInput& in);
std::vector<OutRow> ReferenceQ22(const ReferenceInput& in);

}  // namespace sluice::nexmark
