// StreamThread: a worker thread and the tasks pinned to it. The group member forwards
// the partition queues of the worker's tasks to the worker's own librdkafka queue, so
// records arrive on the thread that owns their task without a hop through shared
// structures. The loop reads as its phases: run control requests, poll a batch, process
// it task by task, serve delivery reports, maybe commit.
//
// Threads: the loop and the tasks live on the worker thread. Other threads talk to it
// only through Run(), which queues a function for the worker (a TBB concurrent queue)
// and waits for it; once the loop has ended, Run() executes on the caller.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <tbb/concurrent_queue.h>

#include "engine/kafka_collector.h"
#include "engine/partition_group.h"
#include "engine/restorer.h"
#include "engine/store_registry.h"
#include "engine/task.h"
#include "src/kafka/consumer.h"
#include "src/kafka/producer.h"

namespace sluice::internal {

// Counters shared by all threads of an App, updated once per batch.
struct EngineCounters {
  TaskMetrics tasks;
  std::atomic<uint64_t> records_out{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> commit_latency_us_total{0};
  std::atomic<uint64_t> commit_latency_us_max{0};
};

class StreamThread {
 public:
  struct Settings {
    const CompiledTopology* topology = nullptr;
    Consumer* consumer = nullptr;
    KafkaProperties producer_properties;
    Task::Options task_options;
    std::chrono::milliseconds poll_timeout{100};
    std::chrono::milliseconds commit_interval{30000};
    std::chrono::milliseconds api_timeout{60000};
    int max_poll_records = 1000;
    // Tasks with several input partitions (PartitionGroup).
    int64_t max_task_idle_ms = 0;
    size_t buffered_records_per_partition = 1000;
    EngineCounters* counters = nullptr;
    // This thread's share of cache.max.bytes.buffering (0: caching off).
    size_t cache_bytes = 0;
    // For the restore consumer: bootstrap.servers, client.id and the user's consumer.*.
    KafkaProperties restore_properties;
    std::shared_ptr<StateRestoreListener> restore_listener;
    StoreRegistry* registry = nullptr;  // for interactive queries; may be null
    // Called on the worker thread when processing fails; the loop ends after it.
    std::function<void(int index, absl::Status error)> on_failure;
  };

  static absl::StatusOr<std::unique_ptr<StreamThread>> Create(int index, Settings settings);
  ~StreamThread();  // Stop() then join; tasks are closed without committing

  void Start();
  int index() const { return index_; }
  // The queue partition queues are forwarded to. Owned by this thread object.
  rd_kafka_queue_t* queue() const { return queue_.get(); }

  // A task to create, with the queues its partitions' records are parked in: the
  // worker forwards them to its own queue once the task's stores are restored.
  struct NewTask {
    TaskId id;
    std::vector<rd_kafka_queue_t*> parked;
    // Source topic (Kafka name) -> the partition time committed with its offset.
    std::map<std::string, int64_t> partition_times;
    // Source topic (Kafka name) -> its committed offset: where the consumer starts, and
    // so the partition's position until it hands over a record (see LagOf).
    std::map<std::string, int64_t> committed_offsets;
  };
  // Creates the tasks on the worker and starts restoring their stores.
  absl::Status AddTasks(const std::vector<NewTask>& tasks);
  // Commits the tasks' positions (unless `commit` is false: their partitions were lost
  // or the thread failed) and closes them.
  absl::Status RemoveTasks(const std::vector<TaskId>& ids, bool commit);

  // Ends the loop and joins the thread. Tasks stay until RemoveTasks or destruction.
  void Stop();

 private:
  StreamThread(int index, Settings settings) : index_(index), settings_(std::move(settings)) {}

  // Runs `fn` on the worker thread between batches and returns its result.
  absl::Status Run(std::function<absl::Status()> fn);
  void Loop();
  void RunControl();
  // Takes up to max.poll.records records from the queue, waiting up to `timeout` for the first.
  ssize_t Poll(std::chrono::milliseconds timeout);
  // Processes a batch; messages of tasks with a PartitionGroup go there (and their
  // slots in `messages` become null), the rest are processed at once.
  absl::Status ProcessBatch(rd_kafka_message_t** messages, size_t count);
  // Processes a run of records of one partition with its task.
  absl::Status ProcessRun(Task* task, const char* topic, int32_t partition,
                          rd_kafka_message_t* const* messages, size_t count);
  // Processes what the tasks' partition groups let through now.
  absl::Status DrainGroups();
  PartitionGroup::Lag LagOf(const std::string& topic, int32_t partition);
  void SetPaused(const PartitionGroup& group, const std::vector<size_t>& which, bool pause);
  absl::Status Commit(const std::vector<Task*>& tasks);
  // Restores for a while, then un-parks the partitions of tasks that became ready.
  absl::Status Restore(std::chrono::milliseconds timeout);
  void Unpark(TaskId id);
  absl::Status PunctuateWallClock();
  static int64_t WallClockMs();
  std::vector<Task*> RunningTasks() const;

  const int index_;
  Settings settings_;
  QueuePtr queue_;
  std::unique_ptr<Producer> producer_;
  std::unique_ptr<KafkaCollector> collector_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex control_mu_;  // guards accepting_ against Run() racing the loop's end
  bool accepting_ = false;
  tbb::concurrent_queue<std::packaged_task<absl::Status()>*> control_;

  // Worker-thread state.
  struct Hosted {
    std::unique_ptr<Task> task;
    std::vector<rd_kafka_queue_t*> parked;  // owned by the group member
    bool running = false;
    // Tasks with several input partitions: their records, held for timestamp order.
    std::unique_ptr<PartitionGroup> group;
  };
  CacheBudget cache_;
  std::unique_ptr<Restorer> restorer_;
  std::map<TaskId, Hosted> tasks_;
  std::map<std::pair<std::string, int32_t>, Task*> by_partition_;
  std::map<Task*, PartitionGroup*> groups_;  // the tasks that have one
  std::vector<rd_kafka_message_t*> taken_;
  std::map<std::pair<std::string, int32_t>, int64_t> committed_;
  std::vector<rd_kafka_message_t*> messages_;
  std::vector<RawRecord> raw_;
  std::chrono::steady_clock::time_point last_commit_;
  bool dirty_ = false;  // processed records since the last commit
};

}  // namespace sluice::internal
