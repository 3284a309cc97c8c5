// Record timestamps: where a source takes them from, and what it does with an invalid
// (negative) one. docs/time.md ("Timestamps").
//
//   // The event time inside the value, not the time the record was produced:
//   builder.Stream("orders", Consumed<StringSerde, JsonSerde<Order>>()
//       .WithTimestampExtractor([](const Order& o) { return o.placed_at_ms; })
//       .WithInvalidTimestampPolicy(InvalidTimestampPolicy::kUsePartitionTime));
//
// Without an extractor, a source takes the Kafka record's timestamp, or the wall clock
// when `default.timestamp.extractor=WallclockTimestampExtractor`. The config's value
// also sets the default policy: FailOnInvalidTimestamp (the default),
// LogAndSkipOnInvalidTimestamp, UsePartitionTimeOnInvalidTimestamp.
#pragma once

#include <cstdint>

namespace sluice {

// What a source does with a record whose timestamp is negative.
enum class InvalidTimestampPolicy {
  kFail,              // the task fails with an error naming the record
  kSkip,              // the record is dropped, logged and counted as skipped
  kUsePartitionTime,  // the record takes its partition's time (the largest valid
                      // timestamp seen on it); with none yet, the task fails
};

// Where a source without an extractor takes timestamps from.
enum class TimestampSource {
  kRecord,     // the Kafka record's timestamp
  kWallClock,  // the wall clock when the record is processed
};

// The config's default.timestamp.extractor, as a source sees it.
struct TimestampDefaults {
  TimestampSource source = TimestampSource::kRecord;
  InvalidTimestampPolicy policy = InvalidTimestampPolicy::kFail;
};

}  // namespace sluice
