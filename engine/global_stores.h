// GlobalStores: the stores of a topology's GlobalKTables, in one RocksDB database
// (`<state.dir>/<application.id>/global`) with a column family per store. Records of
// the tables' topics are applied as they are in the topic (key bytes -> value bytes, a
// null value deletes); Commit writes them with the next offset of every partition, so
// a restart resumes from there. One writer (the App's global thread, or the test
// driver); any thread reads committed state through View().
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sluice/internal/graph.h"
#include "sluice/internal/node.h"
#include "sluice/state.h"
#include "src/state/rocksdb_budget.h"
#include "src/state/task_db.h"

namespace sluice::internal {

class GlobalStores : public std::enable_shared_from_this<GlobalStores> {
 public:
  // Opens (creating) the database. Corrupt files are wiped, with a warning: the topics
  // rebuild everything.
  static absl::StatusOr<std::unique_ptr<GlobalStores>> Open(std::vector<GlobalStoreSpec> specs,
                                                            const std::filesystem::path& dir,
                                                            std::shared_ptr<RocksDbBudget> budget);
  ~GlobalStores();

  const std::vector<GlobalStoreSpec>& specs() const { return specs_; }
  const GlobalStoreSpec* ForTopic(std::string_view topic) const;

  // The writer. Applies records of one partition in offset order. A record that does not
  // deserialize is an error naming the store, topic, partition and offset under `kFail`;
  // under `kContinue` it is skipped and counted in *skipped.
  absl::Status Apply(std::string_view topic, int32_t partition, std::span<const RawRecord> records,
                     DeserializationErrorPolicy policy, uint64_t* skipped);
  absl::Status Commit();
  // The next offset to read per (topic, partition), as last committed.
  const std::map<std::pair<std::string, int32_t>, int64_t>& positions() const { return positions_; }

  // Any thread: the store `name` as committed (Put and Delete fail), or nullptr.
  KeyValueBytesStore* View(std::string_view name);
  // A reader that keeps these stores open while it lives (owned by a shared_ptr).
  absl::StatusOr<std::shared_ptr<StoreReader>> Reader(std::string_view name);

 private:
  GlobalStores() = default;

  std::vector<GlobalStoreSpec> specs_;
  std::unique_ptr<TaskDb> db_;
  std::map<std::string, std::unique_ptr<KeyValueBytesStore>, std::less<>> views_;
  std::map<std::pair<std::string, int32_t>, int64_t> positions_;  // committed
  std::map<std::pair<std::string, int32_t>, int64_t> pending_;    // applied, not committed
  std::string envelope_;
};

}  // namespace sluice::internal
