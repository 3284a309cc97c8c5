// A stream-table LeftJoin whose joiner takes the table value as a plain value: a left
// join passes std::optional, since the table may have no value for the key.
#include "sluice/sluice.h"

void Build(sluice::StreamsBuilder& builder) {
  auto table = builder.Table<std::string, int64_t>("prices");
  auto s = builder.Stream<std::string, int64_t>("in");
#ifdef SLUICE_COMPILE_FAIL_CONTROL
  s.LeftJoin(table, [](int64_t v, const std::optional<int64_t>& p) { return v + p.value_or(0); })
      .To("out");
#else
  s.LeftJoin(table, [](int64_t v, int64_t p) { return v + p; });
#endif
}
