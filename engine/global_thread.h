// GlobalThread: keeps an App's GlobalKTable stores current. Bootstrap() reads every
// partition of every global topic, from the stores' committed positions (or the
// beginning), up to the end offsets the topics have when it starts, and commits; the
// App calls it before any stream thread starts, so no record is joined against a
// half-loaded table. Start() then keeps reading on a thread of its own and commits
// every commit.interval.ms. A consumer without a group: every instance reads everything.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "engine/global_stores.h"
#include "src/kafka/handles.h"
#include "src/kafka/kafka_conf.h"

namespace sluice::internal {

class GlobalThread {
 public:
  struct Settings {
    KafkaProperties consumer_properties;  // bootstrap.servers, client.id, user consumer.*
    std::chrono::milliseconds api_timeout{60000};
    std::chrono::milliseconds commit_interval{30000};
    DeserializationErrorPolicy policy = DeserializationErrorPolicy::kFail;
    std::function<void(const absl::Status&)> on_error;  // called from the thread
    std::function<bool()> stopping;  // true once the App is closing: ends Bootstrap early
  };

  // `partitions`: each global topic's partition count.
  static absl::StatusOr<std::unique_ptr<GlobalThread>> Create(
      GlobalStores& stores, Settings settings, std::map<std::string, int32_t> partitions);
  ~GlobalThread();

  absl::Status Bootstrap();
  void Start();
  void Stop();  // joins the thread and commits what it applied
  uint64_t skipped() const { return skipped_.load(); }

 private:
  GlobalThread(GlobalStores& stores, Settings settings) : stores_(stores), settings_(std::move(settings)) {}
  // Applies one polled message (or notes an end of partition); false when there was none.
  absl::StatusOr<bool> PollOnce(std::chrono::milliseconds timeout);
  void Run();

  GlobalStores& stores_;
  Settings settings_;
  std::map<std::string, int32_t> partitions_;
  RdKafkaPtr rk_;
  std::map<std::pair<std::string, int32_t>, int64_t> next_;  // next offset seen per partition
  std::atomic<uint64_t> skipped_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace sluice::internal
