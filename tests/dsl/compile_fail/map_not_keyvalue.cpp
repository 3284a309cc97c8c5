// Map whose mapper returns a plain value instead of a KeyValue or std::pair.
#include "sluice/sluice.h"

void Build(sluice::StreamsBuilder& builder) {
  auto s = builder.Stream<std::string, int64_t>("in");
#ifdef SLUICE_COMPILE_FAIL_CONTROL
  s.Map([](const std::string& k, int64_t v) { return sluice::KeyValue{k, v + 1}; }).To("out");
#else
  s.Map([](const std::string&, int64_t v) { return v + 1; }).To("out");
#endif
}
