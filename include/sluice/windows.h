// Windows for windowed aggregations (KGroupedStream::WindowedBy) and the windowed keys
// they produce (docs/time.md).
//
//   // Tumbling: one count per key and minute; records up to 10 s late are still counted.
//   grouped.WindowedBy(TimeWindows::OfSizeAndGrace(minutes(1), seconds(10))).Count();
//   // Hopping: windows of 5 minutes, one starting every minute.
//   grouped.WindowedBy(TimeWindows::OfSizeWithNoGrace(minutes(5)).AdvanceBy(minutes(1)));
//   // Sliding: every distinct set of records no more than 30 s apart.
//   grouped.WindowedBy(SlidingWindows::OfTimeDifferenceWithNoGrace(seconds(30)));
//   // Sessions: records of a key at most 5 minutes apart form one session.
//   grouped.WindowedBy(SessionWindows::OfInactivityGapWithNoGrace(minutes(5)));
//
// Grace: a window accepts records until stream time (the largest timestamp the
// aggregation has seen) passes its end by the grace period; it is then closed, and a
// record that would fall into it is dropped and counted as late.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "sluice/serde.h"

namespace sluice {

// A window's bounds in ms. Time windows are [start, end); sliding and session windows
// include their end: [start, end].
struct Window {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  friend bool operator==(const Window&, const Window&) = default;
};

// A key of a windowed aggregation's result: the record key and its window.
template <class K>
struct Windowed {
  K key{};
  Window window;
  friend bool operator==(const Windowed&, const Windowed&) = default;
};

// Fixed-size windows aligned to the epoch: tumbling (advance == size) or hopping
// (advance < size, so a record falls into size / advance windows).
class TimeWindows {
 public:
  static TimeWindows OfSizeWithNoGrace(std::chrono::milliseconds size) {
    return TimeWindows(size.count(), size.count(), 0);
  }
  static TimeWindows OfSizeAndGrace(std::chrono::milliseconds size,
                                    std::chrono::milliseconds grace) {
    return TimeWindows(size.count(), size.count(), grace.count());
  }
  // Hopping windows: one starts every `advance` (0 < advance <= size).
  TimeWindows AdvanceBy(std::chrono::milliseconds advance) const {
    return TimeWindows(size_ms_, advance.count(), grace_ms_);
  }

  int64_t size_ms() const { return size_ms_; }
  int64_t advance_ms() const { return advance_ms_; }
  int64_t grace_ms() const { return grace_ms_; }
  // What is wrong with these windows, if anything (checked when the topology is built).
  absl::Status Validate() const {
    if (size_ms_ <= 0) return absl::InvalidArgumentError("TimeWindows: the size must be positive");
    if (advance_ms_ <= 0 || advance_ms_ > size_ms_) {
      return absl::InvalidArgumentError(
          "TimeWindows: the advance must be positive and no larger than the size");
    }
    if (grace_ms_ < 0) return absl::InvalidArgumentError("TimeWindows: the grace period must not be negative");
    return absl::OkStatus();
  }

 private:
  TimeWindows(int64_t size, int64_t advance, int64_t grace)
      : size_ms_(size), advance_ms_(advance), grace_ms_(grace) {}
  int64_t size_ms_;
  int64_t advance_ms_;
  int64_t grace_ms_;
};

// Windows defined by the records: for every record at t, the window [t - difference, t],
// and, where a later record falls within `difference` of it, the window
// [t + 1, t + 1 + difference]. Each distinct set of records no more than `difference`
// apart is aggregated once (Kafka Streams' sliding windows, KIP-450).
class SlidingWindows {
 public:
  static SlidingWindows OfTimeDifferenceWithNoGrace(std::chrono::milliseconds difference) {
    return SlidingWindows(difference.count(), 0);
  }
  static SlidingWindows OfTimeDifferenceAndGrace(std::chrono::milliseconds difference,
                                                 std::chrono::milliseconds grace) {
    return SlidingWindows(difference.count(), grace.count());
  }
  int64_t time_difference_ms() const { return difference_ms_; }
  int64_t grace_ms() const { return grace_ms_; }
  absl::Status Validate() const {
    if (difference_ms_ <= 0) {
      return absl::InvalidArgumentError("SlidingWindows: the time difference must be positive");
    }
    if (grace_ms_ < 0) return absl::InvalidArgumentError("SlidingWindows: the grace period must not be negative");
    return absl::OkStatus();
  }

 private:
  SlidingWindows(int64_t difference, int64_t grace) : difference_ms_(difference), grace_ms_(grace) {}
  int64_t difference_ms_;
  int64_t grace_ms_;
};

// Sessions: a key's records at most `gap` apart belong to one session [first, last];
// a record that bridges two sessions merges them.
class SessionWindows {
 public:
  static SessionWindows OfInactivityGapWithNoGrace(std::chrono::milliseconds gap) {
    return SessionWindows(gap.count(), 0);
  }
  static SessionWindows OfInactivityGapAndGrace(std::chrono::milliseconds gap,
                                                std::chrono::milliseconds grace) {
    return SessionWindows(gap.count(), grace.count());
  }
  int64_t inactivity_gap_ms() const { return gap_ms_; }
  int64_t grace_ms() const { return grace_ms_; }
  absl::Status Validate() const {
    if (gap_ms_ <= 0) return absl::InvalidArgumentError("SessionWindows: the inactivity gap must be positive");
    if (grace_ms_ < 0) return absl::InvalidArgumentError("SessionWindows: the grace period must not be negative");
    return absl::OkStatus();
  }

 private:
  SessionWindows(int64_t gap, int64_t grace) : gap_ms_(gap), grace_ms_(grace) {}
  int64_t gap_ms_;
  int64_t grace_ms_;
};

// When a windowed aggregation emits: on every update (through the record cache, if the
// store has one), or once per window, when it closes (KIP-825).
class EmitStrategy {
 public:
  static EmitStrategy OnWindowUpdate() { return EmitStrategy(false); }
  static EmitStrategy OnWindowClose() { return EmitStrategy(true); }
  bool on_window_close() const { return on_close_; }

 private:
  explicit EmitStrategy(bool on_close) : on_close_(on_close) {}
  bool on_close_;
};

namespace internal {
inline void AppendBigEndian64(int64_t v, std::string& out) {
  char bytes[8];
  StoreBigEndian(static_cast<uint64_t>(v), bytes);
  out.append(bytes, sizeof bytes);
}
inline int64_t ReadBigEndian64(std::string_view in) {
  return static_cast<int64_t>(LoadBigEndian<uint64_t>(in.data()));
}
}  // namespace internal

// Kafka Streams' time-windowed key format: the key's bytes, then the window start as an
// 8-byte big-endian long (TimeWindowedSerializer), so Java consumers read our output
// with WindowedSerdes.timeWindowedSerdeFrom(..., windowSize). The end is not written;
// reading gives start + `window_size_ms` (Kafka Streams: Long.MAX_VALUE if unknown).
template <Serde KS>
class TimeWindowedSerde {
 public:
  using Type = Windowed<typename KS::Type>;
  static constexpr std::string_view kName = "TimeWindowedSerde";

  TimeWindowedSerde() = default;
  explicit TimeWindowedSerde(int64_t window_size_ms, KS inner = {})
      : inner_(std::move(inner)), window_size_ms_(window_size_ms) {}

  void Serialize(const Type& windowed, std::string& buf) const {
    inner_.Serialize(windowed.key, buf);
    internal::AppendBigEndian64(windowed.window.start_ms, buf);
  }
  absl::Status Deserialize(std::string_view bytes, Type& out) const {
    if (bytes.size() < 8) {
      return absl::InvalidArgumentError("TimeWindowedSerde: fewer than 8 bytes, no window start");
    }
    if (absl::Status s = inner_.Deserialize(bytes.substr(0, bytes.size() - 8), out.key); !s.ok()) {
      return s;
    }
    out.window.start_ms = internal::ReadBigEndian64(bytes.substr(bytes.size() - 8));
    const int64_t max = std::numeric_limits<int64_t>::max();
    out.window.end_ms = window_size_ms_ < 0 || out.window.start_ms > max - window_size_ms_
                            ? max
                            : out.window.start_ms + window_size_ms_;
    return absl::OkStatus();
  }

 private:
  KS inner_{};
  int64_t window_size_ms_ = -1;  // unknown
};

// Kafka Streams' session-windowed key format: the key's bytes, the session end, then
// its start, each an 8-byte big-endian long (SessionKeySchema).
template <Serde KS>
class SessionWindowedSerde {
 public:
  using Type = Windowed<typename KS::Type>;
  static constexpr std::string_view kName = "SessionWindowedSerde";

  SessionWindowedSerde() = default;
  explicit SessionWindowedSerde(KS inner) : inner_(std::move(inner)) {}

  void Serialize(const Type& windowed, std::string& buf) const {
    inner_.Serialize(windowed.key, buf);
    internal::AppendBigEndian64(windowed.window.end_ms, buf);
    internal::AppendBigEndian64(windowed.window.start_ms, buf);
  }
  absl::Status Deserialize(std::string_view bytes, Type& out) const {
    if (bytes.size() < 16) {
      return absl::InvalidArgumentError("SessionWindowedSerde: fewer than 16 bytes, no session bounds");
    }
    const size_t n = bytes.size() - 16;
    if (absl::Status s = inner_.Deserialize(bytes.substr(0, n), out.key); !s.ok()) return s;
    out.window.end_ms = internal::ReadBigEndian64(bytes.substr(n));
    out.window.start_ms = internal::ReadBigEndian64(bytes.substr(n + 8));
    return absl::OkStatus();
  }

 private:
  KS inner_{};
};

}  // namespace sluice
