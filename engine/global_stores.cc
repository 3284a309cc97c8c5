#include "engine/global_stores.h"

#include "sluice/internal/str.h"
#include "src/log.h"

namespace sluice::internal {
namespace {

constexpr std::string_view kPositionPrefix = "global:";

std::string PositionKey(const std::string& topic, int32_t partition) {
  return Cat(kPositionPrefix, topic, ":", partition);
}

// A global store as tasks and interactive queries see it: committed state, read-only.
class GlobalView final : public KeyValueBytesStore {
 public:
  GlobalView(std::string name, TaskDb& db) : name_(std::move(name)), db_(db) {}
  const std::string& name() const override { return name_; }
  absl::Status Get(std::string_view key, std::string* value, bool* found) override {
    return db_.ReadCommitted(db_.Family(name_), key, value, found);
  }
  absl::Status Put(std::string_view, std::string_view) override { return ReadOnly(); }
  absl::Status Delete(std::string_view) override { return ReadOnly(); }
  absl::Status DropBefore(std::string_view) override { return ReadOnly(); }
  absl::StatusOr<std::unique_ptr<StoreIterator>> Range(std::optional<std::string_view> from,
                                                       std::optional<std::string_view> to) override {
    return db_.ScanCommitted(db_.Family(name_), from, to);
  }
  absl::StatusOr<uint64_t> ApproximateNumEntries() override {
    return db_.ApproximateNumEntries(db_.Family(name_));
  }
  absl::Status Flush() override { return absl::OkStatus(); }

 private:
  absl::Status ReadOnly() const {
    return absl::FailedPreconditionError(
        Cat("global store '", name_, "' is read-only: only its topic changes it"));
  }

  std::string name_;
  TaskDb& db_;
};

class GlobalReader final : public StoreReader {
 public:
  GlobalReader(std::shared_ptr<const void> owner, KeyValueBytesStore& view)
      : owner_(std::move(owner)), view_(view) {}
  const std::string& name() const override { return view_.name(); }
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    std::string value;
    bool found = false;
    if (absl::Status s = view_.Get(key, &value, &found); !s.ok()) return s;
    if (!found) return std::optional<std::string>();
    return std::optional<std::string>(std::move(value));
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Range(
      std::optional<std::string_view> from, std::optional<std::string_view> to) override {
    absl::StatusOr<std::unique_ptr<StoreIterator>> it = view_.Range(from, to);
    if (!it.ok()) return it.status();
    std::vector<std::pair<std::string, std::string>> out;
    for (; (*it)->Valid(); (*it)->Next()) out.emplace_back((*it)->key(), (*it)->value());
    if (absl::Status s = (*it)->status(); !s.ok()) return s;
    return out;
  }
  absl::StatusOr<uint64_t> ApproximateNumEntries() override { return view_.ApproximateNumEntries(); }

 private:
  std::shared_ptr<const void> owner_;
  KeyValueBytesStore& view_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GlobalStores>> GlobalStores::Open(
    std::vector<GlobalStoreSpec> specs, const std::filesystem::path& dir,
    std::shared_ptr<RocksDbBudget> budget) {
  std::unique_ptr<GlobalStores> g(new GlobalStores());
  g->specs_ = std::move(specs);
  std::vector<std::string> families;
  for (const GlobalStoreSpec& s : g->specs_) families.push_back(s.name);
  absl::StatusOr<std::unique_ptr<TaskDb>> db = TaskDb::Open(dir, families, budget);
  if (db.status().code() == absl::StatusCode::kDataLoss) {
    Log(LogLevel::kWarn, "the global stores' RocksDB files in '", dir.string(), "' are corrupt (",
        db.status().message(), "); wiping them and reading the global tables' topics again");
    if (absl::Status s = TaskDb::Wipe(dir); !s.ok()) return s;
    db = TaskDb::Open(dir, families, budget);
  }
  if (!db.ok()) {
    return absl::Status(db.status().code(), Cat("opening the global stores in '", dir.string(),
                                                "': ", db.status().message()));
  }
  g->db_ = std::move(*db);
  absl::StatusOr<std::map<std::string, int64_t>> meta = g->db_->ReadMeta();
  if (!meta.ok()) return meta.status();
  for (const auto& [key, offset] : *meta) {
    if (!key.starts_with(kPositionPrefix)) continue;
    const size_t colon = key.rfind(':');
    if (colon == std::string::npos || colon < kPositionPrefix.size()) continue;
    const std::string topic = key.substr(kPositionPrefix.size(), colon - kPositionPrefix.size());
    g->positions_[{topic, std::atoi(key.c_str() + colon + 1)}] = offset;
  }
  for (const GlobalStoreSpec& s : g->specs_) {
    g->views_.emplace(s.name, std::make_unique<GlobalView>(s.name, *g->db_));
  }
  return g;
}

GlobalStores::~GlobalStores() {
  views_.clear();
  db_.reset();
}

const GlobalStoreSpec* GlobalStores::ForTopic(std::string_view topic) const {
  for (const GlobalStoreSpec& s : specs_) {
    if (s.topic == topic) return &s;
  }
  return nullptr;
}

absl::Status GlobalStores::Apply(std::string_view topic, int32_t partition,
                                 std::span<const RawRecord> records,
                                 DeserializationErrorPolicy policy, uint64_t* skipped) {
  const GlobalStoreSpec* spec = ForTopic(topic);
  if (spec == nullptr) return absl::InternalError(Cat("no global table reads topic '", topic, "'"));
  rocksdb::ColumnFamilyHandle* cf = db_->Family(spec->name);
  for (const RawRecord& r : records) {
    const std::optional<std::string_view> value =
        r.value.data() == nullptr ? std::nullopt : std::optional<std::string_view>(r.value);
    absl::Status check = r.key.data() == nullptr
                             ? absl::InvalidArgumentError("the key is null")
                             : (spec->check ? spec->check(r.key, value) : absl::OkStatus());
    if (!check.ok()) {
      absl::Status why = absl::InvalidArgumentError(
          Cat("global store '", spec->name, "': the record at topic '", topic, "' partition ",
              partition, " offset ", r.offset, " cannot be applied: ", check.message()));
      if (policy == DeserializationErrorPolicy::kFail) return why;
      if (skipped != nullptr) ++*skipped;
      Log(LogLevel::kWarn, why.message(), " (skipped: default.deserialization.exception.handler=continue)");
    } else if (value) {
      EncodeStored(*value, r.timestamp, PositionSet(), &envelope_);
      if (absl::Status s = db_->Put(cf, r.key, envelope_); !s.ok()) return s;
    } else {
      if (absl::Status s = db_->Delete(cf, r.key); !s.ok()) return s;
    }
    pending_[{std::string(topic), partition}] = r.offset + 1;
  }
  return absl::OkStatus();
}

absl::Status GlobalStores::Commit() {
  if (pending_.empty()) return absl::OkStatus();
  std::map<std::string, int64_t> meta;
  for (const auto& [tp, offset] : pending_) meta[PositionKey(tp.first, tp.second)] = offset;
  if (absl::Status s = db_->Commit(meta); !s.ok()) return s;
  for (const auto& [tp, offset] : pending_) positions_[tp] = offset;
  pending_.clear();
  return absl::OkStatus();
}

KeyValueBytesStore* GlobalStores::View(std::string_view name) {
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : it->second.get();
}

absl::StatusOr<std::shared_ptr<StoreReader>> GlobalStores::Reader(std::string_view name) {
  KeyValueBytesStore* view = View(name);
  if (view == nullptr) return absl::NotFoundError(Cat("no global store '", name, "'"));
  return std::shared_ptr<StoreReader>(std::make_shared<GlobalReader>(shared_from_this(), *view));
}

}  // namespace sluice::internal
