#include "engine/store_registry.h"

#include <algorithm>

#include "sluice/internal/str.h"
#include "src/partitioner.h"

namespace sluice::internal {
namespace {

absl::Status NotHosted(const std::string& store, int32_t partition) {
  return absl::UnavailableError(Cat(
      "partition ", partition, " of state store '", store, "' is not hosted by this instance "
      "(another instance of the application owns it, or a rebalance is under way)"));
}

absl::Status Restoring(const std::string& store, int32_t partition) {
  return absl::UnavailableError(Cat("partition ", partition, " of state store '", store,
                                    "' is restoring from its changelog; try again later"));
}

absl::Status ReadOne(StoreRegistry::Hosted& h, const std::string& name, std::string_view key,
                     std::string* value, bool* found) {
  if (h.store->rocks != nullptr) {
    return h.db->ReadCommitted(h.db->Family(name), key, value, found);
  }
  return h.store->memory->ReadCommitted(key, value, found);
}

}  // namespace

void StoreRegistry::Add(int32_t partition, TaskState& state) {
  std::lock_guard<std::mutex> lock(mu_);
  for (TaskState::Store* store : state.stores()) {
    auto hosted = std::make_shared<Hosted>();
    hosted->store = store;
    hosted->db = state.db();
    hosted_[store->spec.name][partition] = std::move(hosted);
  }
}

void StoreRegistry::SetQueryable(int32_t partition, TaskState& state) {
  std::lock_guard<std::mutex> lock(mu_);
  for (TaskState::Store* store : state.stores()) {
    auto it = hosted_[store->spec.name].find(partition);
    if (it == hosted_[store->spec.name].end()) continue;
    std::unique_lock<std::shared_mutex> entry(it->second->mu);
    it->second->queryable = true;
  }
}

void StoreRegistry::Remove(int32_t partition, TaskState& state) {
  std::lock_guard<std::mutex> lock(mu_);
  for (TaskState::Store* store : state.stores()) {
    auto& by_partition = hosted_[store->spec.name];
    auto it = by_partition.find(partition);
    if (it == by_partition.end() || it->second->store != store) continue;
    {
      // Waits for a query reading this store right now.
      std::unique_lock<std::shared_mutex> entry(it->second->mu);
      it->second->store = nullptr;
      it->second->db = nullptr;
    }
    by_partition.erase(it);
  }
}

std::vector<std::pair<int32_t, std::shared_ptr<StoreRegistry::Hosted>>> StoreRegistry::Snapshot(
    const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<int32_t, std::shared_ptr<Hosted>>> out;
  auto it = hosted_.find(name);
  if (it == hosted_.end()) return out;
  for (auto& [p, h] : it->second) out.emplace_back(p, h);
  return out;
}

class RegistryReader final : public StoreReader {
 public:
  RegistryReader(StoreRegistry& registry, std::string name, int32_t partitions)
      : registry_(registry), name_(std::move(name)), partitions_(partitions) {}

  const std::string& name() const override { return name_; }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    // The key lives in the partition the default partitioner gives it.
    const int32_t partition = DefaultPartition(key, partitions_);
    for (auto& [p, h] : registry_.Snapshot(name_)) {
      if (p != partition) continue;
      std::shared_lock<std::shared_mutex> lock(h->mu);
      if (h->store == nullptr) break;
      if (!h->queryable) return Restoring(name_, partition);
      std::string value;
      bool found = false;
      if (absl::Status s = ReadOne(*h, name_, key, &value, &found); !s.ok()) return s;
      return found ? std::optional<std::string>(std::move(value)) : std::nullopt;
    }
    return NotHosted(name_, partition);
  }

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Range(
      std::optional<std::string_view> from, std::optional<std::string_view> to) override {
    auto hosted = registry_.Snapshot(name_);
    if (hosted.empty()) {
      return absl::UnavailableError(Cat("state store '", name_, "' has no partition hosted by "
                                        "this instance (yet: a rebalance may be under way)"));
    }
    std::vector<std::pair<std::string, std::string>> out;
    if (from && to && *from >= *to) return out;
    for (auto& [p, h] : hosted) {
      std::shared_lock<std::shared_mutex> lock(h->mu);
      if (h->store == nullptr) continue;
      if (!h->queryable) return Restoring(name_, p);
      if (h->store->rocks != nullptr) {
        std::unique_ptr<StoreIterator> it = h->db->ScanCommitted(h->db->Family(name_), from, to);
        for (; it->Valid(); it->Next()) out.emplace_back(std::string(it->key()), std::string(it->value()));
        if (absl::Status s = it->status(); !s.ok()) return s;
      } else {
        for (auto& entry : h->store->memory->CopyCommitted(from, to)) out.push_back(std::move(entry));
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  absl::StatusOr<uint64_t> ApproximateNumEntries() override {
    uint64_t n = 0;
    for (auto& [p, h] : registry_.Snapshot(name_)) {
      std::shared_lock<std::shared_mutex> lock(h->mu);
      if (h->store == nullptr || !h->queryable) continue;
      n += h->store->rocks != nullptr ? h->db->ApproximateNumEntries(h->db->Family(name_))
                                      : h->store->memory->CommittedCount();
    }
    return n;
  }

 private:
  StoreRegistry& registry_;
  std::string name_;
  int32_t partitions_;
};

void StoreRegistry::SetPartitionCounts(std::map<std::string, int32_t> partitions) {
  std::lock_guard<std::mutex> lock(mu_);
  partitions_ = std::move(partitions);
}

absl::StatusOr<std::shared_ptr<StoreReader>> StoreRegistry::Reader(const std::string& name) {
  if (std::find(stores_.begin(), stores_.end(), name) == stores_.end()) {
    return absl::NotFoundError(Cat("the topology has no state store named '", name, "'"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = partitions_.find(name);
  if (it == partitions_.end()) {
    return absl::UnavailableError(Cat("state store '", name, "' is not available yet: the "
                                      "application has not started, or is still starting"));
  }
  return std::shared_ptr<StoreReader>(new RegistryReader(*this, name, it->second));
}

}  // namespace sluice::internal
