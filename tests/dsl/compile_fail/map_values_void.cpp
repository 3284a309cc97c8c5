// MapValues whose mapper returns nothing.
#include "sluice/sluice.h"

void Build(sluice::StreamsBuilder& builder) {
  auto s = builder.Stream<std::string, int64_t>("in");
#ifdef SLUICE_COMPILE_FAIL_CONTROL
  s.MapValues([](int64_t v) { return v; }).To("out");
#else
  s.MapValues([](int64_t) {});
#endif
}
