// To with a Produced whose value serde does not serialize the stream's value type.
#include "sluice/sluice.h"

void Build(sluice::StreamsBuilder& builder) {
  auto s = builder.Stream<std::string, int64_t>("in");
#ifdef SLUICE_COMPILE_FAIL_CONTROL
  s.To("out", sluice::Produced<sluice::StringSerde, sluice::Int64Serde>());
#else
  s.To("out", sluice::Produced<sluice::StringSerde, sluice::StringSerde>());
#endif
}
