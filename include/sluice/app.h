// App: runs a Topology against Kafka (Kafka Streams' KafkaStreams). One App is one
// member of the consumer group named by `application.id`; run more processes with the
// same id to share the partitions. Inside a process, tasks (one per sub-topology and
// partition) are spread over `num.stream.threads` worker threads.
//
//   auto app = App::Create(*topology, *config).value();
//   app->SetStateListener([](AppState now, AppState before) { ... });
//   if (absl::Status s = app->Start(); !s.ok()) { ... }
//   ...
//   app->Close(std::chrono::seconds(30));
//
// Guarantee: at-least-once. An input offset is committed only after every output it
// caused was acknowledged by the brokers; after a crash, records after the last commit
// are processed again.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sluice/config.h"
#include "sluice/serde.h"
#include "sluice/state.h"
#include "sluice/topology.h"

namespace sluice {

class EmbeddedBroker;

// The life of an App. Allowed transitions (as in Kafka Streams):
//   CREATED -> REBALANCING | PENDING_SHUTDOWN
//   REBALANCING -> RUNNING | REBALANCING | PENDING_SHUTDOWN | PENDING_ERROR
//   RUNNING -> REBALANCING | PENDING_SHUTDOWN | PENDING_ERROR
//   PENDING_SHUTDOWN -> NOT_RUNNING
//   PENDING_ERROR -> ERROR
enum class AppState {
  kCreated,
  kRebalancing,
  kRunning,
  kPendingShutdown,
  kNotRunning,
  kPendingError,
  kError,
};
std::string_view ToString(AppState state);

// Called on the thread that changed the state; must not call back into Close().
using StateListener = std::function<void(AppState new_state, AppState old_state)>;

// What to do when a worker thread fails (a record that cannot be processed, an exception
// from user code, outputs that cannot be delivered).
enum class ExceptionResponse {
  // Drop the thread's tasks without committing, and start a new thread that resumes them
  // from their last committed offsets.
  kReplaceThread,
  // Stop this App: it moves to ERROR.
  kShutdownClient,
};
using UncaughtExceptionHandler = std::function<ExceptionResponse(const absl::Status& error)>;

// Told how restoring a store from its changelog goes; called on worker threads, so it
// must be thread-safe and quick. Kafka Streams' StateRestoreListener.
class StateRestoreListener {
 public:
  virtual ~StateRestoreListener() = default;
  // Restoring `store` of partition `partition` reads `changelog` from `start_offset` up to
  // (not including) `end_offset`.
  virtual void OnRestoreStart(const std::string& store, const std::string& changelog,
                              int32_t partition, int64_t start_offset, int64_t end_offset) {}
  virtual void OnBatchRestored(const std::string& store, const std::string& changelog,
                               int32_t partition, int64_t batch_end_offset,
                               uint64_t num_restored) {}
  virtual void OnRestoreEnd(const std::string& store, const std::string& changelog,
                            int32_t partition, uint64_t total_restored) {}
};

struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t position = -1;    // next offset this App will process
  int64_t end_offset = -1;  // the partition's high watermark, as last fetched
  int64_t lag = 0;          // end_offset - position (0 when either is unknown)
};

// A snapshot of an App's metrics.
struct AppMetrics {
  uint64_t records_in = 0;       // records consumed and processed
  uint64_t records_out = 0;      // records sent to sinks
  uint64_t records_skipped = 0;  // records that did not deserialize, under `continue`, or
                                 // had an invalid timestamp, under kSkip
  uint64_t records_late = 0;     // records dropped because their window had closed
  double process_rate = 0;       // records in per second over the last second
  uint64_t commits = 0;
  double commit_latency_avg_ms = 0;
  double commit_latency_max_ms = 0;
  int live_threads = 0;
  uint64_t replaced_threads = 0;
  std::vector<PartitionLag> lag;  // one entry per assigned partition
};

class App {
 public:
  // Validates the config against librdkafka (every pass-through key) and the topology.
  // With `broker`, the App runs on that embedded broker: `bootstrap.servers` defaults to
  // its address and internal topics are created through it. `broker` must outlive the App.
  static absl::StatusOr<std::unique_ptr<App>> Create(const Topology& topology,
                                                     const StreamsConfig& config,
                                                     EmbeddedBroker* broker = nullptr);
  ~App();  // Close() without a time limit

  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Set before Start().
  void SetStateListener(StateListener listener);
  void SetUncaughtExceptionHandler(UncaughtExceptionHandler handler);
  void SetStateRestoreListener(std::shared_ptr<StateRestoreListener> listener);

  // Starts processing in the background; returns at once. Errors that come later
  // (unreachable brokers, a missing source topic) move the App to ERROR: see error().
  absl::Status Start();

  // Stops processing, commits what was processed, leaves the group. Returns true when
  // the App reached NOT_RUNNING (or was already in ERROR) within `timeout`.
  bool Close(std::chrono::milliseconds timeout = std::chrono::milliseconds::max());

  AppState state() const;
  // Waits until state() == `state` or the App can no longer reach it; true if reached.
  bool AwaitState(AppState state, std::chrono::milliseconds timeout) const;
  // Why the App is in ERROR (OK otherwise).
  absl::Status error() const;

  AppMetrics metrics() const;

  // Interactive queries: a read-only view of state store `name` over the partitions this
  // instance hosts, safe to use from any thread while the App runs. It reads committed
  // state (up to one commit interval behind processing). A key whose partition is
  // restoring, or is hosted by another instance, gives UNAVAILABLE naming the store and
  // partition; an unknown store gives NOT_FOUND.
  template <Serde KS, Serde VS>
  absl::StatusOr<ReadOnlyKeyValueStore<KS, VS>> Store(const std::string& name,
                                                      KS key_serde = {},
                                                      VS value_serde = {}) const {
    absl::StatusOr<std::shared_ptr<internal::StoreReader>> reader = StoreReader(name);
    if (!reader.ok()) return reader.status();
    return ReadOnlyKeyValueStore<KS, VS>(std::move(*reader), std::move(key_serde),
                                         std::move(value_serde));
  }
  // For Store().
  absl::StatusOr<std::shared_ptr<internal::StoreReader>> StoreReader(const std::string& name) const;

 private:
  class Impl;
  explicit App(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
