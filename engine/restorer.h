// Restorer: brings the stores of a worker's new tasks up to date from their changelogs,
// between the worker's processing batches, so restoring one task does not stop the
// others. One per worker thread, created with the first task that has logged stores; it
// reads with librdkafka's simple (group-less) consumer API, from each store's checkpoint
// (or the beginning) to the end offset the changelog had when restoration began.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/task.h"
#include "sluice/app.h"
#include "src/kafka/handles.h"
#include "src/kafka/kafka_conf.h"

namespace sluice::internal {

class Restorer {
 public:
  struct Settings {
    KafkaProperties consumer_properties;  // bootstrap.servers, client.id, user's consumer.*
    std::chrono::milliseconds api_timeout{60000};
    std::shared_ptr<StateRestoreListener> listener;  // may be null
  };

  static absl::StatusOr<std::unique_ptr<Restorer>> Create(Settings settings);
  ~Restorer();

  // Starts restoring the logged stores of `task`. True if there was nothing to restore
  // (the task may run at once).
  absl::StatusOr<bool> Add(Task* task);
  // Stops restoring `task` (revoked or closed while restoring).
  void Remove(Task* task);
  bool active() const { return !partitions_.empty(); }

  // Records per Step. A store applies each partition's share of a step as one sorted
  // write batch, and larger batches sort into fewer, more local memtable inserts; at
  // ~0.5 M records/s a step still takes only ~20 ms from the thread's running tasks.
  static constexpr size_t kMaxRecordsPerStep = 10000;

  // Applies what arrives within `timeout` (up to kMaxRecordsPerStep records); returns
  // the tasks whose stores are now all restored and durable.
  absl::StatusOr<std::vector<Task*>> Step(std::chrono::milliseconds timeout);

 private:
  struct Partition {
    Task* task = nullptr;
    TaskState::Store* store = nullptr;
    rd_kafka_topic_t* topic = nullptr;
    int32_t partition = 0;
    int64_t start = 0;
    int64_t end = 0;       // restore up to here (exclusive)
    int64_t position = 0;  // next offset to apply
    uint64_t restored = 0;
    std::chrono::steady_clock::time_point began, last_log;
  };
  using Key = std::pair<const rd_kafka_topic_t*, int32_t>;

  explicit Restorer(Settings settings) : settings_(std::move(settings)) {}
  absl::StatusOr<rd_kafka_topic_t*> Topic(const std::string& name);
  absl::Status Start(Partition& p);
  absl::Status Apply(Partition& p, rd_kafka_message_t** messages, size_t count);
  void Finish(Partition& p);
  // Restarts `p` from the beginning after its offsets went out of range.
  absl::Status Rewind(Partition& p, std::string_view why);

  Settings settings_;
  RdKafkaPtr rk_;
  QueuePtr queue_;
  std::map<std::string, TopicPtr> topics_;
  std::map<Key, Partition> partitions_;
  std::map<Task*, std::map<std::string, int64_t>> finished_;  // store -> end, per task
  std::vector<rd_kafka_message_t*> messages_;
  std::vector<ChangelogRecord> records_;
};

}  // namespace sluice::internal
