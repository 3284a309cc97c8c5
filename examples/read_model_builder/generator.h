// A deterministic stream of order events for read-model-builder: orders that are placed
// (v1 and v2 events), paid (sometimes in two payments), packed, shipped or cancelled,
// with the disorder real topics have: events of an order reordered (a payment before its
// OrderPlaced), events delivered twice (same eventId), and a few malformed records of
// every kind the builder refuses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace read_model {

struct GeneratedRecord {
  std::string key;
  std::string value;
};

struct Generated {
  std::vector<GeneratedRecord> records;
  int64_t orders = 0;      // distinct orders with at least one valid event
  int64_t duplicates = 0;  // valid records whose eventId appeared before
  int64_t malformed = 0;   // records the builder must send to the dead-letter queue
};

// `count` records from `seed`; the same arguments give the same records.
Generated GenerateOrderEvents(int64_t count, uint64_t seed = 42);

}  // namespace read_model
