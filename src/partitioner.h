// Kafka's default partitioner for keyed records, byte-compatible with the Java client:
// toPositive(murmur2(key)) % partitions. librdkafka's `murmur2_random` does the same.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::internal {

int32_t Murmur2(std::string_view data);
int32_t DefaultPartition(std::string_view key, int32_t num_partitions);

}  // namespace sluice::internal
