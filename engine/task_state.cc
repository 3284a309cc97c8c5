#include "engine/task_state.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_join.h"
#include "sluice/internal/str.h"
#include "src/log.h"
#include "src/state/rocksdb_store.h"

namespace sluice::internal {
namespace {

std::string ChangelogKey(std::string_view store) { return Cat("changelog:", store); }
std::string InputKey(std::string_view topic) { return Cat("input:", topic); }

}  // namespace

absl::StatusOr<std::unique_ptr<TaskState>> TaskState::Open(std::vector<StoreSpec> specs,
                                                           Options options) {
  std::unique_ptr<TaskState> state(new TaskState());
  state->options_ = std::move(options);
  const Options& o = state->options_;
  std::vector<std::string> families;
  std::vector<std::string> unlogged;
  for (const StoreSpec& spec : specs) {
    if (!spec.persistent) continue;
    families.push_back(spec.name);
    if (!spec.logging) unlogged.push_back(spec.name);
  }
  std::map<std::string, int64_t> meta;
  if (!families.empty()) {
    absl::StatusOr<std::unique_ptr<TaskDb>> db = TaskDb::Open(o.dir, families, o.budget);
    if (db.status().code() == absl::StatusCode::kDataLoss) {
      if (!unlogged.empty()) {
        return absl::DataLossError(Cat(
            "task ", o.task, ": the RocksDB files in '", o.dir.string(), "' are corrupt, and "
            "store(s) ", absl::StrJoin(unlogged, ", "), " have logging disabled, so they cannot "
            "be rebuilt from a changelog (", db.status().message(), "); delete the directory "
            "to start those stores empty"));
      }
      Log(LogLevel::kWarn, "task ", o.task, ": the RocksDB files in '", o.dir.string(),
          "' are corrupt (", db.status().message(),
          "); wiping them and rebuilding the stores from their changelogs");
      if (absl::Status s = TaskDb::Wipe(o.dir); !s.ok()) return s;
      db = TaskDb::Open(o.dir, families, o.budget);
    }
    if (!db.ok()) {
      return absl::Status(db.status().code(),
                          Cat("task ", o.task, ": opening its state: ", db.status().message()));
    }
    state->db_ = std::move(*db);
    // Every store comes back from its changelog: the WAL would only repeat it.
    if (unlogged.empty()) state->db_->CommitWithoutWal();
    absl::StatusOr<std::map<std::string, int64_t>> read = state->db_->ReadMeta();
    if (!read.ok()) return read.status();
    meta = std::move(*read);
  }
  for (auto& [key, offset] : meta) {
    if (key.starts_with("input:")) state->committed_inputs_[key.substr(6)] = offset;
  }
  for (StoreSpec& spec : specs) {
    auto store = std::make_unique<Store>();
    store->spec = std::move(spec);
    if (store->spec.persistent) {
      auto it = meta.find(ChangelogKey(store->spec.name));
      if (it != meta.end()) store->checkpoint = it->second;
    }
    if (absl::Status s = state->Build(*store); !s.ok()) return s;
    state->stores_.push_back(std::move(store));
  }
  return state;
}

TaskState::~TaskState() {
  // Layers reference the database: drop them first.
  stores_.clear();
  db_.reset();
}

absl::Status TaskState::Build(Store& store) {
  const StoreSpec& spec = store.spec;
  std::unique_ptr<KeyValueBytesStore> layer;
  if (spec.persistent) {
    auto rocks = std::make_unique<RocksDbStore>(spec.name, *db_);
    store.rocks = rocks.get();
    layer = std::move(rocks);
  } else {
    auto memory = std::make_unique<MemoryStore>(spec.name);
    store.memory = memory.get();
    layer = std::move(memory);
  }
  store.inner = layer.get();
  if (spec.logging) {
    store.changelog_topic = Cat(options_.application_id, "-", spec.name, "-changelog");
    layer = std::make_unique<ChangeLoggingStore>(std::move(layer), *options_.collector,
                                                 store.changelog_topic, options_.partition);
  }
  if (spec.caching && options_.cache != nullptr && options_.cache->max_bytes > 0) {
    auto cache = std::make_unique<CachingStore>(std::move(layer), *options_.cache);
    store.cache = cache.get();
    layer = std::move(cache);
  }
  store.metrics = std::make_shared<StoreMetrics>();
  layer = std::make_unique<MeteredStore>(std::move(layer), store.metrics);
  store.outer = layer.get();
  store.stack = std::move(layer);
  return absl::OkStatus();
}

KeyValueBytesStore* TaskState::Get(std::string_view name) {
  for (auto& s : stores_) {
    if (s->spec.name == name) return s->outer;
  }
  return nullptr;
}

std::vector<TaskState::Store*> TaskState::stores() {
  std::vector<Store*> out;
  for (auto& s : stores_) out.push_back(s.get());
  return out;
}

absl::Status TaskState::ResetStore(Store& store) {
  // The layers stay (nodes hold them); only the contents go.
  store.checkpoint = -1;
  store.restored_keys.reset();
  if (store.cache != nullptr) store.cache->Discard();
  if (store.memory != nullptr) {
    store.memory->Clear();
    return absl::OkStatus();
  }
  db_->DiscardPending();
  // The checkpoint goes first: a crash between the two leaves data without a checkpoint,
  // which a full restore over it repairs, never a checkpoint over missing data.
  if (absl::Status s = db_->DeleteMeta(ChangelogKey(store.spec.name)); !s.ok()) return s;
  return db_->Clear(store.spec.name);
}

absl::Status TaskState::BeginFullRestore(Store& store, int64_t records) {
  store.restored_keys.reset();
  // In-memory reads are cheap; a store with contents must be read.
  if (store.rocks == nullptr || records <= 0) return absl::OkStatus();
  absl::StatusOr<bool> empty = db_->IsEmpty(db_->Family(store.spec.name));
  if (!empty.ok()) return empty.status();
  if (!*empty) return absl::OkStatus();
  store.restored_keys = std::make_unique<KeyFilter>(static_cast<size_t>(records));
  return db_->SetBulkLoad(db_->Family(store.spec.name), true);
}

absl::Status TaskState::Restore(Store& store, std::span<const ChangelogRecord> records) {
  if (store.cache != nullptr) store.cache->ForgetHeldKeys();  // written around the cache
  // The chunk folds to one final operation per key, which is then written in key order:
  // a memtable insert reuses the skiplist position of the previous insert, so sorted
  // writes search far less than writes in changelog order, and a key updated many times
  // in the chunk (a hot key's changelog) is written once.
  struct Current {
    bool present = false;       // what the store holds, as the chunk's records apply
    PositionSet positions;
    const ChangelogRecord* last = nullptr;  // the chunk's final applied record, if any
  };
  absl::flat_hash_map<std::string_view, size_t> index;
  std::vector<std::string_view> keys;
  for (const ChangelogRecord& r : records) {
    if (index.try_emplace(r.key, keys.size()).second) keys.push_back(r.key);
  }
  std::sort(keys.begin(), keys.end());
  for (size_t i = 0; i < keys.size(); ++i) index[keys[i]] = i;
  // Read what the store holds for the keys it may hold.
  std::vector<size_t> lookup;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (store.restored_keys == nullptr || store.restored_keys->MayContain(keys[i])) {
      lookup.push_back(i);
    }
  }
  std::vector<std::string> values(keys.size());
  std::vector<bool> found(keys.size(), false);
  if (store.rocks != nullptr) {
    std::vector<std::string_view> wanted;
    wanted.reserve(lookup.size());
    for (size_t i : lookup) wanted.push_back(keys[i]);
    std::vector<std::string> read;
    std::vector<bool> read_found;
    if (absl::Status s = db_->MultiGet(db_->Family(store.spec.name), wanted, &read, &read_found);
        !s.ok()) {
      return s;
    }
    for (size_t j = 0; j < lookup.size(); ++j) {
      values[lookup[j]] = std::move(read[j]);
      found[lookup[j]] = read_found[j];
    }
  } else {
    for (size_t i : lookup) {
      bool f = false;
      if (absl::Status s = store.inner->Get(keys[i], &values[i], &f); !s.ok()) return s;
      found[i] = f;
    }
  }
  std::vector<Current> current(keys.size());
  StoredValue stored;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (found[i] && DecodeStored(values[i], &stored)) {
      current[i].present = true;
      current[i].positions = std::move(stored.positions);
    }
  }
  for (const ChangelogRecord& r : records) {
    PositionSet incoming;
    std::string_view header = r.positions;
    if (!header.empty() && !incoming.ParseFrom(&header)) {
      return absl::DataLossError(Cat("changelog '", store.changelog_topic, "' partition ",
                                     options_.partition, " offset ", r.offset,
                                     ": malformed sluice.pos header"));
    }
    Current& c = current[index.at(r.key)];
    // A write the store already reflects (a replayed tail, a zombie's late write) must
    // not move the key back.
    if (!incoming.empty() && c.present && c.positions.CoversAll(incoming)) continue;
    c.present = r.value.has_value();
    c.positions = std::move(incoming);
    c.last = &r;
  }
  rocksdb::ColumnFamilyHandle* family = store.rocks != nullptr ? db_->Family(store.spec.name) : nullptr;
  for (size_t i = 0; i < keys.size(); ++i) {
    const Current& c = current[i];
    if (c.last == nullptr) continue;
    absl::Status s;
    if (c.last->value) {
      if (store.restored_keys != nullptr) store.restored_keys->Add(keys[i]);
      EncodeStored(*c.last->value, c.last->timestamp, c.positions, &scratch_);
      s = family != nullptr ? db_->RestorePut(family, keys[i], scratch_)
                            : store.inner->Put(keys[i], scratch_);
    } else if (found[i]) {  // a delete of a key the store lacks writes nothing
      s = family != nullptr ? db_->RestoreDelete(family, keys[i]) : store.inner->Delete(keys[i]);
    }
    if (!s.ok()) return s;
  }
  if (store.rocks != nullptr) return db_->WriteUnlogged();
  store.memory->Commit();
  return absl::OkStatus();
}

absl::Status TaskState::FinishRestore(const std::map<std::string, int64_t>& ends) {
  for (auto& store : stores_) {
    if (store->restored_keys == nullptr) continue;
    store->restored_keys.reset();
    if (absl::Status s = db_->SetBulkLoad(db_->Family(store->spec.name), false); !s.ok()) {
      return s;
    }
  }
  if (db_ == nullptr) return absl::OkStatus();
  if (absl::Status s = db_->FlushMemtables(); !s.ok()) return s;
  std::map<std::string, int64_t> meta;
  for (auto& store : stores_) {
    auto it = ends.find(store->spec.name);
    if (it == ends.end() || store->rocks == nullptr) continue;
    meta[ChangelogKey(store->spec.name)] = it->second;
    store->checkpoint = it->second;
  }
  return db_->Commit(meta);
}

absl::Status TaskState::FlushCaches() {
  for (auto& store : stores_) {
    if (absl::Status s = store->outer->Flush(); !s.ok()) {
      return absl::Status(s.code(), Cat("store '", store->spec.name, "': ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status TaskState::Commit(const std::map<std::string, int64_t, std::less<>>& input_positions) {
  for (auto& store : stores_) {
    if (store->memory != nullptr) store->memory->Commit();
  }
  if (db_ == nullptr) return absl::OkStatus();
  std::map<std::string, int64_t> meta;
  for (auto& store : stores_) {
    if (store->rocks == nullptr || store->changelog_topic.empty()) continue;
    int64_t end = options_.collector->ChangelogEnd(store->changelog_topic, options_.partition);
    if (end >= 0 && end > store->checkpoint) {
      meta[ChangelogKey(store->spec.name)] = end;
      store->checkpoint = end;
    }
  }
  for (const auto& [topic, offset] : input_positions) {
    meta[InputKey(topic)] = offset;
    committed_inputs_[topic] = offset;
  }
  absl::Status s = db_->Commit(meta);
  if (!s.ok()) return absl::Status(s.code(), Cat("task ", options_.task, ": ", s.message()));
  return absl::OkStatus();
}

bool TaskState::WantsCommit() const {
  size_t pending = db_ != nullptr ? db_->pending_bytes() : 0;
  for (const auto& store : stores_) {
    if (store->memory != nullptr) pending += store->memory->pending_bytes();
  }
  return pending > options_.max_pending_bytes;
}

void TaskState::Discard() {
  for (auto& store : stores_) {
    if (store->cache != nullptr) store->cache->Discard();
    if (store->memory != nullptr) store->memory->DiscardPending();
  }
  if (db_ != nullptr) db_->DiscardPending();
}

}  // namespace sluice::internal
