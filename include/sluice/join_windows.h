// JoinWindows and StreamJoined: how far apart in time two records of a KStream-KStream
// join may be, and how the join's window stores are named and serialized.
//
//   orders.Join(payments, joiner,
//               JoinWindows::OfTimeDifferenceAndGrace(std::chrono::minutes(5),
//                                                     std::chrono::seconds(30)));
//
// A record of this stream at time t joins records of the other stream with timestamps in
// [t - before, t + after]; before = after = the time difference unless set apart. A
// record later than `grace` past the end of every window it could join is dropped (and
// counted), and left/outer results for records that found no partner are emitted when
// the window closes: stream time passes t + after + grace (docs/joins.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "sluice/serde.h"

namespace sluice {

class JoinWindows {
 public:
  static JoinWindows OfTimeDifferenceWithNoGrace(std::chrono::milliseconds difference) {
    return JoinWindows(difference.count(), difference.count(), 0);
  }
  static JoinWindows OfTimeDifferenceAndGrace(std::chrono::milliseconds difference,
                                              std::chrono::milliseconds grace) {
    return JoinWindows(difference.count(), difference.count(), grace.count());
  }
  // How far before this stream's record the other's may be.
  JoinWindows Before(std::chrono::milliseconds before) const {
    return JoinWindows(before.count(), after_ms_, grace_ms_);
  }
  // How far after this stream's record the other's may be.
  JoinWindows After(std::chrono::milliseconds after) const {
    return JoinWindows(before_ms_, after.count(), grace_ms_);
  }

  int64_t before_ms() const { return before_ms_; }
  int64_t after_ms() const { return after_ms_; }
  int64_t grace_ms() const { return grace_ms_; }
  // How long the window stores keep a record: the window's size plus the grace period.
  int64_t retention_ms() const { return before_ms_ + after_ms_ + grace_ms_; }
  // The same windows seen from the other stream.
  JoinWindows Reverse() const { return JoinWindows(after_ms_, before_ms_, grace_ms_); }

 private:
  JoinWindows(int64_t before, int64_t after, int64_t grace)
      : before_ms_(before), after_ms_(after), grace_ms_(grace) {}

  int64_t before_ms_;
  int64_t after_ms_;
  int64_t grace_ms_;
};

// The serdes of a stream-stream join's key and of both streams' values (for its window
// stores and, after a key change, its repartition topics), and the name its stores and
// repartition topics are derived from: `<name>-this-join-store`,
// `<name>-other-join-store`, `<name>-outer-shared-join-store`, `<name>-left-repartition`,
// `<name>-right-repartition`.
template <Serde KS, Serde VS, Serde VOS>
class StreamJoined {
 public:
  using KeySerde = KS;
  using ValueSerde = VS;
  using OtherValueSerde = VOS;

  StreamJoined() = default;
  StreamJoined(KS key_serde, VS value_serde, VOS other_value_serde)
      : key_serde_(std::move(key_serde)),
        value_serde_(std::move(value_serde)),
        other_value_serde_(std::move(other_value_serde)) {}
  static StreamJoined With(KS key_serde = {}, VS value_serde = {}, VOS other_value_serde = {}) {
    return StreamJoined(std::move(key_serde), std::move(value_serde), std::move(other_value_serde));
  }
  StreamJoined WithName(std::string name) const {
    StreamJoined copy = *this;
    copy.name_ = std::move(name);
    return copy;
  }
  StreamJoined WithStoreName(std::string name) const {
    StreamJoined copy = *this;
    copy.store_name_ = std::move(name);
    return copy;
  }

  const KS& key_serde() const { return key_serde_; }
  const VS& value_serde() const { return value_serde_; }
  const VOS& other_value_serde() const { return other_value_serde_; }
  const std::optional<std::string>& name() const { return name_; }
  const std::optional<std::string>& store_name() const { return store_name_; }

 private:
  KS key_serde_{};
  VS value_serde_{};
  VOS other_value_serde_{};
  std::optional<std::string> name_;
  std::optional<std::string> store_name_;
};

}  // namespace sluice
