// Stream<K, V> with a value type that has no default serde.
#include "sluice/sluice.h"

struct Order {
  int64_t id = 0;
};

#ifdef SLUICE_COMPILE_FAIL_CONTROL
template <>
struct sluice::DefaultSerde<Order> {
  struct type {
    using Type = Order;
    void Serialize(const Order&, std::string& buf) const { buf.clear(); }
    absl::Status Deserialize(std::string_view, Order&) const { return absl::OkStatus(); }
  };
};
#endif

void Build(sluice::StreamsBuilder& builder) { builder.Stream<std::string, Order>("orders"); }
