// MemoryStore: an in-memory store. Changes since the last commit live in an overlay that
// only the owning worker touches; Commit() applies them to the committed map under an
// exclusive lock, and query threads read the committed map under a shared lock.
#pragma once

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>

#include "sluice/internal/state_store.h"

namespace sluice::internal {

class MemoryStore final : public KeyValueBytesStore {
 public:
  explicit MemoryStore(std::string name) : name_(std::move(name)) {}

  const std::string& name() const override { return name_; }
  absl::Status Get(std::string_view key, std::string* value, bool* found) override;
  absl::Status Put(std::string_view key, std::string_view value) override;
  absl::Status Delete(std::string_view key) override;
  absl::StatusOr<std::unique_ptr<StoreIterator>> Range(std::optional<std::string_view> from,
                                                       std::optional<std::string_view> to) override;
  absl::StatusOr<uint64_t> ApproximateNumEntries() override;
  absl::Status Flush() override { return absl::OkStatus(); }

  // Owner thread: applies or forgets the overlay.
  void Commit();
  void DiscardPending() {
    overlay_.clear();
    pending_bytes_ = 0;
  }
  // Empties the store, committed state included (restoration starts over).
  void Clear();
  size_t pending_bytes() const { return pending_bytes_; }

  // Any thread: the committed state.
  absl::Status ReadCommitted(std::string_view key, std::string* value, bool* found) const;
  // A copy of the committed entries in [from, to) (query threads must not hold the lock
  // while the caller iterates).
  std::map<std::string, std::string> CopyCommitted(std::optional<std::string_view> from,
                                                   std::optional<std::string_view> to) const;
  uint64_t CommittedCount() const;

 private:
  // One node type for both: a commit moves an overlay node into the committed map whole.
  // A committed value is always present.
  using Map = std::map<std::string, std::optional<std::string>, std::less<>>;
  using Overlay = Map;

  std::string name_;
  Overlay overlay_;  // nullopt: deleted
  size_t pending_bytes_ = 0;
  mutable std::shared_mutex mu_;
  Map committed_;  // writes under an exclusive lock; the owner reads without one
};

}  // namespace sluice::internal
