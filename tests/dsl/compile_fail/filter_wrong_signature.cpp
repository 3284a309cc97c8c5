// Filter with a predicate that takes only the value: rejected with a message that says
// what the predicate must look like.
#include "sluice/sluice.h"

void Build(sluice::StreamsBuilder& builder) {
  auto s = builder.Stream<std::string, int64_t>("in");
#ifdef SLUICE_COMPILE_FAIL_CONTROL
  s.Filter([](const std::string&, int64_t v) { return v > 0; }).To("out");
#else
  s.Filter([](int64_t v) { return v > 0; }).To("out");
#endif
}
