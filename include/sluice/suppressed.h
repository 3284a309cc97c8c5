// Suppressed: holds back a table's updates (KTable::Suppress), as Kafka Streams does.
//
//   // One final count per window, when the window closes (stream time passes its end
//   // plus the aggregation's grace period):
//   counts.Suppress(Suppressed::UntilWindowCloses(BufferConfig::Unbounded()));
//   // At most one update per key per minute of stream time, the latest; at most 10,000
//   // keys waiting, after which the oldest is emitted early:
//   table.Suppress(Suppressed::UntilTimeLimit(minutes(1), BufferConfig::MaxRecords(10000)));
//
// The updates wait in a buffer kept in memory and backed by a changelog topic
// (`<application.id>-<name>-store-changelog`), so a restarted task resumes with the
// same buffer. docs/time.md shows when records come out.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace sluice {

// How much a suppression may hold, and what happens when it is full.
class BufferConfig {
 public:
  enum class WhenFull { kEmitEarly, kShutDown };

  static BufferConfig Unbounded() { return BufferConfig(); }
  static BufferConfig MaxRecords(int64_t records) { return BufferConfig().WithMaxRecords(records); }
  static BufferConfig MaxBytes(int64_t bytes) { return BufferConfig().WithMaxBytes(bytes); }

  BufferConfig WithMaxRecords(int64_t records) const {
    BufferConfig copy = *this;
    copy.max_records_ = records;
    return copy;
  }
  BufferConfig WithMaxBytes(int64_t bytes) const {
    BufferConfig copy = *this;
    copy.max_bytes_ = bytes;
    return copy;
  }
  // When full, emit the oldest update before its time (the default; not allowed for
  // final results, which must never be emitted early).
  BufferConfig EmitEarlyWhenFull() const {
    BufferConfig copy = *this;
    copy.when_full_ = WhenFull::kEmitEarly;
    return copy;
  }
  // When full, fail the task with an error naming the suppression.
  BufferConfig ShutDownWhenFull() const {
    BufferConfig copy = *this;
    copy.when_full_ = WhenFull::kShutDown;
    return copy;
  }

  int64_t max_records() const { return max_records_; }
  int64_t max_bytes() const { return max_bytes_; }
  WhenFull when_full() const { return when_full_; }
  bool unbounded() const {
    return max_records_ == std::numeric_limits<int64_t>::max() &&
           max_bytes_ == std::numeric_limits<int64_t>::max();
  }

 private:
  int64_t max_records_ = std::numeric_limits<int64_t>::max();
  int64_t max_bytes_ = std::numeric_limits<int64_t>::max();
  WhenFull when_full_ = WhenFull::kEmitEarly;
};

class Suppressed {
 public:
  // Final results of a windowed aggregation: each window's last update, once stream time
  // passes the window's end plus the aggregation's grace period. The buffer must be
  // unbounded or shut down when full.
  static Suppressed UntilWindowCloses(BufferConfig buffer) {
    return Suppressed(true, 0, buffer);
  }
  // Each key's latest update once `time_limit` of stream time has passed since the key's
  // first update waiting in the buffer (or earlier when a bounded buffer is full).
  static Suppressed UntilTimeLimit(std::chrono::milliseconds time_limit, BufferConfig buffer) {
    return Suppressed(false, time_limit.count(), buffer);
  }

  // Names the processor (`<name>`) and its buffer's store (`<name>-store`).
  Suppressed WithName(std::string name) const {
    Suppressed copy = *this;
    copy.name_ = std::move(name);
    return copy;
  }
  // No changelog: a restarted task starts with an empty buffer (updates held when it
  // stopped are lost).
  Suppressed WithLoggingDisabled() const {
    Suppressed copy = *this;
    copy.logging_ = false;
    return copy;
  }
  Suppressed WithLoggingEnabled(std::map<std::string, std::string> topic_configs = {}) const {
    Suppressed copy = *this;
    copy.logging_ = true;
    copy.changelog_configs_ = std::move(topic_configs);
    return copy;
  }

  bool until_window_closes() const { return until_window_closes_; }
  int64_t time_limit_ms() const { return time_limit_ms_; }
  const BufferConfig& buffer() const { return buffer_; }
  const std::optional<std::string>& name() const { return name_; }
  bool logging() const { return logging_; }
  const std::map<std::string, std::string>& changelog_configs() const { return changelog_configs_; }

 private:
  Suppressed(bool until_window_closes, int64_t time_limit_ms, BufferConfig buffer)
      : until_window_closes_(until_window_closes), time_limit_ms_(time_limit_ms), buffer_(buffer) {}

  bool until_window_closes_;
  int64_t time_limit_ms_;
  BufferConfig buffer_;
  std::optional<std::string> name_;
  bool logging_ = true;
  std::map<std::string, std::string> changelog_configs_;
};

}  // namespace sluice
