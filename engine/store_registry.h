// StoreRegistry: the stores an App hosts, by name and partition, for interactive queries
// from any thread. Worker threads register a task's stores when they open them, mark them
// queryable once restored, and withdraw them before closing them; a query holds a
// store's lock only for the read it makes, so closing waits at most for that read.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/task_state.h"
#include "sluice/state.h"

namespace sluice::internal {

class StoreRegistry {
 public:
  explicit StoreRegistry(std::vector<std::string> stores) : stores_(std::move(stores)) {}

  // Once the topics are known: store name -> the number of partitions (tasks) it has.
  void SetPartitionCounts(std::map<std::string, int32_t> partitions);

  // Worker threads.
  void Add(int32_t partition, TaskState& state);
  void SetQueryable(int32_t partition, TaskState& state);
  void Remove(int32_t partition, TaskState& state);

  // Any thread: a reader of store `name` over the partitions this process hosts.
  absl::StatusOr<std::shared_ptr<StoreReader>> Reader(const std::string& name);

  // One hosted partition of a store; its lock guards `store` against closing.
  struct Hosted {
    std::shared_mutex mu;
    TaskState::Store* store = nullptr;  // null once withdrawn
    TaskDb* db = nullptr;
    bool queryable = false;
  };

 private:
  friend class RegistryReader;
  std::vector<std::pair<int32_t, std::shared_ptr<Hosted>>> Snapshot(const std::string& name);

  const std::vector<std::string> stores_;
  std::mutex mu_;
  std::map<std::string, int32_t> partitions_;  // GUARDED_BY(mu_)
  std::map<std::string, std::map<int32_t, std::shared_ptr<Hosted>>> hosted_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::internal
