// App: lifecycle, and the group-member thread that owns the consumer, answers
// rebalances by moving tasks between worker threads, and replaces failed workers.
#include "sluice/app.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <tbb/concurrent_queue.h>

#include "engine/global_stores.h"
#include "engine/global_thread.h"
#include "engine/internal_topics.h"
#include "engine/state_machine.h"
#include "engine/stream_thread.h"
#include "sluice/embedded_broker.h"
#include "src/kafka/admin.h"
#include "src/kafka/consumer.h"
#include "src/kafka/kafka_conf.h"
#include "src/kafka/mock_cluster.h"
#include "src/log.h"

namespace sluice {

using namespace internal;  // NOLINT: this file is the engine's composition root

namespace {

// Checks every pass-through property with librdkafka; the error names the user's key.
absl::Status ValidateClientProperties(const StreamsConfig& config) {
  for (ClientKind kind : {ClientKind::kConsumer, ClientKind::kProducer, ClientKind::kAdmin}) {
    absl::StatusOr<KafkaConf> conf = KafkaConf::Create(KafkaProperties{});
    if (!conf.ok()) return conf.status();
    for (const StreamsConfig::ClientProperty& p : config.ClientProperties(kind)) {
      if (absl::Status s = conf->Set(p.key, p.value); !s.ok()) {
        const bool prefixed = p.user_key != p.key;
        return absl::InvalidArgumentError(Cat(
            "invalid config '", p.user_key, "': ", s.message(),
            prefixed ? "" : " (not a Sluice key either; Sluice keys are application.id, "
                            "bootstrap.servers, num.stream.threads, commit.interval.ms, "
                            "processing.guarantee, state.dir, "
                            "default.deserialization.exception.handler, "
                            "processing.exception.handler, errors.dead.letter.queue.topic.name, "
                            "default.timestamp.extractor, poll.ms, max.poll.records, "
                            "default.api.timeout.ms, replication.factor, client.id, "
                            "cache.max.bytes.buffering, rocksdb.memory.budget.bytes, "
                            "idle.window.close.ms, max.task.idle.ms, "
                            "buffered.records.per.partition)"));
      }
    }
  }
  return absl::OkStatus();
}

KafkaProperties WithUserProperties(KafkaProperties base, const StreamsConfig& config,
                                   ClientKind kind) {
  for (const StreamsConfig::ClientProperty& p : config.ClientProperties(kind)) {
    base.emplace_back(p.key, p.value);
  }
  return base;
}

}  // namespace

class App::Impl final : public RebalanceListener {
 public:
  Impl(Topology topology, StreamsConfig config, MockCluster* mock)
      : topology_(std::move(topology)), config_(std::move(config)), mock_(mock),
        registry_(StoreNames(topology_.compiled())) {
    const CompiledTopology& compiled = topology_.compiled();
    for (const Subtopology& s : compiled.subtopologies) {
      for (size_t i = 0; i < s.source_topics.size(); ++i) {
        topic_subtopology_[Resolve(s.source_topics[i], s.source_internal[i])] = s.id;
      }
    }
  }

  ~Impl() {
    Close(std::chrono::milliseconds::max());
  }

  void SetStateListener(StateListener l) { state_.SetListener(std::move(l)); }
  void SetHandler(UncaughtExceptionHandler h) { handler_ = std::move(h); }
  void SetRestoreListener(std::shared_ptr<StateRestoreListener> l) { restore_listener_ = std::move(l); }
  AppState state() const { return state_.state(); }
  bool Await(AppState s, std::chrono::milliseconds t) const { return state_.Await(s, t); }

  absl::Status error() const {
    std::lock_guard<std::mutex> lock(error_mu_);
    return error_;
  }

  absl::Status Start() {
    if (!state_.TransitionTo(AppState::kRebalancing)) {
      return absl::FailedPreconditionError(
          Cat("App::Start: the App is ", ToString(state_.state()), "; it can start only once"));
    }
    Log(LogLevel::kInfo, "starting application '", config_.application_id(), "' with ",
        config_.num_stream_threads(), " stream threads on ", config_.bootstrap_servers());
    coordinator_ = std::thread([this] { RunGroupMember(); });
    return absl::OkStatus();
  }

  bool Close(std::chrono::milliseconds timeout) {
    if (state_.state() == AppState::kCreated) {
      stop_requested_ = true;
      state_.TransitionTo(AppState::kPendingShutdown);
      state_.TransitionTo(AppState::kNotRunning);
      return true;
    }
    // The state first, then the flag: the group-member thread, once it sees the flag,
    // must find PENDING_SHUTDOWN (or PENDING_ERROR) to finish from.
    state_.TransitionTo(AppState::kPendingShutdown);
    stop_requested_ = true;
    bool done = state_.Await(AppState::kNotRunning, timeout) ||
                state_.state() == AppState::kError;
    if (done && coordinator_.joinable()) {
      std::lock_guard<std::mutex> lock(join_mu_);
      if (coordinator_.joinable()) coordinator_.join();
    }
    return done;
  }

  absl::StatusOr<std::shared_ptr<internal::StoreReader>> Reader(const std::string& name) {
    for (const GlobalStoreSpec& g : topology_.compiled().global_stores) {
      if (g.name != name) continue;
      std::shared_ptr<GlobalStores> globals;
      {
        std::lock_guard<std::mutex> lock(globals_mu_);
        globals = globals_;
      }
      if (globals == nullptr) {
        return absl::UnavailableError(Cat("global store '", name, "' is not open: the App is ",
                                          ToString(state_.state())));
      }
      return globals->Reader(name);
    }
    return registry_.Reader(name);
  }

  AppMetrics Metrics() const {
    AppMetrics m;
    m.records_in = counters_.tasks.records_in.load();
    m.records_skipped = counters_.tasks.records_skipped.load();
    if (global_thread_ != nullptr) m.records_skipped += global_thread_->skipped();
    m.records_late = counters_.tasks.records_late.load();
    m.records_out = counters_.records_out.load();
    m.commits = counters_.commits.load();
    if (m.commits > 0) {
      m.commit_latency_avg_ms = counters_.commit_latency_us_total.load() / 1000.0 / m.commits;
    }
    m.commit_latency_max_ms = counters_.commit_latency_us_max.load() / 1000.0;
    m.process_rate = process_rate_.load();
    m.live_threads = live_threads_.load();
    m.replaced_threads = replaced_.load();
    std::lock_guard<std::mutex> lock(lag_mu_);
    if (consumer_ == nullptr) return m;
    rd_kafka_t* rk = consumer_->handle();
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(lag_partitions_.size()) + 1));
    for (const auto& [topic, p] : lag_partitions_) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    }
    rd_kafka_position(rk, list.get());
    for (int i = 0; i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = list->elems[i];
      PartitionLag lag;
      lag.topic = tp.topic;
      lag.partition = tp.partition;
      lag.position = tp.offset;
      int64_t low = -1, high = -1;
      if (rd_kafka_get_watermark_offsets(rk, tp.topic, tp.partition, &low, &high) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        lag.end_offset = high;
      }
      if (lag.position < 0) {
        // Nothing consumed since the assignment: the App starts at the committed offset,
        // or (none committed) where auto.offset.reset puts it.
        auto start = committed_starts_.find({tp.topic, tp.partition});
        if (start != committed_starts_.end()) {
          lag.position = start->second;
        } else if (!reset_to_end_ && low >= 0) {
          lag.position = low;
        } else if (reset_to_end_ && high >= 0) {
          lag.position = high;
        }
      }
      if (lag.end_offset >= 0 && lag.position >= 0) lag.lag = std::max<int64_t>(0, lag.end_offset - lag.position);
      m.lag.push_back(std::move(lag));
    }
    return m;
  }

  // RebalanceListener: on the group-member thread, inside Consumer::Poll.
  void OnAssigned(const rd_kafka_topic_partition_list_t* partitions) override {
    // Each partition's records are parked in a queue of their own until the worker that
    // owns the task has restored its stores and forwards that queue to its own.
    std::map<int, std::map<TaskId, StreamThread::NewTask>> by_thread;
    PartitionTimes times = ReadCommitted(partitions);
    for (int i = 0; i < partitions->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = partitions->elems[i];
      auto sub = topic_subtopology_.find(tp.topic);
      if (sub == topic_subtopology_.end()) continue;
      TaskId id{sub->second, tp.partition};
      auto [it, inserted] = task_thread_.emplace(id, -1);
      if (inserted) it->second = LeastLoadedThread();
      absl::StatusOr<QueuePtr> queue = consumer_->PartitionQueue(tp.topic, tp.partition);
      if (!queue.ok()) {
        RaiseError(queue.status());
        continue;
      }
      Assigned& a = assigned_[{tp.topic, tp.partition}];
      a.queue = std::move(*queue);
      a.thread = it->second;
      Park(a);
      StreamThread::NewTask& task = by_thread[it->second][id];
      task.id = id;
      task.parked.push_back(a.parking.get());
      if (auto time = times.find({tp.topic, tp.partition}); time != times.end()) {
        task.partition_times[tp.topic] = time->second;
      }
      std::lock_guard<std::mutex> lock(lag_mu_);
      if (auto start = committed_starts_.find({tp.topic, tp.partition}); start != committed_starts_.end()) {
        task.committed_offsets[tp.topic] = start->second;
      }
    }
    for (auto& [thread, tasks] : by_thread) {
      std::vector<StreamThread::NewTask> list;
      for (auto& [id, task] : tasks) list.push_back(std::move(task));
      absl::Status s = threads_[thread]->AddTasks(list);
      if (!s.ok()) RaiseError(s);
    }
    UpdateLagPartitions();
    assigned_since_poll_ = true;
    Log(LogLevel::kInfo, "assigned ", partitions->cnt, " partitions, ", task_thread_.size(),
        " tasks over ", threads_.size(), " stream threads");
  }

  void OnRevoked(const rd_kafka_topic_partition_list_t* partitions, bool lost) override {
    state_.TransitionTo(AppState::kRebalancing);
    std::map<int, std::vector<TaskId>> by_thread;
    std::set<TaskId> revoked;
    for (int i = 0; i < partitions->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = partitions->elems[i];
      auto sub = topic_subtopology_.find(tp.topic);
      if (sub == topic_subtopology_.end()) continue;
      TaskId id{sub->second, tp.partition};
      auto it = task_thread_.find(id);
      if (it != task_thread_.end() && revoked.insert(id).second) by_thread[it->second].push_back(id);
    }
    for (auto& [thread, ids] : by_thread) {
      absl::Status s = threads_[thread]->RemoveTasks(ids, /*commit=*/!lost);
      if (!s.ok()) Log(LogLevel::kWarn, "closing revoked tasks: ", s.message());
    }
    for (const TaskId& id : revoked) task_thread_.erase(id);
    for (int i = 0; i < partitions->cnt; ++i) {
      auto it = assigned_.find({partitions->elems[i].topic, partitions->elems[i].partition});
      if (it == assigned_.end()) continue;
      Unpark(it->second);
      assigned_.erase(it);
    }
    UpdateLagPartitions();
    Log(LogLevel::kInfo, lost ? "lost " : "revoked ", partitions->cnt, " partitions");
  }

 private:
  struct Assigned {
    QueuePtr queue;    // the partition's queue
    QueuePtr parking;  // where it is forwarded; the owning worker forwards this one on
    int thread = -1;
  };

  // Forwards the partition's queue to a new parking queue.
  void Park(Assigned& a) {
    a.parking.reset(rd_kafka_queue_new(consumer_->handle()));
    rd_kafka_queue_forward(a.queue.get(), a.parking.get());
  }
  // Stops forwarding; records fetched from now on wait in the partition's own queue, and
  // those in the parking queue go with it.
  void Unpark(Assigned& a) {
    rd_kafka_queue_forward(a.queue.get(), nullptr);
    a.parking.reset();
  }

  std::string Resolve(const std::string& name, bool internal) const {
    return internal ? Cat(config_.application_id(), "-", name) : name;
  }

  static std::vector<std::string> StoreNames(const CompiledTopology& topology) {
    std::vector<std::string> names;
    for (const StoreSpec& s : topology.stores) names.push_back(s.name);
    return names;
  }

  int LeastLoadedThread() const {
    std::vector<int> load(threads_.size(), 0);
    for (const auto& [id, thread] : task_thread_) {
      if (thread >= 0) ++load[thread];
    }
    return static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
  }

  void UpdateLagPartitions() {
    std::lock_guard<std::mutex> lock(lag_mu_);
    lag_partitions_.clear();
    for (const auto& [tp, a] : assigned_) lag_partitions_.push_back(tp);
    std::erase_if(committed_starts_, [&](const auto& entry) { return !assigned_.contains(entry.first); });
  }

  void RaiseError(const absl::Status& status) {
    {
      std::lock_guard<std::mutex> lock(error_mu_);
      if (error_.ok()) error_ = status;
    }
    Log(LogLevel::kError, status.message());
    state_.TransitionTo(AppState::kPendingError);
    stop_requested_ = true;
  }

  bool Failed() const {
    std::lock_guard<std::mutex> lock(error_mu_);
    return !error_.ok();
  }

  StreamThread::Settings ThreadSettings(int index) {
    StreamThread::Settings s;
    s.topology = &topology_.compiled();
    s.consumer = consumer_.get();
    s.producer_properties = WithUserProperties(
        {{"bootstrap.servers", config_.bootstrap_servers()},
         {"client.id", Cat(config_.client_id(), "-StreamThread-", index + 1, "-producer")},
         {"partitioner", "murmur2_random"},
         {"enable.idempotence", "true"},
         {"linger.ms", "5"}},
        config_, ClientKind::kProducer);
    s.task_options.application_id = config_.application_id();
    s.task_options.deserialization_policy =
        config_.deserialization_errors() == DeserializationErrorHandling::kContinue
            ? DeserializationErrorPolicy::kContinue
            : DeserializationErrorPolicy::kFail;
    s.task_options.processing_policy =
        config_.processing_errors() == ProcessingErrorHandling::kContinue
            ? ProcessingErrorPolicy::kContinue
            : ProcessingErrorPolicy::kFail;
    s.task_options.dead_letter_topic = config_.dead_letter_queue_topic();
    s.poll_timeout = std::chrono::milliseconds(config_.poll_ms());
    s.commit_interval = std::chrono::milliseconds(config_.commit_interval_ms());
    s.api_timeout = std::chrono::milliseconds(config_.default_api_timeout_ms());
    s.max_poll_records = config_.max_poll_records();
    s.max_task_idle_ms = config_.max_task_idle_ms();
    s.buffered_records_per_partition = static_cast<size_t>(config_.buffered_records_per_partition());
    s.counters = &counters_;
    s.task_options.state_dir = AppStateDir();
    s.task_options.rocksdb_budget = rocksdb_budget_;
    s.task_options.globals = globals_.get();
    s.task_options.idle_window_close_ms = config_.idle_window_close_ms();
    s.task_options.timestamps = config_.timestamp_defaults();
    s.cache_bytes = static_cast<size_t>(config_.cache_max_bytes_buffering()) /
                    static_cast<size_t>(config_.num_stream_threads());
    s.restore_properties = WithUserProperties(
        {{"bootstrap.servers", config_.bootstrap_servers()},
         {"client.id", Cat(config_.client_id(), "-StreamThread-", index + 1, "-restore-consumer")}},
        config_, ClientKind::kConsumer);
    s.restore_listener = restore_listener_;
    s.registry = &registry_;
    s.on_failure = [this](int thread, absl::Status error) {
      failures_.push({thread, std::move(error)});
    };
    return s;
  }

  // Opens the GlobalKTable stores and reads their topics to the end before any stream
  // thread exists; then keeps them current on the global thread.
  absl::Status StartGlobalStores() {
    const CompiledTopology& compiled = topology_.compiled();
    if (compiled.global_stores.empty()) return absl::OkStatus();
    std::vector<std::string> topics;
    for (const GlobalStoreSpec& g : compiled.global_stores) topics.push_back(g.topic);
    const std::chrono::milliseconds timeout(config_.default_api_timeout_ms());
    absl::StatusOr<std::map<std::string, int>> counts = admin_->PartitionCounts(topics, timeout);
    if (!counts.ok()) {
      return absl::Status(counts.status().code(), Cat("the topics of the global tables: ",
                                                      counts.status().message()));
    }
    absl::StatusOr<std::unique_ptr<GlobalStores>> stores =
        GlobalStores::Open(compiled.global_stores, AppStateDir() / "global", rocksdb_budget_);
    if (!stores.ok()) return stores.status();
    {
      std::lock_guard<std::mutex> lock(globals_mu_);
      globals_ = std::move(*stores);
    }
    GlobalThread::Settings settings;
    settings.consumer_properties = WithUserProperties(
        {{"bootstrap.servers", config_.bootstrap_servers()},
         {"group.id", Cat(config_.application_id(), "-global")},
         {"client.id", Cat(config_.client_id(), "-global-consumer")}},
        config_, ClientKind::kConsumer);
    settings.api_timeout = timeout;
    settings.commit_interval = std::chrono::milliseconds(config_.commit_interval_ms());
    settings.policy = config_.deserialization_errors() == DeserializationErrorHandling::kContinue
                          ? DeserializationErrorPolicy::kContinue
                          : DeserializationErrorPolicy::kFail;
    settings.on_error = [this](const absl::Status& error) {
      RaiseError(absl::Status(error.code(), Cat("global thread: ", error.message())));
    };
    settings.stopping = [this] { return stop_requested_.load(); };
    std::map<std::string, int32_t> partitions(counts->begin(), counts->end());
    absl::StatusOr<std::unique_ptr<GlobalThread>> thread =
        GlobalThread::Create(*globals_, std::move(settings), std::move(partitions));
    if (!thread.ok()) return thread.status();
    global_thread_ = std::move(*thread);
    if (absl::Status s = global_thread_->Bootstrap(); !s.ok()) return s;
    global_thread_->Start();
    return absl::OkStatus();
  }

  std::filesystem::path AppStateDir() const {
    return std::filesystem::path(config_.state_dir()) / config_.application_id();
  }

  // Takes `<state.dir>/<application.id>/.lock` for the life of the App, so two instances
  // cannot share (and corrupt) one state directory.
  absl::Status LockStateDir() {
    const std::filesystem::path dir = AppStateDir();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(Cat("cannot create the state directory '", dir.string(),
                                               "' (config 'state.dir'): ", ec.message()));
    }
    const std::string lock = (dir / ".lock").string();
    int fd = ::open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::FailedPreconditionError(Cat("cannot open '", lock, "': ", std::strerror(errno)));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return absl::FailedPreconditionError(Cat(
          "the state directory '", dir.string(), "' is locked by another instance of application '",
          config_.application_id(), "' (another process, or another App in this one); give each "
          "instance its own 'state.dir'"));
    }
    state_lock_fd_ = fd;
    return absl::OkStatus();
  }

  absl::Status Setup() {
    const CompiledTopology& compiled = topology_.compiled();
    if (!compiled.stores.empty() || !compiled.global_stores.empty()) {
      if (absl::Status s = LockStateDir(); !s.ok()) return s;
      bool persistent = !compiled.global_stores.empty();
      for (const StoreSpec& store : compiled.stores) persistent = persistent || store.persistent;
      if (persistent) {
        rocksdb_budget_ = RocksDbBudget::Get(static_cast<size_t>(config_.rocksdb_memory_budget()));
      }
    }
    KafkaProperties admin_props = WithUserProperties(
        {{"bootstrap.servers", config_.bootstrap_servers()},
         {"client.id", Cat(config_.client_id(), "-admin")}},
        config_, ClientKind::kAdmin);
    absl::StatusOr<std::unique_ptr<Admin>> admin = Admin::Create(admin_props);
    if (!admin.ok()) return admin.status();
    admin_ = std::move(*admin);
    absl::StatusOr<std::map<std::string, int32_t>> topics =
        PrepareTopics(topology_.compiled(), config_, *admin_, mock_);
    if (!topics.ok()) return topics.status();
    // A store has one partition per task of its sub-topology.
    std::map<std::string, int32_t> store_partitions;
    for (const Subtopology& sub : topology_.compiled().subtopologies) {
      int32_t count = 0;
      for (size_t i = 0; i < sub.source_topics.size(); ++i) {
        auto it = topics->find(Resolve(sub.source_topics[i], sub.source_internal[i]));
        if (it != topics->end()) count = std::max(count, it->second);
      }
      for (const std::string& store : sub.stores) store_partitions[store] = count;
    }
    registry_.SetPartitionCounts(std::move(store_partitions));
    if (absl::Status s = StartGlobalStores(); !s.ok()) return s;

    KafkaProperties consumer_props = WithUserProperties(
        {{"bootstrap.servers", config_.bootstrap_servers()},
         {"group.id", config_.application_id()},
         {"client.id", Cat(config_.client_id(), "-consumer")},
         {"enable.auto.commit", "false"},
         {"enable.auto.offset.store", "false"},
         {"enable.partition.eof", "false"},
         {"auto.offset.reset", "earliest"},
         // Range assignment gives partition p of every co-partitioned topic to the same
         // member, which keeps a task's inputs together.
         {"partition.assignment.strategy", "range"}},
        config_, ClientKind::kConsumer);
    for (const auto& [key, value] : consumer_props) {
      if (key == "auto.offset.reset") reset_to_end_ = value == "latest" || value == "largest" || value == "end";
    }
    ConsumerOptions options;
    options.listener = this;
    absl::StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(consumer_props, options);
    if (!consumer.ok()) return consumer.status();
    {
      std::lock_guard<std::mutex> lock(lag_mu_);
      consumer_ = std::move(*consumer);
    }
    for (int i = 0; i < config_.num_stream_threads(); ++i) {
      absl::StatusOr<std::unique_ptr<StreamThread>> t = StreamThread::Create(i, ThreadSettings(i));
      if (!t.ok()) return t.status();
      (*t)->Start();
      threads_.push_back(std::move(*t));
    }
    live_threads_ = static_cast<int>(threads_.size());
    std::vector<std::string> subscription;
    for (const auto& [topic, sub] : topic_subtopology_) subscription.push_back(topic);
    return consumer_->Subscribe(subscription);
  }

  void RunGroupMember() {
    if (absl::Status s = Setup(); !s.ok()) {
      // A Close() during the global stores' bootstrap is not an error.
      if (!(s.code() == absl::StatusCode::kCancelled && stop_requested_.load())) RaiseError(s);
    }
    auto last_rate = std::chrono::steady_clock::now();
    uint64_t last_records = 0;
    while (!stop_requested_.load()) {
      MessagePtr stray = consumer_->Poll(std::chrono::milliseconds(100));
      if (stray != nullptr) {
        Log(LogLevel::kError, "record of ", rd_kafka_topic_name(stray->rkt), " [",
            stray->partition, "] reached the consumer queue instead of a stream thread");
      }
      if (assigned_since_poll_) {
        assigned_since_poll_ = false;
        if (!Failed()) state_.TransitionTo(AppState::kRunning);
      }
      std::pair<int, absl::Status> failure;
      while (failures_.try_pop(failure)) HandleThreadFailure(failure.first, failure.second);
      if (absl::Status fatal = consumer_->FatalError(); !fatal.ok()) RaiseError(fatal);
      auto now = std::chrono::steady_clock::now();
      if (now - last_rate >= std::chrono::seconds(1)) {
        uint64_t records = counters_.tasks.records_in.load();
        process_rate_ = (records - last_records) /
                        std::chrono::duration<double>(now - last_rate).count();
        last_records = records;
        last_rate = now;
      }
    }
    Shutdown();
  }

  void HandleThreadFailure(int index, const absl::Status& error) {
    Log(LogLevel::kError, "stream thread ", index + 1, " failed: ", error.message());
    --live_threads_;
    ExceptionResponse response = handler_ ? handler_(error) : ExceptionResponse::kShutdownClient;
    if (response == ExceptionResponse::kShutdownClient) {
      RaiseError(error);
      return;
    }
    if (absl::Status s = ReplaceThread(index); !s.ok()) {
      RaiseError(absl::Status(s.code(), Cat("replacing stream thread ", index + 1, ": ", s.message())));
    }
  }

  // Starts a new thread for a failed one: its tasks are rebuilt there and their
  // partitions rewound to the last committed offsets. Order matters: the partitions stop
  // feeding any thread and are rewound before a new task can see a record; otherwise a
  // task could run ahead on records fetched before the rewind and then drop the rewound
  // ones as stale.
  absl::Status ReplaceThread(int index) {
    threads_[index]->Stop();  // its loop has ended; join it
    std::vector<TaskId> ids;
    for (const auto& [id, thread] : task_thread_) {
      if (thread == index) ids.push_back(id);
    }
    // Close the failed thread's tasks first: their state directories must be free before
    // the new thread opens them.
    if (absl::Status s = threads_[index]->RemoveTasks(ids, /*commit=*/false); !s.ok()) return s;
    PartitionListPtr parts(rd_kafka_topic_partition_list_new(8));
    for (auto& [tp, a] : assigned_) {
      if (a.thread != index) continue;
      Unpark(a);  // fetched records wait in place; what was parked is dropped
      rd_kafka_topic_partition_list_add(parts.get(), tp.first.c_str(), tp.second);
    }
    PartitionTimes times;
    if (parts->cnt > 0) {
      if (absl::Status s = RewindToCommitted(parts.get(), &times); !s.ok()) return s;
    }
    absl::StatusOr<std::unique_ptr<StreamThread>> fresh =
        StreamThread::Create(index, ThreadSettings(index));
    if (!fresh.ok()) return fresh.status();
    (*fresh)->Start();
    std::map<TaskId, StreamThread::NewTask> tasks_by_id;
    for (auto& [tp, a] : assigned_) {
      if (a.thread != index) continue;
      Park(a);
      StreamThread::NewTask& task = tasks_by_id[TaskId{topic_subtopology_.at(tp.first), tp.second}];
      task.parked.push_back(a.parking.get());
      if (auto time = times.find(tp); time != times.end()) {
        task.partition_times[tp.first] = time->second;
      }
    }
    std::vector<StreamThread::NewTask> tasks;
    for (const TaskId& id : ids) {
      StreamThread::NewTask& task = tasks_by_id[id];
      task.id = id;
      tasks.push_back(std::move(task));
    }
    if (absl::Status s = (*fresh)->AddTasks(tasks); !s.ok()) return s;
    // The failed thread goes with its queued records.
    std::unique_ptr<StreamThread> failed = std::exchange(threads_[index], std::move(*fresh));
    failed.reset();
    ++live_threads_;
    ++replaced_;
    Log(LogLevel::kInfo, "replaced stream thread ", index + 1, "; its ", ids.size(),
        " tasks resume from their last committed offsets");
    return absl::OkStatus();
  }

  // (topic, partition) -> the partition time committed with its offset.
  using PartitionTimes = std::map<std::pair<std::string, int32_t>, int64_t>;

  // The partition times in the offset metadata of `committed` (see EncodeOffsetMetadata).
  static PartitionTimes PartitionTimesOf(const rd_kafka_topic_partition_list_t* committed) {
    PartitionTimes times;
    for (int i = 0; i < committed->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = committed->elems[i];
      if (tp.metadata == nullptr || tp.offset < 0) continue;
      std::optional<int64_t> time = DecodeOffsetMetadata(
          std::string_view(static_cast<const char*>(tp.metadata), tp.metadata_size));
      if (time) times[{tp.topic, tp.partition}] = *time;
    }
    return times;
  }

  // For newly assigned `partitions`: notes their committed offsets (the lag metric's
  // position until a record arrives) and returns the partition times committed with
  // them. Not fatal if the fetch fails: the tasks then start without them, as on a first
  // start.
  PartitionTimes ReadCommitted(const rd_kafka_topic_partition_list_t* partitions) {
    if (partitions->cnt == 0) return {};
    const std::chrono::milliseconds timeout(config_.default_api_timeout_ms());
    absl::StatusOr<PartitionListPtr> committed = consumer_->Committed(partitions, timeout);
    if (!committed.ok()) {
      Log(LogLevel::kWarn, "tasks start without their committed partition times: ",
          committed.status().message());
      return {};
    }
    {
      std::lock_guard<std::mutex> lock(lag_mu_);
      for (int i = 0; i < (*committed)->cnt; ++i) {
        const rd_kafka_topic_partition_t& tp = (*committed)->elems[i];
        if (tp.offset >= 0) committed_starts_[{tp.topic, tp.partition}] = tp.offset;
      }
    }
    return PartitionTimesOf(committed->get());
  }

  // Seeks `partitions` to their committed offsets (or per auto.offset.reset), and
  // returns in `times` the partition times committed with them.
  absl::Status RewindToCommitted(const rd_kafka_topic_partition_list_t* partitions,
                                 PartitionTimes* times) {
    const std::chrono::milliseconds timeout(config_.default_api_timeout_ms());
    absl::StatusOr<PartitionListPtr> committed = consumer_->Committed(partitions, timeout);
    if (!committed.ok()) return committed.status();
    *times = PartitionTimesOf(committed->get());
    for (int i = 0; i < (*committed)->cnt; ++i) {
      rd_kafka_topic_partition_t& tp = (*committed)->elems[i];
      if (tp.offset < 0) tp.offset = reset_to_end_ ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rd_kafka_error_t* err = rd_kafka_seek_partitions(consumer_->handle(), committed->get(),
                                                         static_cast<int>(timeout.count()))) {
      absl::Status s = absl::InternalError(Cat("rewinding to committed offsets: ",
                                               rd_kafka_error_string(err)));
      rd_kafka_error_destroy(err);
      return s;
    }
    for (int i = 0; i < (*committed)->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = (*committed)->elems[i];
      if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::InternalError(Cat("rewinding ", tp.topic, " [", tp.partition,
                                       "] to its committed offset: ", rd_kafka_err2str(tp.err)));
      }
    }
    return absl::OkStatus();
  }

  void Shutdown() {
    if (consumer_ != nullptr) {
      // Leaving the group revokes every partition: tasks commit and close.
      absl::Status closed = consumer_->Close();
      if (!closed.ok()) Log(LogLevel::kWarn, "closing the consumer: ", closed.message());
    }
    for (auto& t : threads_) {
      if (t) t->Stop();
    }
    assigned_.clear();
    threads_.clear();
    if (global_thread_ != nullptr) global_thread_->Stop();
    global_thread_.reset();
    {
      std::lock_guard<std::mutex> lock(globals_mu_);
      globals_.reset();  // closes the database once no interactive query holds it
    }
    live_threads_ = 0;
    {
      std::lock_guard<std::mutex> lock(lag_mu_);
      lag_partitions_.clear();
      committed_starts_.clear();
      consumer_.reset();
    }
    admin_.reset();
    if (state_lock_fd_ >= 0) {
      ::close(state_lock_fd_);  // releases the lock
      state_lock_fd_ = -1;
    }
    // A Close() that came first wins: the App ends NOT_RUNNING, as in Kafka Streams.
    if (state_.state() == AppState::kPendingError) {
      state_.TransitionTo(AppState::kError);
      Log(LogLevel::kError, "application '", config_.application_id(), "' stopped in ERROR: ",
          error().message());
    } else {
      state_.TransitionTo(AppState::kPendingShutdown);  // unless Close() already moved it
      state_.TransitionTo(AppState::kNotRunning);
      Log(LogLevel::kInfo, "application '", config_.application_id(), "' stopped");
    }
  }

  Topology topology_;
  StreamsConfig config_;
  MockCluster* mock_;
  StoreRegistry registry_;
  AppStateMachine state_;
  UncaughtExceptionHandler handler_;
  std::shared_ptr<StateRestoreListener> restore_listener_;
  std::shared_ptr<RocksDbBudget> rocksdb_budget_;
  // GlobalKTables: the stores outlive the thread that writes them and every task.
  std::mutex globals_mu_;
  std::shared_ptr<GlobalStores> globals_;  // GUARDED_BY(globals_mu_) for reset and copy
  std::unique_ptr<GlobalThread> global_thread_;
  int state_lock_fd_ = -1;
  std::thread coordinator_;
  std::mutex join_mu_;
  std::atomic<bool> stop_requested_{false};
  mutable std::mutex error_mu_;
  absl::Status error_;  // GUARDED_BY(error_mu_)
  EngineCounters counters_;
  std::atomic<double> process_rate_{0};
  std::atomic<int> live_threads_{0};
  std::atomic<uint64_t> replaced_{0};
  tbb::concurrent_queue<std::pair<int, absl::Status>> failures_;
  std::map<std::string, int> topic_subtopology_;  // source topic (Kafka name) -> sub-topology
  bool reset_to_end_ = false;

  // Group-member thread state.
  std::unique_ptr<Admin> admin_;
  std::unique_ptr<Consumer> consumer_;  // also read by Metrics() under lag_mu_
  std::vector<std::unique_ptr<StreamThread>> threads_;
  std::map<std::pair<std::string, int32_t>, Assigned> assigned_;
  std::map<TaskId, int> task_thread_;
  bool assigned_since_poll_ = false;

  mutable std::mutex lag_mu_;
  std::vector<std::pair<std::string, int32_t>> lag_partitions_;  // GUARDED_BY(lag_mu_)
  // The offsets committed for assigned partitions when they were assigned.
  std::map<std::pair<std::string, int32_t>, int64_t> committed_starts_;  // GUARDED_BY(lag_mu_)
};

absl::StatusOr<std::unique_ptr<App>> App::Create(const Topology& topology,
                                                 const StreamsConfig& config,
                                                 EmbeddedBroker* broker) {
  StreamsConfig effective = config;
  if (effective.bootstrap_servers().empty()) {
    if (broker == nullptr) {
      return absl::InvalidArgumentError(
          "missing required config 'bootstrap.servers' (a list of host:port pairs), and no "
          "embedded broker was given");
    }
    effective = effective.WithBootstrapServers(broker->bootstrap_servers());
  }
  if (effective.processing_guarantee() == ProcessingGuarantee::kExactlyOnceV2) {
    return absl::UnimplementedError(
        "config 'processing.guarantee'=exactly_once_v2 is not available yet in this version of "
        "Sluice; use at_least_once");
  }
  if (absl::Status s = ValidateClientProperties(effective); !s.ok()) return s;
  MockCluster* mock = broker != nullptr && broker->bootstrap_servers() == effective.bootstrap_servers()
                          ? broker->mock()
                          : nullptr;
  return std::unique_ptr<App>(new App(std::make_unique<Impl>(topology, std::move(effective), mock)));
}

App::App(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
App::~App() = default;
void App::SetStateListener(StateListener listener) { impl_->SetStateListener(std::move(listener)); }
void App::SetUncaughtExceptionHandler(UncaughtExceptionHandler handler) {
  impl_->SetHandler(std::move(handler));
}
void App::SetStateRestoreListener(std::shared_ptr<StateRestoreListener> listener) {
  impl_->SetRestoreListener(std::move(listener));
}
absl::Status App::Start() { return impl_->Start(); }
bool App::Close(std::chrono::milliseconds timeout) { return impl_->Close(timeout); }
AppState App::state() const { return impl_->state(); }
bool App::AwaitState(AppState state, std::chrono::milliseconds timeout) const {
  return impl_->Await(state, timeout);
}
absl::Status App::error() const { return impl_->error(); }
AppMetrics App::metrics() const { return impl_->Metrics(); }
absl::StatusOr<std::shared_ptr<internal::StoreReader>> App::StoreReader(const std::string& name) const {
  return impl_->Reader(name);
}

}  // namespace sluice
