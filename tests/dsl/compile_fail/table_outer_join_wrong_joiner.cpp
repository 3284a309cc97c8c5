// A KTable OuterJoin whose joiner takes plain values: either side may be absent.
#include "sluice/sluice.h"

void Build(sluice::StreamsBuilder& builder) {
  auto a = builder.Table<std::string, std::string>("a");
  auto b = builder.Table<std::string, std::string>("b");
#ifdef SLUICE_COMPILE_FAIL_CONTROL
  a.OuterJoin(b, [](const std::optional<std::string>& x, const std::optional<std::string>& y) {
    return x.value_or("") + y.value_or("");
  });
#else
  a.OuterJoin(b, [](const std::string& x, const std::string& y) { return x + y; });
#endif
}
