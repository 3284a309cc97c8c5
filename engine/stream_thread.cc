#include "engine/stream_thread.h"

#include <cstdlib>
#include <cstring>

#include "src/log.h"

namespace sluice::internal {

absl::StatusOr<std::unique_ptr<StreamThread>> StreamThread::Create(int index, Settings settings) {
  std::unique_ptr<StreamThread> t(new StreamThread(index, std::move(settings)));
  absl::StatusOr<std::unique_ptr<Producer>> producer =
      Producer::Create(t->settings_.producer_properties);
  if (!producer.ok()) return producer.status();
  t->producer_ = std::move(*producer);
  t->collector_ = std::make_unique<KafkaCollector>(*t->producer_, t->settings_.api_timeout);
  t->queue_ = t->settings_.consumer->NewQueue();
  t->messages_.resize(static_cast<size_t>(t->settings_.max_poll_records));
  t->cache_.max_bytes = t->settings_.cache_bytes;
  return t;
}

StreamThread::~StreamThread() {
  Stop();
  // Drop tasks without committing: a clean shutdown removed them already.
  by_partition_.clear();
  for (auto& [id, hosted] : tasks_) {
    for (rd_kafka_queue_t* q : hosted.parked) rd_kafka_queue_forward(q, nullptr);
    if (hosted.task->state() != nullptr && settings_.registry != nullptr) {
      settings_.registry->Remove(id.partition, *hosted.task->state());
    }
  }
  restorer_.reset();
  tasks_.clear();
  // Let what was sent be delivered; failures only mean the input is processed again.
  if (producer_) {
    absl::Status ignored = producer_->Flush(std::chrono::milliseconds(5000));
    (void)ignored;
  }
}

void StreamThread::Start() {
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    accepting_ = true;
  }
  last_commit_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { Loop(); });
}

void StreamThread::Stop() {
  stop_ = true;
  if (queue_) rd_kafka_queue_yield(queue_.get());
  if (thread_.joinable()) thread_.join();
}

absl::Status StreamThread::Run(std::function<absl::Status()> fn) {
  std::packaged_task<absl::Status()> task(std::move(fn));
  std::future<absl::Status> result = task.get_future();
  {
    std::unique_lock<std::mutex> lock(control_mu_);
    if (accepting_) {
      control_.push(&task);
      rd_kafka_queue_yield(queue_.get());
      lock.unlock();
      return result.get();
    }
  }
  // The loop has ended (or never started): the caller may touch the worker's state.
  if (thread_.joinable()) thread_.join();
  task();
  return result.get();
}

void StreamThread::RunControl() {
  std::packaged_task<absl::Status()>* task = nullptr;
  while (control_.try_pop(task)) (*task)();
}

void StreamThread::Loop() {
  Log(LogLevel::kDebug, "stream thread ", index_, " started");
  absl::Status failure;
  while (!stop_.load(std::memory_order_relaxed)) {
    RunControl();
    const bool restoring = restorer_ != nullptr && restorer_->active();
    if (restoring) {
      // With nothing else to do the restore may wait for records; otherwise it takes what
      // has arrived and lets the running tasks go on.
      const bool idle = RunningTasks().empty();
      failure = Restore(idle ? settings_.poll_timeout : std::chrono::milliseconds(0));
      if (!failure.ok()) break;
    }
    ssize_t n = Poll(restoring ? std::chrono::milliseconds(0) : settings_.poll_timeout);
    if (n > 0) {
      failure = ProcessBatch(messages_.data(), static_cast<size_t>(n));
      for (ssize_t i = 0; i < n; ++i) {
        if (messages_[i] != nullptr) rd_kafka_message_destroy(messages_[i]);
      }
      if (!failure.ok()) break;
    }
    if (!groups_.empty()) {
      failure = DrainGroups();
      if (!failure.ok()) break;
    }
    producer_->Poll(std::chrono::milliseconds(0));
    failure = PunctuateWallClock();
    if (!failure.ok()) break;
    bool commit = dirty_ && std::chrono::steady_clock::now() - last_commit_ >= settings_.commit_interval;
    for (auto& [id, hosted] : tasks_) commit = commit || (hosted.running && hosted.task->WantsCommit());
    if (commit) {
      failure = Commit(RunningTasks());
      if (!failure.ok()) break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    accepting_ = false;
  }
  RunControl();  // requests queued before accepting_ went false
  if (!failure.ok() && settings_.on_failure) settings_.on_failure(index_, failure);
  Log(LogLevel::kDebug, "stream thread ", index_, " stopped");
}

int64_t StreamThread::WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status StreamThread::PunctuateWallClock() {
  int64_t now = -1;
  for (auto& [id, hosted] : tasks_) {
    if (!hosted.running || !hosted.task->punctuates()) continue;
    if (now < 0) now = WallClockMs();
    if (absl::Status s = hosted.task->PunctuateWallClock(now); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<Task*> StreamThread::RunningTasks() const {
  std::vector<Task*> out;
  for (const auto& [id, hosted] : tasks_) {
    if (hosted.running) out.push_back(hosted.task.get());
  }
  return out;
}

absl::Status StreamThread::Restore(std::chrono::milliseconds timeout) {
  absl::StatusOr<std::vector<Task*>> ready = restorer_->Step(timeout);
  if (!ready.ok()) return ready.status();
  for (Task* task : *ready) Unpark(task->id());
  return absl::OkStatus();
}

void StreamThread::Unpark(TaskId id) {
  Hosted& hosted = tasks_.at(id);
  hosted.running = true;
  if (hosted.task->state() != nullptr && settings_.registry != nullptr) {
    settings_.registry->SetQueryable(id.partition, *hosted.task->state());
  }
  for (rd_kafka_queue_t* q : hosted.parked) rd_kafka_queue_forward(q, queue_.get());
  Log(LogLevel::kDebug, "stream thread ", index_, ": task ", id.ToString(), " running");
}

ssize_t StreamThread::Poll(std::chrono::milliseconds timeout) {
  // rd_kafka_consume_batch_queue waits until the batch is full or the timeout passes,
  // which would hold every record up to poll.ms under light load. Wait for the first
  // record only, then take what else is already queued.
  rd_kafka_message_t* first =
      rd_kafka_consume_queue(queue_.get(), static_cast<int>(timeout.count()));
  if (first == nullptr) return 0;
  messages_[0] = first;
  ssize_t more = rd_kafka_consume_batch_queue(queue_.get(), 0, messages_.data() + 1,
                                              messages_.size() - 1);
  return 1 + (more > 0 ? more : 0);
}

absl::Status StreamThread::ProcessBatch(rd_kafka_message_t** messages, size_t count) {
  size_t i = 0;
  while (i < count) {
    rd_kafka_message_t* m = messages[i];
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        Log(LogLevel::kWarn, "stream thread ", index_, ": consumer error on ",
            m->rkt ? rd_kafka_topic_name(m->rkt) : "?", " [", m->partition,
            "]: ", rd_kafka_message_errstr(m));
      }
      ++i;
      continue;
    }
    // A run of consecutive records of one partition is one batch for its task.
    size_t j = i + 1;
    while (j < count && messages[j]->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
           messages[j]->rkt == m->rkt && messages[j]->partition == m->partition) {
      ++j;
    }
    const char* topic = rd_kafka_topic_name(m->rkt);
    auto it = by_partition_.find({std::string(topic), m->partition});
    if (it == by_partition_.end()) {
      // The partition was revoked while these records were queued: its next owner
      // reads them again from the committed offset.
      Log(LogLevel::kDebug, "stream thread ", index_, ": dropping ", j - i,
          " records of unowned ", topic, " [", m->partition, "]");
      i = j;
      continue;
    }
    if (auto group = groups_.find(it->second); group != groups_.end()) {
      for (size_t k = i; k < j; ++k) {
        if (group->second->Add(messages[k])) messages[k] = nullptr;
      }
    } else if (absl::Status s = ProcessRun(it->second, topic, m->partition, messages + i, j - i);
               !s.ok()) {
      return s;
    }
    i = j;
  }
  return absl::OkStatus();
}

absl::Status StreamThread::ProcessRun(Task* task, const char* topic, int32_t partition,
                                      rd_kafka_message_t* const* messages, size_t count) {
  raw_.clear();
  for (size_t k = 0; k < count; ++k) {
    rd_kafka_message_t* r = messages[k];
    RawRecord raw;
    raw.key = r->key ? std::string_view(static_cast<const char*>(r->key), r->key_len)
                     : std::string_view();
    raw.value = r->payload ? std::string_view(static_cast<const char*>(r->payload), r->len)
                           : std::string_view();
    raw.timestamp = rd_kafka_message_timestamp(r, nullptr);
    raw.offset = r->offset;
    raw.headers = r;  // see KafkaCollector: headers are parsed only if a sink needs them
    raw_.push_back(raw);
  }
  task->SetWallClock(WallClockMs());
  absl::Status status = task->Process(topic, partition, raw_);
  if (settings_.counters != nullptr) {
    settings_.counters->records_out.fetch_add(collector_->TakeSentCount(),
                                              std::memory_order_relaxed);
  }
  if (status.ok()) dirty_ = true;
  return status;
}

absl::Status StreamThread::DrainGroups() {
  const int64_t now = WallClockMs();
  for (auto& [task, group] : groups_) {
    auto lag = [&, group = group](size_t i) { return LagOf(group->topics()[i], group->partition()); };
    while (!group->empty()) {
      std::optional<PartitionGroup::Run> run = group->Next(now, lag);
      if (!run) break;
      taken_.clear();
      group->Take(*run, &taken_);
      absl::Status status = ProcessRun(task, group->topics()[run->index].c_str(), group->partition(),
                                       taken_.data(), taken_.size());
      for (rd_kafka_message_t* m : taken_) rd_kafka_message_destroy(m);
      taken_.clear();
      if (!status.ok()) return status;
    }
    // After the draining, even to empty: a partition paused for holding too much must be
    // resumed once worked down, or the task waits for it forever.
    PartitionGroup::FlowChange flow = group->Flow();
    SetPaused(*group, flow.pause, true);
    SetPaused(*group, flow.resume, false);
  }
  return absl::OkStatus();
}

PartitionGroup::Lag StreamThread::LagOf(const std::string& topic, int32_t partition) {
  // The consumer's position (one past the last record handed to this process) against
  // the high watermark of its last fetch: nothing more to fetch for now. Before the
  // first record the position is the committed offset the consumer started from (after
  // a restart with nothing new to read, that is the end); without one, unknown, unless
  // the partition is empty.
  rd_kafka_t* rk = settings_.consumer->handle();
  int64_t low = -1, high = -1;
  if (rd_kafka_get_watermark_offsets(rk, topic.c_str(), partition, &low, &high) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      high < 0) {
    return PartitionGroup::Lag::kUnknown;
  }
  if (low >= 0 && low == high) return PartitionGroup::Lag::kCaughtUp;
  PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
  int64_t position = -1;
  if (rd_kafka_position(rk, list.get()) == RD_KAFKA_RESP_ERR_NO_ERROR) position = list->elems[0].offset;
  if (position < 0) {
    auto committed = committed_.find({topic, partition});
    if (committed == committed_.end()) return PartitionGroup::Lag::kUnknown;
    position = committed->second;
  }
  return position >= high ? PartitionGroup::Lag::kCaughtUp : PartitionGroup::Lag::kBehind;
}

void StreamThread::SetPaused(const PartitionGroup& group, const std::vector<size_t>& which,
                             bool pause) {
  if (which.empty()) return;
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(which.size())));
  for (size_t i : which) {
    rd_kafka_topic_partition_list_add(list.get(), group.topics()[i].c_str(), group.partition());
  }
  rd_kafka_t* rk = settings_.consumer->handle();
  const rd_kafka_resp_err_t err =
      pause ? rd_kafka_pause_partitions(rk, list.get()) : rd_kafka_resume_partitions(rk, list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Log(LogLevel::kWarn, "stream thread ", index_, ": could not ", pause ? "pause" : "resume",
        " partitions of task ", group.partition(), ": ", rd_kafka_err2str(err));
  }
}

absl::Status StreamThread::Commit(const std::vector<Task*>& tasks) {
  const auto start = std::chrono::steady_clock::now();
  // 1. Store caches write down; what they emit downstream is sent.
  for (Task* task : tasks) {
    if (absl::Status s = task->FlushState(); !s.ok()) return s;
  }
  if (settings_.counters != nullptr) {
    settings_.counters->records_out.fetch_add(collector_->TakeSentCount(),
                                              std::memory_order_relaxed);
  }
  // 2. At-least-once: every output and changelog record the committed input caused must
  // be acknowledged first.
  absl::Status flushed = producer_->Flush(settings_.api_timeout);
  if (!flushed.ok()) {
    return absl::Status(flushed.code(), Cat("stream thread ", index_,
                                            ": outputs were not acknowledged, so input offsets "
                                            "are not committed: ", flushed.message()));
  }
  // 3. Store changes and the input offsets they reflect, atomically per task.
  for (Task* task : tasks) {
    if (absl::Status s = task->CommitState(); !s.ok()) return s;
  }
  // 4. The input offsets, to Kafka.
  PartitionListPtr offsets(rd_kafka_topic_partition_list_new(8));
  for (Task* task : tasks) {
    for (const auto& [topic, position] : task->positions()) {
      auto key = std::make_pair(topic, task->id().partition);
      auto it = committed_.find(key);
      if (it != committed_.end() && it->second == position) continue;
      rd_kafka_topic_partition_t* tp =
          rd_kafka_topic_partition_list_add(offsets.get(), topic.c_str(), task->id().partition);
      tp->offset = position;
      // The partition time goes with the offset, as in Kafka Streams, so that a task that
      // resumes here has it (UsePartitionTimeOnInvalidTimestamp, stream time).
      if (const int64_t time = task->TopicPartitionTime(topic); time >= 0) {
        const std::string metadata = EncodeOffsetMetadata(time);
        tp->metadata = std::malloc(metadata.size());  // the list free()s it
        std::memcpy(tp->metadata, metadata.data(), metadata.size());
        tp->metadata_size = metadata.size();
      }
    }
  }
  bool committed = true;
  if (offsets->cnt > 0) {
    absl::Status status = settings_.consumer->CommitSync(offsets.get());
    if (!status.ok()) {
      // Not fatal: a rebalance may be under way; the commit is tried again next interval,
      // and records after the last successful commit are processed again by whoever
      // owns them next.
      committed = false;
      Log(LogLevel::kWarn, "stream thread ", index_, ": ", status.message());
    } else {
      for (int i = 0; i < offsets->cnt; ++i) {
        committed_[{offsets->elems[i].topic, offsets->elems[i].partition}] =
            offsets->elems[i].offset;
      }
    }
  }
  const auto now = std::chrono::steady_clock::now();
  // Only a commit of every task restarts the interval (closing tasks commits just those).
  if (tasks.size() == RunningTasks().size()) {
    last_commit_ = now;
    dirty_ = dirty_ && !committed;
  }
  if (EngineCounters* c = settings_.counters) {
    uint64_t us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - start).count());
    c->commits.fetch_add(1, std::memory_order_relaxed);
    c->commit_latency_us_total.fetch_add(us, std::memory_order_relaxed);
    uint64_t max = c->commit_latency_us_max.load(std::memory_order_relaxed);
    while (us > max && !c->commit_latency_us_max.compare_exchange_weak(max, us)) {
    }
  }
  return absl::OkStatus();
}

absl::Status StreamThread::AddTasks(const std::vector<NewTask>& tasks) {
  return Run([this, tasks]() -> absl::Status {
    for (const NewTask& t : tasks) {
      if (auto it = tasks_.find(t.id); it != tasks_.end()) {  // more partitions of a task
        for (const auto& [topic, time] : t.partition_times) {
          it->second.task->RestorePartitionTime(topic, time);
        }
        for (const auto& [topic, offset] : t.committed_offsets) committed_[{topic, t.id.partition}] = offset;
        for (rd_kafka_queue_t* q : t.parked) {
          it->second.parked.push_back(q);
          if (it->second.running) rd_kafka_queue_forward(q, queue_.get());
        }
        continue;
      }
      Task::Options options = settings_.task_options;
      options.cache = &cache_;
      options.wall_clock_ms = WallClockMs();
      absl::StatusOr<std::unique_ptr<Task>> task =
          Task::Create(t.id, *settings_.topology, *collector_, options,
                       settings_.counters ? &settings_.counters->tasks : nullptr);
      if (!task.ok()) return task.status();
      for (const auto& [topic, time] : t.partition_times) {
        (*task)->RestorePartitionTime(topic, time);
      }
      for (const auto& [topic, offset] : t.committed_offsets) committed_[{topic, t.id.partition}] = offset;
      const Subtopology& sub = settings_.topology->subtopologies[t.id.subtopology];
      std::vector<std::string> topics;
      for (size_t i = 0; i < sub.source_topics.size(); ++i) {
        topics.push_back((*task)->ResolveTopic(sub.source_topics[i], sub.source_internal[i]));
        by_partition_[{topics.back(), t.id.partition}] = task->get();
      }
      Log(LogLevel::kDebug, "stream thread ", index_, ": task ", t.id.ToString(), " created");
      Task* created = task->get();
      Hosted& hosted = tasks_.emplace(t.id, Hosted{std::move(*task), t.parked, false, nullptr})
                           .first->second;
      if (topics.size() > 1) {
        hosted.group = std::make_unique<PartitionGroup>(std::move(topics), t.id.partition,
                                                        settings_.max_task_idle_ms,
                                                        settings_.buffered_records_per_partition);
        groups_[created] = hosted.group.get();
      }
      if (created->state() != nullptr && settings_.registry != nullptr) {
        settings_.registry->Add(t.id.partition, *created->state());
      }
      bool ready = true;
      if (created->state() != nullptr) {
        if (restorer_ == nullptr) {
          Restorer::Settings rs;
          rs.consumer_properties = settings_.restore_properties;
          rs.api_timeout = settings_.api_timeout;
          rs.listener = settings_.restore_listener;
          absl::StatusOr<std::unique_ptr<Restorer>> restorer = Restorer::Create(std::move(rs));
          if (!restorer.ok()) return restorer.status();
          restorer_ = std::move(*restorer);
        }
        absl::StatusOr<bool> nothing_to_restore = restorer_->Add(created);
        if (!nothing_to_restore.ok()) return nothing_to_restore.status();
        ready = *nothing_to_restore;
      }
      if (ready) Unpark(t.id);
    }
    return absl::OkStatus();
  });
}

absl::Status StreamThread::RemoveTasks(const std::vector<TaskId>& ids, bool commit) {
  return Run([this, ids, commit]() -> absl::Status {
    std::vector<Task*> closing;
    std::vector<Task*> running;
    for (const TaskId& id : ids) {
      auto it = tasks_.find(id);
      if (it == tasks_.end()) continue;
      // Records stop flowing to this thread; what is queued already is dropped as unowned.
      for (rd_kafka_queue_t* q : it->second.parked) rd_kafka_queue_forward(q, nullptr);
      if (restorer_ != nullptr) restorer_->Remove(it->second.task.get());
      if (it->second.task->state() != nullptr && settings_.registry != nullptr) {
        settings_.registry->Remove(id.partition, *it->second.task->state());
      }
      closing.push_back(it->second.task.get());
      if (it->second.running) running.push_back(it->second.task.get());
    }
    absl::Status status;
    if (commit && !running.empty()) status = Commit(running);
    for (Task* task : closing) {
      if (auto group = groups_.find(task); group != groups_.end()) {
        // Held records are dropped (the next owner reads them from the committed offset);
        // a partition paused for holding too many must flow again for whoever gets it.
        std::vector<size_t> all(group->second->topics().size());
        for (size_t i = 0; i < all.size(); ++i) all[i] = i;
        SetPaused(*group->second, all, false);
        group->second->Clear();
        groups_.erase(group);
      }
      for (auto it = by_partition_.begin(); it != by_partition_.end();) {
        it = it->second == task ? by_partition_.erase(it) : std::next(it);
      }
      for (const auto& [topic, position] : task->positions()) {
        committed_.erase({topic, task->id().partition});
      }
      const TaskId id = task->id();
      tasks_.erase(id);
    }
    return status;
  });
}

}  // namespace sluice::internal
