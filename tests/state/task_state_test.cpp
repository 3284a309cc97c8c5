// TaskState: the stores of one task over one RocksDB database, built per StoreSpec;
// opening a corrupt or busy directory; restoration from changelog records (positions
// decide what applies); FinishRestore's checkpoint; commits (input offsets and changelog
// checkpoints in the task's metadata); commits without the WAL and what a crash leaves
// of them; WantsCommit; Discard.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/task_state.h"
#include "sluice/internal/state_store.h"
#include "tests/state/state_test_util.h"

namespace sluice::internal {
namespace {

using testing::EncodedPositions;
using testing::Envelope;
using testing::FakeCollector;
using testing::GetValue;
using testing::Keys;
using testing::Positions;
using testing::Scan;
using testing::TempDir;
using testing::ValueOf;
using testing::WriteGarbage;
namespace fs = std::filesystem;

StoreSpec Spec(std::string name, bool persistent, bool logging = true, bool caching = true) {
  StoreSpec spec;
  spec.name = std::move(name);
  spec.persistent = persistent;
  spec.logging = logging;
  spec.caching = caching;
  return spec;
}

// A changelog record that owns its bytes.
struct Rec {
  std::string key;
  std::optional<std::string> value;
  int64_t timestamp = 0;
  std::string positions;  // encoded sluice.pos header; empty: none
  int64_t offset = -1;
};

Rec Put(std::string key, std::string value, const PositionSet& positions, int64_t offset,
        int64_t timestamp = 100) {
  return Rec{std::move(key), std::move(value), timestamp,
             positions.empty() ? std::string() : EncodedPositions(positions), offset};
}

Rec Tombstone(std::string key, int64_t offset) {
  return Rec{std::move(key), std::nullopt, 0, std::string(), offset};
}

class RecordingListener final : public CacheFlushListener {
 public:
  void OnFlush(std::string_view key, std::optional<std::string_view>,
               std::optional<std::string_view>) override {
    keys.emplace_back(key);
  }
  std::vector<std::string> keys;
};

class TaskStateTest : public ::testing::Test {
 protected:
  fs::path dir() const { return tmp_.path() / "app" / "0_3"; }

  TaskState::Options Options() {
    TaskState::Options o;
    o.dir = dir();
    o.budget = budget_;
    o.cache = &cache_;
    o.collector = &collector_;
    o.application_id = "app";
    o.partition = 3;
    o.task = "0_3";
    return o;
  }

  std::unique_ptr<TaskState> Open(std::vector<StoreSpec> specs) {
    return Open(std::move(specs), Options());
  }
  std::unique_ptr<TaskState> Open(std::vector<StoreSpec> specs, TaskState::Options options) {
    absl::StatusOr<std::unique_ptr<TaskState>> state =
        TaskState::Open(std::move(specs), std::move(options));
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? std::move(*state) : nullptr;
  }

  static TaskState::Store* Find(TaskState& state, std::string_view name) {
    for (TaskState::Store* s : state.stores()) {
      if (s->spec.name == name) return s;
    }
    ADD_FAILURE() << "no store " << name;
    return nullptr;
  }

  static absl::Status Restore(TaskState& state, TaskState::Store& store,
                              const std::vector<Rec>& recs) {
    std::vector<ChangelogRecord> records;
    for (const Rec& r : recs) {
      ChangelogRecord c;
      c.key = r.key;
      if (r.value) c.value = std::string_view(*r.value);
      c.timestamp = r.timestamp;
      c.positions = r.positions;
      c.offset = r.offset;
      records.push_back(c);
    }
    return state.Restore(store, records);
  }

  // The user value a store's layer holds for `key`, or nullopt.
  static std::optional<std::string> UserValue(KeyValueBytesStore& store, std::string_view key) {
    std::optional<std::string> envelope = GetValue(store, key);
    if (!envelope) return std::nullopt;
    return ValueOf(*envelope);
  }

  // What another thread would read: the committed state of a store.
  static std::optional<std::string> Committed(TaskState& state, TaskState::Store& store,
                                              std::string_view key) {
    std::string value;
    bool found = false;
    absl::Status s = store.rocks != nullptr
                         ? state.db()->ReadCommitted(state.db()->Family(store.spec.name), key,
                                                     &value, &found)
                         : store.memory->ReadCommitted(key, &value, &found);
    EXPECT_TRUE(s.ok()) << s;
    return found ? std::optional<std::string>(ValueOf(value)) : std::nullopt;
  }

  void SetChangelogEnd(std::string_view store, int64_t end) {
    collector_.ends[{"app-" + std::string(store) + "-changelog", 3}] = end;
  }

  TempDir tmp_;
  std::shared_ptr<RocksDbBudget> budget_ = std::make_shared<RocksDbBudget>(8u << 20);
  CacheBudget cache_{1u << 20, 0};
  FakeCollector collector_;
};

// --- Open --------------------------------------------------------------------------------

TEST_F(TaskStateTest, OpenBuildsTheLayersEachSpecAsksFor) {
  std::unique_ptr<TaskState> state =
      Open({Spec("counts", true), Spec("raw", true, false, false), Spec("mem", false),
            Spec("scratch", false, false, false)});
  ASSERT_NE(state, nullptr);
  ASSERT_EQ(state->stores().size(), 4u);
  EXPECT_NE(state->db(), nullptr);
  EXPECT_EQ(state->db()->dir(), dir());

  TaskState::Store* counts = Find(*state, "counts");
  EXPECT_NE(counts->rocks, nullptr);
  EXPECT_EQ(counts->memory, nullptr);
  EXPECT_NE(counts->cache, nullptr);
  EXPECT_EQ(counts->inner, counts->rocks);
  EXPECT_EQ(counts->changelog_topic, "app-counts-changelog");
  EXPECT_EQ(counts->checkpoint, -1);
  EXPECT_NE(counts->metrics, nullptr);
  EXPECT_EQ(state->Get("counts"), counts->outer);
  EXPECT_TRUE(counts->outer->caching());
  EXPECT_EQ(counts->outer->name(), "counts");

  TaskState::Store* raw = Find(*state, "raw");
  EXPECT_NE(raw->rocks, nullptr);
  EXPECT_EQ(raw->cache, nullptr);
  EXPECT_EQ(raw->changelog_topic, "");
  EXPECT_FALSE(raw->outer->caching());

  TaskState::Store* mem = Find(*state, "mem");
  EXPECT_NE(mem->memory, nullptr);
  EXPECT_EQ(mem->rocks, nullptr);
  EXPECT_EQ(mem->inner, mem->memory);
  EXPECT_NE(mem->cache, nullptr);
  EXPECT_EQ(mem->changelog_topic, "app-mem-changelog");

  TaskState::Store* scratch = Find(*state, "scratch");
  EXPECT_NE(scratch->memory, nullptr);
  EXPECT_EQ(scratch->cache, nullptr);
  EXPECT_EQ(scratch->changelog_topic, "");
  EXPECT_EQ(state->Get("nope"), nullptr);

  // Writes through each stack: cached ones reach the changelog at FlushCaches, on the
  // task's partition; unlogged ones never do; metrics count at the top.
  for (const char* name : {"counts", "raw", "mem", "scratch"}) {
    ASSERT_TRUE(state->Get(name)->Put("k", Envelope(name, 1, Positions({{0, 1, 0}}))).ok());
  }
  EXPECT_TRUE(collector_.sent.empty());
  ASSERT_TRUE(state->FlushCaches().ok());
  ASSERT_EQ(collector_.sent.size(), 2u);
  std::map<std::string, std::string> sent;
  for (const auto& r : collector_.sent) {
    EXPECT_EQ(r.partition, 3);
    EXPECT_TRUE(r.changelog);
    sent[r.topic] = *r.value;
  }
  EXPECT_EQ(sent, (std::map<std::string, std::string>{{"app-counts-changelog", "counts"},
                                                      {"app-mem-changelog", "mem"}}));
  EXPECT_EQ(counts->metrics->puts.load(), 1u);
  EXPECT_EQ(scratch->metrics->puts.load(), 1u);
}

TEST_F(TaskStateTest, NoStoreCachesWithoutACacheBudgetOrWithAZeroOne) {
  TaskState::Options options = Options();
  options.cache = nullptr;
  std::unique_ptr<TaskState> state = Open({Spec("counts", true), Spec("mem", false)}, options);
  ASSERT_NE(state, nullptr);
  for (TaskState::Store* s : state->stores()) {
    EXPECT_EQ(s->cache, nullptr) << s->spec.name;
    EXPECT_FALSE(s->outer->caching());
  }
  // Every write goes straight to the changelog.
  ASSERT_TRUE(state->Get("counts")->Put("k", Envelope("v")).ok());
  EXPECT_EQ(collector_.sent.size(), 1u);
  state.reset();

  CacheBudget zero{0, 0};
  options = Options();
  options.cache = &zero;
  state = Open({Spec("counts", true)}, options);
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(Find(*state, "counts")->cache, nullptr);
}

TEST_F(TaskStateTest, InMemoryStoresAloneOpenNoDatabase) {
  std::unique_ptr<TaskState> state = Open({Spec("mem", false)});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->db(), nullptr);
  EXPECT_FALSE(fs::exists(dir()));
  ASSERT_TRUE(state->Get("mem")->Put("k", Envelope("v")).ok());
  ASSERT_TRUE(state->FlushCaches().ok());
  ASSERT_TRUE(state->Commit({{"clicks", 5}}).ok());
  EXPECT_EQ(Committed(*state, *Find(*state, "mem"), "k"), "v");
  ASSERT_TRUE(state->FinishRestore({{"mem", 10}}).ok());
  EXPECT_EQ(Find(*state, "mem")->checkpoint, -1);
}

TEST_F(TaskStateTest, ACorruptDirectoryIsWipedAndReopenedEmptyWhenEveryPersistentStoreIsLogged) {
  {
    std::unique_ptr<TaskState> state = Open({Spec("counts", true), Spec("joins", true)});
    ASSERT_NE(state, nullptr);
    ASSERT_TRUE(state->Get("counts")->Put("k", Envelope("before")).ok());
    ASSERT_TRUE(state->FlushCaches().ok());
    SetChangelogEnd("counts", 1);
    ASSERT_TRUE(state->Commit({{"clicks", 1}}).ok());
  }
  // See TaskDbTest.AGarbageCurrentFileIsDataLoss: RocksDB reports Corruption.
  WriteGarbage(dir() / "CURRENT", "this is not a RocksDB file");
  std::unique_ptr<TaskState> state = Open({Spec("counts", true), Spec("joins", true)});
  ASSERT_NE(state, nullptr);
  TaskState::Store* counts = Find(*state, "counts");
  EXPECT_EQ(counts->checkpoint, -1) << "the checkpoint went with the files";
  EXPECT_TRUE(state->committed_inputs().empty());
  EXPECT_EQ(GetValue(*state->Get("counts"), "k"), std::nullopt);
  EXPECT_TRUE(Scan(*state->Get("joins"), std::nullopt, std::nullopt).empty());

  // The new database works and keeps what is committed.
  ASSERT_TRUE(state->Get("counts")->Put("k", Envelope("after")).ok());
  ASSERT_TRUE(state->FlushCaches().ok());
  ASSERT_TRUE(state->Commit({{"clicks", 2}}).ok());
  state.reset();
  state = Open({Spec("counts", true), Spec("joins", true)});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(UserValue(*state->Get("counts"), "k"), "after");
  EXPECT_EQ(state->committed_inputs(), (std::map<std::string, int64_t>{{"clicks", 2}}));
}

TEST_F(TaskStateTest, ACorruptDirectoryWithAnUnloggedPersistentStoreIsDataLossNamingIt) {
  {
    std::unique_ptr<TaskState> state =
        Open({Spec("counts", true), Spec("ledger", true, /*logging=*/false)});
    ASSERT_NE(state, nullptr);
    ASSERT_TRUE(state->Get("ledger")->Put("k", Envelope("precious")).ok());
    ASSERT_TRUE(state->FlushCaches().ok());
    ASSERT_TRUE(state->Commit({}).ok());
  }
  WriteGarbage(dir() / "CURRENT", "this is not a RocksDB file");
  absl::StatusOr<std::unique_ptr<TaskState>> state = TaskState::Open(
      {Spec("counts", true), Spec("ledger", true, /*logging=*/false)}, Options());
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), absl::StatusCode::kDataLoss) << state.status();
  const std::string message(state.status().message());
  EXPECT_NE(message.find("ledger"), std::string::npos) << message;
  EXPECT_NE(message.find(dir().string()), std::string::npos) << message;
  EXPECT_EQ(message.find("counts"), std::string::npos)
      << "only the stores that cannot be rebuilt are named: " << message;
  EXPECT_TRUE(fs::exists(dir() / "CURRENT")) << "nothing was wiped";
}

TEST_F(TaskStateTest, ADirectoryAnotherTaskStateHoldsIsFailedPreconditionNamingIt) {
  std::unique_ptr<TaskState> first = Open({Spec("counts", true)});
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<TaskState>> second =
      TaskState::Open({Spec("counts", true)}, Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(std::string(second.status().message()).find(dir().string()), std::string::npos)
      << second.status();
  EXPECT_NE(std::string(second.status().message()).find("0_3"), std::string::npos) << second.status();
}

// --- Restore, for both store kinds ---------------------------------------------------------

// Parameters: persistent or in-memory; begun as a full restore (an empty persistent store
// then skips reads of keys it has not written) or not.
class TaskStateRestore : public TaskStateTest,
                         public ::testing::WithParamInterface<std::tuple<bool, bool>> {
 protected:
  void SetUp() override {
    state_ = Open({Spec("s", std::get<0>(GetParam()))});
    ASSERT_NE(state_, nullptr);
    store_ = Find(*state_, "s");
    if (std::get<1>(GetParam())) {
      ASSERT_TRUE(state_->BeginFullRestore(*store_, 100).ok());
    }
  }
  std::optional<std::string> Value(std::string_view key) { return UserValue(*store_->inner, key); }

  std::unique_ptr<TaskState> state_;
  TaskState::Store* store_ = nullptr;
};

TEST_P(TaskStateRestore, RecordsAreAppliedWithTheirTimestampAndPositions) {
  ASSERT_TRUE(Restore(*state_, *store_,
                      {Put("a", "1", Positions({{0, 10, 0}}), 0, 1000),
                       Put("b", "2", Positions({{0, 11, 1}, {1, 4, 0}}), 1, 2000),
                       Put("c", "", Positions({{0, 12, 0}}), 2, -7)})
                  .ok());
  EXPECT_TRUE(collector_.sent.empty()) << "restoration writes below the changelog layer";
  std::optional<std::string> b = GetValue(*store_->inner, "b");
  ASSERT_TRUE(b.has_value());
  StoredValue stored;
  ASSERT_TRUE(DecodeStored(*b, &stored));
  EXPECT_EQ(stored.value, "2");
  EXPECT_EQ(stored.timestamp, 2000);
  EXPECT_EQ(EncodedPositions(stored.positions), EncodedPositions(Positions({{0, 11, 1}, {1, 4, 0}})));
  EXPECT_EQ(Value("a"), "1");
  EXPECT_EQ(Value("c"), "");
  // Through the whole stack too, and already in the committed state.
  EXPECT_EQ(UserValue(*store_->outer, "a"), "1");
  EXPECT_EQ(Committed(*state_, *store_, "a"), "1");
  EXPECT_EQ(Committed(*state_, *store_, "c"), "");
}

TEST_P(TaskStateRestore, ARecordWhosePositionsTheStoreAlreadyCoversIsSkipped) {
  ASSERT_TRUE(Restore(*state_, *store_,
                      {Put("k", "new", Positions({{0, 50, 1}}), 10),
                       // Older writes, in the same batch: a zombie's late write, a replay.
                       Put("k", "older", Positions({{0, 49, 0}}), 11),
                       Put("k", "older-sub", Positions({{0, 50, 0}}), 12),
                       Put("k", "same", Positions({{0, 50, 1}}), 13)})
                  .ok());
  EXPECT_EQ(Value("k"), "new");
  // And in a later batch.
  ASSERT_TRUE(Restore(*state_, *store_, {Put("k", "stale", Positions({{0, 3, 0}}), 14)}).ok());
  EXPECT_EQ(Value("k"), "new");
  EXPECT_EQ(Committed(*state_, *store_, "k"), "new");
}

TEST_P(TaskStateRestore, ARecordWithANewerPositionReplacesTheValue) {
  ASSERT_TRUE(Restore(*state_, *store_,
                      {Put("k", "v1", Positions({{0, 50, 0}}), 0),
                       Put("k", "v2", Positions({{0, 50, 1}}), 1)})
                  .ok());
  EXPECT_EQ(Value("k"), "v2");
  ASSERT_TRUE(Restore(*state_, *store_, {Put("k", "v3", Positions({{0, 51, 0}}), 2)}).ok());
  EXPECT_EQ(Value("k"), "v3");
  // A source the stored value has no entry for is not covered.
  ASSERT_TRUE(Restore(*state_, *store_, {Put("k", "v4", Positions({{1, 0, 0}}), 3)}).ok());
  EXPECT_EQ(Value("k"), "v4");
  // Covered only in part: applies.
  ASSERT_TRUE(Restore(*state_, *store_,
                      {Put("k", "v5", Positions({{1, 0, 0}, {0, 60, 0}}), 4)})
                  .ok());
  EXPECT_EQ(Value("k"), "v5");
}

TEST_P(TaskStateRestore, ARecordWithoutPositionsAlwaysApplies) {
  ASSERT_TRUE(Restore(*state_, *store_,
                      {Put("k", "positioned", Positions({{0, 100, 0}}), 0),
                       Put("k", "plain", PositionSet(), 1)})
                  .ok());
  EXPECT_EQ(Value("k"), "plain");
  ASSERT_TRUE(Restore(*state_, *store_, {Put("k", "plain-again", PositionSet(), 2)}).ok());
  EXPECT_EQ(Value("k"), "plain-again");
  // A value stored without positions covers nothing.
  ASSERT_TRUE(Restore(*state_, *store_, {Put("k", "old", Positions({{0, 1, 0}}), 3)}).ok());
  EXPECT_EQ(Value("k"), "old");
}

TEST_P(TaskStateRestore, ANullValueDeletesTheKey) {
  ASSERT_TRUE(Restore(*state_, *store_,
                      {Put("a", "1", Positions({{0, 1, 0}}), 0),
                       Put("b", "2", Positions({{0, 2, 0}}), 1), Tombstone("a", 2),
                       Tombstone("never-there", 3)})
                  .ok());
  EXPECT_EQ(Value("a"), std::nullopt);
  EXPECT_EQ(Value("b"), "2");
  EXPECT_EQ(Keys(Scan(*store_->outer, std::nullopt, std::nullopt)), (std::vector<std::string>{"b"}));
  EXPECT_EQ(Committed(*state_, *store_, "a"), std::nullopt);
  // After a delete, an older position applies again: the delete dropped the positions.
  ASSERT_TRUE(Restore(*state_, *store_, {Put("a", "again", Positions({{0, 1, 0}}), 4)}).ok());
  EXPECT_EQ(Value("a"), "again");
}

TEST_P(TaskStateRestore, AMalformedPositionsHeaderIsDataLossNamingTopicAndOffset) {
  Rec bad = Put("k", "v", PositionSet(), 77);
  bad.positions = std::string(2, '\xff');
  absl::Status s = Restore(*state_, *store_, {bad});
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(std::string(s.message()).find("app-s-changelog"), std::string::npos) << s;
  EXPECT_NE(std::string(s.message()).find("77"), std::string::npos) << s;
}

TEST_P(TaskStateRestore, ResetStoreEmptiesTheStore) {
  ASSERT_TRUE(Restore(*state_, *store_,
                      {Put("a", "1", Positions({{0, 1, 0}}), 0),
                       Put("b", "2", Positions({{0, 2, 0}}), 1)})
                  .ok());
  ASSERT_TRUE(state_->FinishRestore({{"s", 2}}).ok());
  ASSERT_TRUE(state_->Get("s")->Put("c", Envelope("3")).ok());
  ASSERT_TRUE(state_->FlushCaches().ok());
  ASSERT_TRUE(state_->Commit({}).ok());
  ASSERT_TRUE(state_->Get("s")->Put("pending", Envelope("4")).ok());

  ASSERT_TRUE(state_->ResetStore(*store_).ok());
  EXPECT_EQ(store_->checkpoint, -1);
  KeyValueBytesStore* outer = state_->Get("s");
  ASSERT_NE(outer, nullptr);
  EXPECT_TRUE(Scan(*outer, std::nullopt, std::nullopt).empty());
  EXPECT_EQ(GetValue(*outer, "a"), std::nullopt);
  EXPECT_EQ(GetValue(*outer, "pending"), std::nullopt);
  EXPECT_EQ(Committed(*state_, *store_, "c"), std::nullopt);

  // Restoring from the beginning refills it.
  ASSERT_TRUE(Restore(*state_, *store_, {Put("a", "1", Positions({{0, 1, 0}}), 0)}).ok());
  EXPECT_EQ(Value("a"), "1");
  EXPECT_EQ(Value("b"), std::nullopt);
}

TEST_P(TaskStateRestore, OlderWritesInLaterChunksAreSkippedOverManyKeys) {
  // Chunk 1 writes 5000 keys at offset 1000+i; chunk 2 replays them all at older offsets
  // (a zombie) and updates every third key at a newer one. Whether or not the restore
  // skipped its reads, each key must end at its newest write.
  std::vector<Rec> first, second;
  for (int i = 0; i < 5000; ++i) {
    first.push_back(Put("key-" + std::to_string(i), "new-" + std::to_string(i),
                        Positions({{0, 1000 + i, 0}}), i));
  }
  for (int i = 0; i < 5000; ++i) {
    second.push_back(Put("key-" + std::to_string(i), "zombie", Positions({{0, i, 0}}), 5000 + i));
    if (i % 3 == 0) {
      second.push_back(Put("key-" + std::to_string(i), "newer-" + std::to_string(i),
                           Positions({{0, 9000 + i, 0}}), 10000 + i));
    }
  }
  ASSERT_TRUE(Restore(*state_, *store_, first).ok());
  ASSERT_TRUE(Restore(*state_, *store_, second).ok());
  ASSERT_TRUE(state_->FinishRestore({{"s", 20000}}).ok());
  for (int i = 0; i < 5000; ++i) {
    const std::string want = (i % 3 == 0 ? "newer-" : "new-") + std::to_string(i);
    ASSERT_EQ(Value("key-" + std::to_string(i)), want) << "key-" << i;
    ASSERT_EQ(Committed(*state_, *store_, "key-" + std::to_string(i)), want) << "key-" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    BothKinds, TaskStateRestore, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<bool, bool>>& info) {
      return std::string(std::get<0>(info.param) ? "RocksDb" : "Memory") +
             (std::get<1>(info.param) ? "FullRestore" : "TailRestore");
    });

TEST_F(TaskStateTest, AFullRestoreIntoAStoreThatHoldsDataStillReadsIt) {
  // Data without a checkpoint (a crash during a reset left it): a full restore must not
  // assume the store is empty.
  std::unique_ptr<TaskState> state = Open({Spec("s", true)});
  ASSERT_NE(state, nullptr);
  TaskState::Store* store = Find(*state, "s");
  ASSERT_TRUE(Restore(*state, *store, {Put("k", "newest", Positions({{0, 50, 0}}), 0)}).ok());
  ASSERT_TRUE(state->BeginFullRestore(*store, 10).ok());
  ASSERT_TRUE(Restore(*state, *store, {Put("k", "older", Positions({{0, 10, 0}}), 0)}).ok());
  EXPECT_EQ(UserValue(*store->inner, "k"), "newest");
}

TEST_F(TaskStateTest, AResetDuringAFullRestoreStartsItAfresh) {
  std::unique_ptr<TaskState> state = Open({Spec("s", true)});
  ASSERT_NE(state, nullptr);
  TaskState::Store* store = Find(*state, "s");
  ASSERT_TRUE(state->BeginFullRestore(*store, 10).ok());
  ASSERT_TRUE(Restore(*state, *store, {Put("k", "v1", Positions({{0, 50, 0}}), 0)}).ok());
  // The changelog was truncated: the restorer resets the store and begins again.
  ASSERT_TRUE(state->ResetStore(*store).ok());
  ASSERT_TRUE(state->BeginFullRestore(*store, 10).ok());
  ASSERT_TRUE(Restore(*state, *store, {Put("k", "v0", Positions({{0, 40, 0}}), 0),
                                       Put("k", "stale", Positions({{0, 30, 0}}), 1)})
                  .ok());
  ASSERT_TRUE(state->FinishRestore({{"s", 2}}).ok());
  EXPECT_EQ(UserValue(*store->inner, "k"), "v0");
  // After the restore the store takes ordinary writes, and a reopen sees its checkpoint.
  ASSERT_TRUE(state->Get("s")->Put("w", Envelope("1")).ok());
  ASSERT_TRUE(state->FlushCaches().ok());
  ASSERT_TRUE(state->Commit({}).ok());
  EXPECT_EQ(Committed(*state, *store, "w"), "1");
  state.reset();
  state = Open({Spec("s", true)});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(Find(*state, "s")->checkpoint, 2);
}

TEST_F(TaskStateTest, ResetStoreOfAnInMemoryStoreKeepsItsFlushListener) {
  std::unique_ptr<TaskState> state = Open({Spec("mem", false)});
  ASSERT_NE(state, nullptr);
  TaskState::Store* mem = Find(*state, "mem");
  KeyValueBytesStore* outer = mem->outer;
  std::shared_ptr<StoreMetrics> metrics = mem->metrics;
  RecordingListener listener;
  state->Get("mem")->SetFlushListener(&listener);
  ASSERT_TRUE(state->ResetStore(*mem).ok());
  EXPECT_EQ(mem->outer, outer) << "the graph's nodes still hold the old outer layer";
  EXPECT_EQ(mem->metrics, metrics);
  ASSERT_TRUE(state->Get("mem")->Put("k", Envelope("v")).ok());
  ASSERT_TRUE(state->FlushCaches().ok());
  EXPECT_EQ(listener.keys, (std::vector<std::string>{"k"}));
}

// --- Checkpoints and commits -----------------------------------------------------------

TEST_F(TaskStateTest, FinishRestoreWritesTheCheckpointThatAReopenReports) {
  {
    std::unique_ptr<TaskState> state =
        Open({Spec("counts", true), Spec("other", true), Spec("mem", false)});
    ASSERT_NE(state, nullptr);
    TaskState::Store* counts = Find(*state, "counts");
    ASSERT_TRUE(Restore(*state, *counts,
                        {Put("a", "1", Positions({{0, 1, 0}}), 0),
                         Put("b", "2", Positions({{0, 2, 0}}), 6)})
                    .ok());
    ASSERT_TRUE(Restore(*state, *Find(*state, "mem"), {Put("m", "1", PositionSet(), 0)}).ok());
    ASSERT_TRUE(state->FinishRestore({{"counts", 7}, {"mem", 1}}).ok());
    EXPECT_EQ(counts->checkpoint, 7);
    EXPECT_EQ(Find(*state, "other")->checkpoint, -1) << "not in the ends: untouched";
    EXPECT_EQ(Find(*state, "mem")->checkpoint, -1) << "in-memory stores keep no checkpoint";
  }
  std::unique_ptr<TaskState> state =
      Open({Spec("counts", true), Spec("other", true), Spec("mem", false)});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(Find(*state, "counts")->checkpoint, 7);
  EXPECT_EQ(Find(*state, "other")->checkpoint, -1);
  EXPECT_EQ(Find(*state, "mem")->checkpoint, -1);
  EXPECT_EQ(UserValue(*state->Get("counts"), "a"), "1");
  EXPECT_EQ(UserValue(*state->Get("counts"), "b"), "2");
  EXPECT_EQ(GetValue(*state->Get("mem"), "m"), std::nullopt) << "memory is not kept";
}

TEST_F(TaskStateTest, AResetStoresCheckpointDoesNotSurviveAReopen) {
  {
    std::unique_ptr<TaskState> state = Open({Spec("counts", true)});
    ASSERT_NE(state, nullptr);
    TaskState::Store* counts = Find(*state, "counts");
    ASSERT_TRUE(Restore(*state, *counts, {Put("a", "1", Positions({{0, 1, 0}}), 0)}).ok());
    ASSERT_TRUE(state->FinishRestore({{"counts", 10}}).ok());
    ASSERT_TRUE(state->ResetStore(*counts).ok());
    EXPECT_EQ(counts->checkpoint, -1);
    // The process dies before the store is restored again.
  }
  std::unique_ptr<TaskState> state = Open({Spec("counts", true)});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(GetValue(*state->Get("counts"), "a"), std::nullopt);
  EXPECT_EQ(Find(*state, "counts")->checkpoint, -1)
      << "an empty store must not claim to reflect the changelog up to 10";
}

TEST_F(TaskStateTest, CommitWritesInputOffsetsThatAReopenReports) {
  {
    std::unique_ptr<TaskState> state = Open({Spec("counts", true)});
    ASSERT_NE(state, nullptr);
    EXPECT_TRUE(state->committed_inputs().empty());
    ASSERT_TRUE(state->Commit({{"clicks", 10}, {"app-repartition", 4}}).ok());
    EXPECT_EQ(state->committed_inputs(),
              (std::map<std::string, int64_t>{{"clicks", 10}, {"app-repartition", 4}}));
    ASSERT_TRUE(state->Commit({{"clicks", 12}}).ok());
    EXPECT_EQ(state->committed_inputs(),
              (std::map<std::string, int64_t>{{"clicks", 12}, {"app-repartition", 4}}));
  }
  std::unique_ptr<TaskState> state = Open({Spec("counts", true)});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->committed_inputs(),
            (std::map<std::string, int64_t>{{"clicks", 12}, {"app-repartition", 4}}));
}

TEST_F(TaskStateTest, CommitTakesTheCheckpointFromTheCollectorOnlyWhenItIsAhead) {
  std::unique_ptr<TaskState> state =
      Open({Spec("counts", true), Spec("ledger", true, /*logging=*/false), Spec("mem", false)});
  ASSERT_NE(state, nullptr);
  TaskState::Store* counts = Find(*state, "counts");
  ASSERT_TRUE(state->Commit({}).ok());
  EXPECT_EQ(counts->checkpoint, -1) << "nothing acknowledged yet";

  SetChangelogEnd("counts", 5);
  SetChangelogEnd("mem", 9);
  collector_.ends[{"app-counts-changelog", 4}] = 100;  // another partition's
  ASSERT_TRUE(state->Commit({}).ok());
  EXPECT_EQ(counts->checkpoint, 5);
  EXPECT_EQ(Find(*state, "ledger")->checkpoint, -1);
  EXPECT_EQ(Find(*state, "mem")->checkpoint, -1);

  SetChangelogEnd("counts", 3);  // behind the checkpoint: ignored
  ASSERT_TRUE(state->Commit({}).ok());
  EXPECT_EQ(counts->checkpoint, 5);
  collector_.ends.erase({"app-counts-changelog", 3});  // none acknowledged: ignored
  ASSERT_TRUE(state->Commit({}).ok());
  EXPECT_EQ(counts->checkpoint, 5);
  state.reset();

  state = Open({Spec("counts", true), Spec("ledger", true, false), Spec("mem", false)});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(Find(*state, "counts")->checkpoint, 5);
  EXPECT_EQ(Find(*state, "ledger")->checkpoint, -1);
  SetChangelogEnd("counts", 9);
  ASSERT_TRUE(state->Commit({}).ok());
  EXPECT_EQ(Find(*state, "counts")->checkpoint, 9);
  state.reset();
  state = Open({Spec("counts", true), Spec("ledger", true, false), Spec("mem", false)});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(Find(*state, "counts")->checkpoint, 9);
}

TEST_F(TaskStateTest, CommittedWritesAreVisibleToOtherThreadsAndSurviveAReopenUncommittedOnesDoNot) {
  {
    std::unique_ptr<TaskState> state = Open({Spec("counts", true), Spec("mem", false)});
    ASSERT_NE(state, nullptr);
    TaskState::Store* counts = Find(*state, "counts");
    TaskState::Store* mem = Find(*state, "mem");
    ASSERT_TRUE(state->Get("counts")->Put("a", Envelope("1")).ok());
    ASSERT_TRUE(state->Get("mem")->Put("a", Envelope("1")).ok());
    ASSERT_TRUE(state->FlushCaches().ok());
    EXPECT_EQ(Committed(*state, *counts, "a"), std::nullopt);
    EXPECT_EQ(Committed(*state, *mem, "a"), std::nullopt);
    ASSERT_TRUE(state->Commit({{"clicks", 1}}).ok());
    EXPECT_EQ(Committed(*state, *counts, "a"), "1");
    EXPECT_EQ(Committed(*state, *mem, "a"), "1");

    ASSERT_TRUE(state->Get("counts")->Put("b", Envelope("2")).ok());
    ASSERT_TRUE(state->FlushCaches().ok());
    ASSERT_TRUE(state->Get("counts")->Put("c", Envelope("3")).ok());  // still in the cache
    EXPECT_EQ(UserValue(*state->Get("counts"), "b"), "2");
    // The task stops without committing again.
  }
  EXPECT_EQ(cache_.used_bytes, 0u) << "the closed task gave its cache bytes back";
  std::unique_ptr<TaskState> state = Open({Spec("counts", true), Spec("mem", false)});
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(UserValue(*state->Get("counts"), "a"), "1");
  EXPECT_EQ(GetValue(*state->Get("counts"), "b"), std::nullopt);
  EXPECT_EQ(GetValue(*state->Get("counts"), "c"), std::nullopt);
  EXPECT_EQ(state->committed_inputs(), (std::map<std::string, int64_t>{{"clicks", 1}}));
}

// Runs `child` in a forked process that ends with _exit, as a crash would: no destructor
// runs, so RocksDB neither flushes its memtables nor closes. The child says whether each
// of its steps succeeded through its exit code, and leaks what it opens (a close would
// flush, and wait for background threads a forked process does not have).
void CrashAfter(const std::function<bool()>& child) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(child() ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child did not exit: status " << status;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "a step of the child failed";
}

TEST_F(TaskStateTest, WithEveryStoreLoggedACrashLosesTheUnflushedCommitsWholeCheckpointsAlike) {
  const std::vector<StoreSpec> specs = {Spec("counts", true), Spec("sums", true)};
  {  // the first commit, then a clean close, which flushes the memtables
    std::unique_ptr<TaskState> state = Open(specs);
    ASSERT_NE(state, nullptr);
    ASSERT_TRUE(state->Get("counts")->Put("a", Envelope("1")).ok());
    ASSERT_TRUE(state->Get("sums")->Put("a", Envelope("10")).ok());
    ASSERT_TRUE(state->FlushCaches().ok());
    SetChangelogEnd("counts", 5);
    SetChangelogEnd("sums", 7);
    ASSERT_TRUE(state->Commit({{"clicks", 10}}).ok());
  }
  CrashAfter([&] {  // the second commit goes without the WAL, and the process dies
    absl::StatusOr<std::unique_ptr<TaskState>> state = TaskState::Open(specs, Options());
    if (!state.ok()) return false;
    TaskState& s = *state->release();
    SetChangelogEnd("counts", 9);
    SetChangelogEnd("sums", 11);
    return s.Get("counts")->Put("a", Envelope("2")).ok() &&
           s.Get("counts")->Put("b", Envelope("3")).ok() &&
           s.Get("sums")->Put("a", Envelope("20")).ok() && s.FlushCaches().ok() &&
           s.Commit({{"clicks", 20}}).ok();
  });
  // Back at the first commit: values, checkpoints and input offsets alike, so that
  // restoration replays each changelog from 5 and 7.
  std::unique_ptr<TaskState> state = Open(specs);
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(UserValue(*state->Get("counts"), "a"), "1");
  EXPECT_EQ(GetValue(*state->Get("counts"), "b"), std::nullopt);
  EXPECT_EQ(UserValue(*state->Get("sums"), "a"), "10");
  EXPECT_EQ(Find(*state, "counts")->checkpoint, 5);
  EXPECT_EQ(Find(*state, "sums")->checkpoint, 7);
  EXPECT_EQ(state->committed_inputs(), (std::map<std::string, int64_t>{{"clicks", 10}}));
}

TEST_F(TaskStateTest, AStoreWithoutAChangelogKeepsTheWalSoItsTasksCommitsSurviveACrash) {
  const std::vector<StoreSpec> specs = {Spec("counts", true), Spec("ledger", true, /*logging=*/false)};
  CrashAfter([&] {
    absl::StatusOr<std::unique_ptr<TaskState>> state = TaskState::Open(specs, Options());
    if (!state.ok()) return false;
    TaskState& s = *state->release();
    SetChangelogEnd("counts", 5);
    return s.Get("counts")->Put("a", Envelope("1")).ok() &&
           s.Get("ledger")->Put("a", Envelope("debit")).ok() && s.FlushCaches().ok() &&
           s.Commit({{"clicks", 3}}).ok();
  });
  std::unique_ptr<TaskState> state = Open(specs);
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(UserValue(*state->Get("counts"), "a"), "1");
  EXPECT_EQ(UserValue(*state->Get("ledger"), "a"), "debit");
  EXPECT_EQ(Find(*state, "counts")->checkpoint, 5);
  EXPECT_EQ(state->committed_inputs(), (std::map<std::string, int64_t>{{"clicks", 3}}));
}

TEST_F(TaskStateTest, FlushCachesSendsEachCachedKeyToTheChangelogOnce) {
  std::unique_ptr<TaskState> state = Open({Spec("counts", true)});
  ASSERT_NE(state, nullptr);
  KeyValueBytesStore* counts = state->Get("counts");
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(counts->Put("a", Envelope(std::to_string(i), i, Positions({{0, i, 0}}))).ok());
  }
  ASSERT_TRUE(counts->Put("b", Envelope("x", 4, Positions({{0, 4, 0}}))).ok());
  ASSERT_TRUE(counts->Delete("b").ok());
  EXPECT_TRUE(collector_.sent.empty());
  ASSERT_TRUE(state->FlushCaches().ok());
  ASSERT_EQ(collector_.sent.size(), 2u);
  std::map<std::string, std::optional<std::string>> latest;
  for (const auto& r : collector_.sent) {
    EXPECT_EQ(r.topic, "app-counts-changelog");
    latest[r.key] = r.value;
  }
  EXPECT_EQ(latest["a"], "3");
  EXPECT_EQ(latest["b"], std::nullopt);
  ASSERT_TRUE(state->FlushCaches().ok());
  EXPECT_EQ(collector_.sent.size(), 2u) << "nothing new to flush";
}

TEST_F(TaskStateTest, WantsCommitTurnsTruePastMaxPendingBytes) {
  for (bool persistent : {true, false}) {
    SCOPED_TRACE(persistent ? "RocksDB" : "memory");
    TaskState::Options options = Options();
    options.max_pending_bytes = 1000;
    std::unique_ptr<TaskState> state =
        Open({Spec("s", persistent, /*logging=*/true, /*caching=*/false)}, options);
    ASSERT_NE(state, nullptr);
    EXPECT_FALSE(state->WantsCommit());
    const std::string value(300, 'v');
    ASSERT_TRUE(state->Get("s")->Put("k1", Envelope(value)).ok());
    ASSERT_TRUE(state->Get("s")->Put("k2", Envelope(value)).ok());
    EXPECT_FALSE(state->WantsCommit()) << "about 600 bytes pending";
    ASSERT_TRUE(state->Get("s")->Put("k3", Envelope(value)).ok());
    ASSERT_TRUE(state->Get("s")->Put("k4", Envelope(value)).ok());
    EXPECT_TRUE(state->WantsCommit()) << "about 1200 bytes pending";
    ASSERT_TRUE(state->Commit({}).ok());
    EXPECT_FALSE(state->WantsCommit());
    state.reset();
    std::error_code ec;
    fs::remove_all(dir(), ec);
  }
}

TEST_F(TaskStateTest, DiscardForgetsUncommittedChangesAndCachedEntries) {
  std::unique_ptr<TaskState> state =
      Open({Spec("counts", true), Spec("raw", true, true, false), Spec("mem", false)});
  ASSERT_NE(state, nullptr);
  for (const char* name : {"counts", "raw", "mem"}) {
    ASSERT_TRUE(state->Get(name)->Put("kept", Envelope("1")).ok());
  }
  ASSERT_TRUE(state->FlushCaches().ok());
  ASSERT_TRUE(state->Commit({{"clicks", 1}}).ok());
  collector_.sent.clear();
  for (const char* name : {"counts", "raw", "mem"}) {
    ASSERT_TRUE(state->Get(name)->Put("lost", Envelope("2")).ok());
    ASSERT_TRUE(state->Get(name)->Put("kept", Envelope("changed")).ok());
  }
  EXPECT_GT(cache_.used_bytes, 0u);

  state->Discard();
  for (const char* name : {"counts", "raw", "mem"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(GetValue(*state->Get(name), "lost"), std::nullopt);
    EXPECT_EQ(UserValue(*state->Get(name), "kept"), "1");
  }
  // The raw store sent its changelog records at once (no cache); the cached ones never
  // reach the changelog.
  const size_t sent_before_flush = collector_.sent.size();
  ASSERT_TRUE(state->FlushCaches().ok());
  EXPECT_EQ(collector_.sent.size(), sent_before_flush);
  ASSERT_TRUE(state->Commit({{"clicks", 1}}).ok());
  EXPECT_EQ(Committed(*state, *Find(*state, "counts"), "kept"), "1");
  EXPECT_EQ(Committed(*state, *Find(*state, "mem"), "lost"), std::nullopt);
}

TEST_F(TaskStateTest, DiscardMakesWantsCommitFalseAgain) {
  TaskState::Options options = Options();
  options.max_pending_bytes = 100;
  for (bool persistent : {true, false}) {
    SCOPED_TRACE(persistent ? "RocksDB" : "memory");
    std::unique_ptr<TaskState> state = Open({Spec("s", persistent, true, false)}, options);
    ASSERT_NE(state, nullptr);
    ASSERT_TRUE(state->Get("s")->Put("k", Envelope(std::string(200, 'v'))).ok());
    EXPECT_TRUE(state->WantsCommit());
    state->Discard();
    EXPECT_FALSE(state->WantsCommit());
    ASSERT_TRUE(state->Commit({}).ok());
    EXPECT_FALSE(state->WantsCommit());
    state.reset();
    std::error_code ec;
    fs::remove_all(dir(), ec);
  }
}

TEST_F(TaskStateTest, DropBeforeDeletesTheKeysBelowItsEndWithoutTouchingTheChangelog) {
  for (bool persistent : {true, false}) {
    for (bool caching : {true, false}) {
      SCOPED_TRACE(std::string(persistent ? "RocksDB" : "memory") + (caching ? ", cached" : ""));
      std::unique_ptr<TaskState> state = Open({Spec("w", persistent, true, caching)});
      ASSERT_NE(state, nullptr);
      TaskState::Store* store = Find(*state, "w");
      KeyValueBytesStore* w = state->Get("w");
      for (const char* k : {"a1", "a2", "b1", "c1"}) ASSERT_TRUE(w->Put(k, Envelope(k)).ok());
      ASSERT_TRUE(state->FlushCaches().ok());
      ASSERT_TRUE(state->Commit({}).ok());
      const size_t logged = collector_.sent.size();
      ASSERT_TRUE(w->DropBefore("b").ok());
      ASSERT_TRUE(state->FlushCaches().ok());
      ASSERT_TRUE(state->Commit({}).ok());
      EXPECT_EQ(Keys(Scan(*w, std::nullopt, std::nullopt)), (std::vector<std::string>{"b1", "c1"}));
      EXPECT_EQ(Committed(*state, *store, "a1"), std::nullopt);
      EXPECT_EQ(Committed(*state, *store, "b1"), "b1");
      EXPECT_EQ(collector_.sent.size(), logged) << "a drop writes nothing to the changelog";
      state.reset();
      // And it lasts: a reopen (of the persistent store) does not bring the keys back.
      if (persistent) {
        state = Open({Spec("w", persistent, true, caching)});
        ASSERT_NE(state, nullptr);
        EXPECT_EQ(Keys(Scan(*state->Get("w"), std::nullopt, std::nullopt)),
                  (std::vector<std::string>{"b1", "c1"}));
        state.reset();
      }
      std::error_code ec;
      fs::remove_all(dir(), ec);
    }
  }
}

TEST_F(TaskStateTest, APersistentDropAppliesAtCommitAfterTheIntervalsOwnWrites) {
  std::unique_ptr<TaskState> state = Open({Spec("w", true, true, false)});
  ASSERT_NE(state, nullptr);
  KeyValueBytesStore* w = state->Get("w");
  ASSERT_TRUE(w->Put("a1", Envelope("1")).ok());
  ASSERT_TRUE(w->DropBefore("b").ok());
  ASSERT_TRUE(w->Put("a2", Envelope("2")).ok());  // below the end, written after the drop
  ASSERT_TRUE(w->Put("b2", Envelope("3")).ok());
  // Until the commit, reads still see what is below the end.
  EXPECT_EQ(UserValue(*w, "a1"), "1");
  ASSERT_TRUE(state->Commit({}).ok());
  EXPECT_EQ(Keys(Scan(*w, std::nullopt, std::nullopt)), (std::vector<std::string>{"b2"}));
  // A discarded interval forgets its drop too.
  ASSERT_TRUE(w->Put("a3", Envelope("4")).ok());
  ASSERT_TRUE(state->Commit({}).ok());
  ASSERT_TRUE(w->DropBefore("b").ok());
  state->Discard();
  ASSERT_TRUE(state->Commit({}).ok());
  EXPECT_EQ(Keys(Scan(*w, std::nullopt, std::nullopt)), (std::vector<std::string>{"a3", "b2"}));
}

}  // namespace
}  // namespace sluice::internal
