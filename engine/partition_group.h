// PartitionGroup: the records of a task with several input partitions (a join, a merge,
// a co-grouped aggregation), held back so that the task processes them smallest
// timestamp first across its partitions, as Kafka Streams' PartitionGroup does.
//
// `max.task.idle.ms` says how long the task waits when one of its partitions has no
// records buffered: -1 never waits (records are processed as they come); 0 (the
// default) waits until that partition is caught up (the consumer has fetched it to its
// end); N > 0 waits that too, but at most N ms, then processes the others anyway. A
// partition that has handed over no record since the task started has no known
// position, so whether it is caught up is unknown: the task waits for it at most
// max(N, kUnknownLagWaitMs).
// Waiting keeps stream time from running ahead on one partition and making another
// partition's records late.
//
// A partition with many records held (more than `max_buffered`) is paused, so that a
// partition far ahead in time does not fill memory while the task waits for another;
// it is resumed when the task has worked its buffer down.
//
// Owned and used by one StreamThread; the messages are librdkafka's, destroyed when
// taken out (Take) or when the group is cleared.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

namespace sluice::internal {

class PartitionGroup {
 public:
  enum class Lag { kCaughtUp, kBehind, kUnknown };
  static constexpr int64_t kUnknownLagWaitMs = 1000;

  // `topics`: the task's source topics (Kafka names); all share `partition`.
  PartitionGroup(std::vector<std::string> topics, int32_t partition, int64_t max_idle_ms,
                 size_t max_buffered);
  ~PartitionGroup();
  PartitionGroup(const PartitionGroup&) = delete;
  PartitionGroup& operator=(const PartitionGroup&) = delete;

  // Takes a message of one of the group's topics; false (not taken) for another topic.
  bool Add(rd_kafka_message_t* message);

  // Which partitions to pause and resume now (the caller does it on the consumer).
  struct FlowChange {
    std::vector<size_t> pause, resume;
  };
  FlowChange Flow();

  // The next run to process: records from the head of the partition with the smallest
  // head timestamp, up to the smallest head timestamp of the others. nullopt: nothing
  // to process now (empty, or waiting for a partition). `lag(i)`: whether the consumer
  // has fetched partition i to its end.
  struct Run {
    size_t index;   // into topics()
    size_t count;
  };
  std::optional<Run> Next(int64_t now_ms, const std::function<Lag(size_t)>& lag);
  // Moves the run's messages into `out` (the caller destroys them).
  void Take(const Run& run, std::vector<rd_kafka_message_t*>* out);

  const std::vector<std::string>& topics() const { return topics_; }
  int32_t partition() const { return partition_; }
  bool empty() const;
  // Destroys every held message (the task is closing or failed).
  void Clear();

 private:
  struct Held {
    std::deque<rd_kafka_message_t*> messages;
    int64_t empty_since_ms = -1;  // when the task started waiting for it
    bool paused = false;
  };
  static int64_t Timestamp(const rd_kafka_message_t* m);

  std::vector<std::string> topics_;
  int32_t partition_;
  int64_t max_idle_ms_;
  size_t max_buffered_;
  std::vector<Held> held_;
};

}  // namespace sluice::internal
