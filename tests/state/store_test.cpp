// The two bottom stores, RocksDbStore (a column family of a task's TaskDb) and
// MemoryStore, through the KeyValueBytesStore interface and their commit halves; then
// what only TaskDb does (metadata, reopening, unlogged writes, Clear, locking, corrupt
// files) and the process-wide RocksDbBudget.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/internal/state_store.h"
#include "src/log.h"
#include "src/state/memory_store.h"
#include "src/state/rocksdb_budget.h"
#include "src/state/rocksdb_store.h"
#include "src/state/task_db.h"
#include "tests/state/state_test_util.h"

namespace sluice::internal {
namespace {

using testing::Drain;
using testing::Entries;
using testing::GetValue;
using testing::Keys;
using testing::Scan;
using testing::TempDir;
using testing::WriteGarbage;
namespace fs = std::filesystem;

std::shared_ptr<RocksDbBudget> SmallBudget() { return std::make_shared<RocksDbBudget>(8u << 20); }

std::unique_ptr<TaskDb> OpenDb(const fs::path& dir, const std::vector<std::string>& families,
                               std::shared_ptr<RocksDbBudget> budget = SmallBudget()) {
  absl::StatusOr<std::unique_ptr<TaskDb>> db = TaskDb::Open(dir, families, std::move(budget));
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? std::move(*db) : nullptr;
}

// ---------------------------------------------------------------------------------------
// Both store kinds behind one interface: the store, and its commit half.

class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  virtual KeyValueBytesStore& store() = 0;
  virtual void Commit() = 0;
  virtual void DiscardPending() = 0;
  virtual std::optional<std::string> ReadCommitted(std::string_view key) = 0;
  virtual Entries ScanCommitted(std::optional<std::string_view> from,
                                std::optional<std::string_view> to) = 0;
};

class RocksHarness final : public StoreHarness {
 public:
  RocksHarness() : db_(OpenDb(dir_.path() / "task", {"s"})), store_("s", *db_) {}
  KeyValueBytesStore& store() override { return store_; }
  void Commit() override { ASSERT_TRUE(db_->Commit({}).ok()); }
  void DiscardPending() override { db_->DiscardPending(); }
  std::optional<std::string> ReadCommitted(std::string_view key) override {
    std::string value;
    bool found = false;
    EXPECT_TRUE(db_->ReadCommitted(db_->Family("s"), key, &value, &found).ok());
    return found ? std::optional<std::string>(value) : std::nullopt;
  }
  Entries ScanCommitted(std::optional<std::string_view> from,
                        std::optional<std::string_view> to) override {
    std::unique_ptr<StoreIterator> it = db_->ScanCommitted(db_->Family("s"), from, to);
    return Drain(*it);
  }

 private:
  TempDir dir_;
  std::unique_ptr<TaskDb> db_;
  RocksDbStore store_;
};

class MemoryHarness final : public StoreHarness {
 public:
  KeyValueBytesStore& store() override { return store_; }
  void Commit() override { store_.Commit(); }
  void DiscardPending() override { store_.DiscardPending(); }
  std::optional<std::string> ReadCommitted(std::string_view key) override {
    std::string value;
    bool found = false;
    EXPECT_TRUE(store_.ReadCommitted(key, &value, &found).ok());
    return found ? std::optional<std::string>(value) : std::nullopt;
  }
  Entries ScanCommitted(std::optional<std::string_view> from,
                        std::optional<std::string_view> to) override {
    Entries out;
    for (auto& [k, v] : store_.CopyCommitted(from, to)) out.emplace_back(k, v);
    return out;
  }

 private:
  MemoryStore store_{"s"};
};

// Where a test's writes are when it reads: committed, pending, or half and half.
enum class Stage { kCommitted, kPending, kMixed };

struct StoreParam {
  bool rocks;
  Stage stage;
};

std::string ParamName(const ::testing::TestParamInfo<StoreParam>& info) {
  std::string name = info.param.rocks ? "RocksDb" : "Memory";
  switch (info.param.stage) {
    case Stage::kCommitted: return name + "Committed";
    case Stage::kPending: return name + "Pending";
    case Stage::kMixed: return name + "Mixed";
  }
  return name;
}

class KvStore : public ::testing::TestWithParam<StoreParam> {
 protected:
  void SetUp() override {
    if (GetParam().rocks) {
      h_ = std::make_unique<RocksHarness>();
    } else {
      h_ = std::make_unique<MemoryHarness>();
    }
  }
  KeyValueBytesStore& store() { return h_->store(); }

  void Put(std::string_view key, std::string_view value) {
    ASSERT_TRUE(store().Put(key, value).ok());
  }
  // Writes `keys` (value = "v:" + key) and leaves them at the test's stage.
  void Load(const std::vector<std::string>& keys) {
    const Stage stage = GetParam().stage;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (stage == Stage::kMixed && i % 2 == 1) continue;
      Put(keys[i], "v:" + keys[i]);
    }
    if (stage != Stage::kPending) h_->Commit();
    if (stage == Stage::kMixed) {
      for (size_t i = 1; i < keys.size(); i += 2) Put(keys[i], "v:" + keys[i]);
    }
  }

  std::unique_ptr<StoreHarness> h_;
};

// Keys in byte order, as unsigned bytes compare: 0x00 < 'a' < 0x7f < 0x80 < 0xff.
const std::vector<std::string> kSortedKeys = {
    std::string(""),          std::string("\x00", 1),     std::string("\x00\x00", 2),
    std::string("a"),         std::string("ab"),          std::string("abc"),
    std::string("ac"),        std::string("b"),           std::string("\x7f"),
    std::string("\x80"),      std::string("\xfe\xff"),    std::string("\xff"),
    std::string("\xff\x00", 2), std::string("\xff\xff"),  std::string("\xff\xff\x01"),
};

TEST_P(KvStore, GetReturnsWhatPutWroteAndNothingForAnAbsentKey) {
  Load({"k1", "k2"});
  EXPECT_EQ(GetValue(store(), "k1"), "v:k1");
  EXPECT_EQ(GetValue(store(), "k2"), "v:k2");
  EXPECT_EQ(GetValue(store(), "k3"), std::nullopt);
  EXPECT_EQ(GetValue(store(), "k"), std::nullopt);
}

TEST_P(KvStore, PutOverwritesTheValueOfAKey) {
  Load({"k1", "k2"});
  Put("k1", "second");
  EXPECT_EQ(GetValue(store(), "k1"), "second");
  Put("k1", "third");
  EXPECT_EQ(GetValue(store(), "k1"), "third");
  EXPECT_EQ(Scan(store(), std::nullopt, std::nullopt),
            (Entries{{"k1", "third"}, {"k2", "v:k2"}}));
  h_->Commit();
  EXPECT_EQ(GetValue(store(), "k1"), "third");
  EXPECT_EQ(h_->ReadCommitted("k1"), "third");
}

TEST_P(KvStore, AnEmptyValueIsStoredAndFound) {
  Put("k", "");
  EXPECT_EQ(GetValue(store(), "k"), "");
  h_->Commit();
  EXPECT_EQ(GetValue(store(), "k"), "");
}

TEST_P(KvStore, DeleteRemovesAKeyAndDeletingAnAbsentKeyIsHarmless) {
  Load({"k1", "k2", "k3"});
  ASSERT_TRUE(store().Delete("k2").ok());
  ASSERT_TRUE(store().Delete("absent").ok());
  EXPECT_EQ(GetValue(store(), "k2"), std::nullopt);
  EXPECT_EQ(Keys(Scan(store(), std::nullopt, std::nullopt)), (std::vector<std::string>{"k1", "k3"}));
  h_->Commit();
  EXPECT_EQ(GetValue(store(), "k2"), std::nullopt);
  EXPECT_EQ(h_->ReadCommitted("k2"), std::nullopt);
  EXPECT_EQ(Keys(h_->ScanCommitted(std::nullopt, std::nullopt)),
            (std::vector<std::string>{"k1", "k3"}));
}

TEST_P(KvStore, APutAfterADeleteBringsTheKeyBack) {
  Load({"k1"});
  ASSERT_TRUE(store().Delete("k1").ok());
  Put("k1", "again");
  EXPECT_EQ(GetValue(store(), "k1"), "again");
  EXPECT_EQ(Scan(store(), std::nullopt, std::nullopt), (Entries{{"k1", "again"}}));
}

TEST_P(KvStore, AFullScanReturnsEveryKeyInUnsignedByteOrder) {
  // Written in reverse so that insertion order cannot pass for byte order.
  std::vector<std::string> reversed(kSortedKeys.rbegin(), kSortedKeys.rend());
  Load(reversed);
  EXPECT_EQ(Keys(Scan(store(), std::nullopt, std::nullopt)), kSortedKeys);
  Entries all = Scan(store(), std::nullopt, std::nullopt);
  for (const auto& [k, v] : all) EXPECT_EQ(v, "v:" + k);
}

TEST_P(KvStore, RangeIncludesFromAndExcludesTo) {
  Load({"a", "b", "c", "d", "e"});
  EXPECT_EQ(Keys(Scan(store(), "b", "d")), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Keys(Scan(store(), "b", "e")), (std::vector<std::string>{"b", "c", "d"}));
  // Bounds that are not keys themselves.
  EXPECT_EQ(Keys(Scan(store(), "aa", "cc")), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Keys(Scan(store(), "0", "z")), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  // A range of one key.
  EXPECT_EQ(Keys(Scan(store(), "c", std::string("c\x00", 2))), (std::vector<std::string>{"c"}));
}

TEST_P(KvStore, AnAbsentBoundIsOpen) {
  Load({"a", "b", "c", "d", "e"});
  EXPECT_EQ(Keys(Scan(store(), std::nullopt, "c")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Keys(Scan(store(), "c", std::nullopt)), (std::vector<std::string>{"c", "d", "e"}));
  EXPECT_EQ(Keys(Scan(store(), "cc", std::nullopt)), (std::vector<std::string>{"d", "e"}));
  EXPECT_EQ(Keys(Scan(store(), "f", std::nullopt)), (std::vector<std::string>{}));
  EXPECT_EQ(Keys(Scan(store(), std::nullopt, "a")), (std::vector<std::string>{}));
}

TEST_P(KvStore, ARangeIsEmptyWhenFromIsAtOrPastTo) {
  Load({"a", "b", "c", "d", "e"});
  EXPECT_TRUE(Scan(store(), "c", "c").empty());
  EXPECT_TRUE(Scan(store(), "d", "b").empty());
  EXPECT_TRUE(Scan(store(), "e", "a").empty());
  EXPECT_TRUE(Scan(store(), "z", "a").empty());
  EXPECT_TRUE(Scan(store(), "cc", "c").empty());
}

TEST_P(KvStore, APrefixScanUpToPrefixEndReturnsExactlyThePrefixedKeys) {
  Load(kSortedKeys);
  auto prefix_scan = [&](std::string_view prefix) {
    std::optional<std::string> end = PrefixEnd(prefix);
    return Keys(Scan(store(), prefix,
                     end ? std::optional<std::string_view>(*end) : std::nullopt));
  };
  EXPECT_EQ(prefix_scan("a"), (std::vector<std::string>{"a", "ab", "abc", "ac"}));
  EXPECT_EQ(prefix_scan("ab"), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(prefix_scan("abc"), (std::vector<std::string>{"abc"}));
  EXPECT_EQ(prefix_scan("x"), (std::vector<std::string>{}));
  EXPECT_EQ(prefix_scan(std::string("\x00", 1)),
            (std::vector<std::string>{std::string("\x00", 1), std::string("\x00\x00", 2)}));
  // Prefixes of 0xff bytes: the end is the next shorter prefix plus one, or open.
  EXPECT_EQ(prefix_scan("\xfe"), (std::vector<std::string>{"\xfe\xff"}));
  EXPECT_EQ(prefix_scan("\xff"), (std::vector<std::string>{"\xff", std::string("\xff\x00", 2),
                                                           "\xff\xff", "\xff\xff\x01"}));
  EXPECT_EQ(prefix_scan("\xff\xff"), (std::vector<std::string>{"\xff\xff", "\xff\xff\x01"}));
  // The empty prefix is every key.
  EXPECT_EQ(prefix_scan(""), kSortedKeys);
}

TEST_P(KvStore, ApproximateNumEntriesCountsCommittedKeys) {
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i) keys.push_back("key-" + std::to_string(1000 + i));
  for (const std::string& k : keys) Put(k, "value");
  h_->Commit();
  absl::StatusOr<uint64_t> n = store().ApproximateNumEntries();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 50u);
}

TEST_P(KvStore, CommittedReadsSeePendingWritesOnlyAfterCommit) {
  Put("k", "v1");
  EXPECT_EQ(h_->ReadCommitted("k"), std::nullopt);
  EXPECT_TRUE(h_->ScanCommitted(std::nullopt, std::nullopt).empty());
  EXPECT_EQ(GetValue(store(), "k"), "v1") << "the owner sees its pending write";
  h_->Commit();
  EXPECT_EQ(h_->ReadCommitted("k"), "v1");
  EXPECT_EQ(h_->ScanCommitted(std::nullopt, std::nullopt), (Entries{{"k", "v1"}}));

  Put("k", "v2");
  Put("other", "x");
  ASSERT_TRUE(store().Delete("k").ok() && store().Put("k", "v3").ok());
  EXPECT_EQ(h_->ReadCommitted("k"), "v1") << "pending overwrites stay invisible";
  EXPECT_EQ(h_->ReadCommitted("other"), std::nullopt);
  h_->Commit();
  EXPECT_EQ(h_->ReadCommitted("k"), "v3");
  EXPECT_EQ(h_->ReadCommitted("other"), "x");
}

TEST_P(KvStore, CommittedReadsDoNotSeeAPendingDelete) {
  Put("k", "v1");
  h_->Commit();
  ASSERT_TRUE(store().Delete("k").ok());
  EXPECT_EQ(h_->ReadCommitted("k"), "v1");
  EXPECT_EQ(Keys(h_->ScanCommitted(std::nullopt, std::nullopt)), (std::vector<std::string>{"k"}));
  h_->Commit();
  EXPECT_EQ(h_->ReadCommitted("k"), std::nullopt);
}

TEST_P(KvStore, DiscardPendingDropsUncommittedWritesAndKeepsCommittedOnes) {
  Put("a", "committed");
  Put("b", "committed");
  h_->Commit();
  Put("a", "pending");
  ASSERT_TRUE(store().Delete("b").ok());
  Put("c", "pending");
  h_->DiscardPending();
  EXPECT_EQ(GetValue(store(), "a"), "committed");
  EXPECT_EQ(GetValue(store(), "b"), "committed");
  EXPECT_EQ(GetValue(store(), "c"), std::nullopt);
  EXPECT_EQ(Scan(store(), std::nullopt, std::nullopt),
            (Entries{{"a", "committed"}, {"b", "committed"}}));
  h_->Commit();  // nothing left to commit
  EXPECT_EQ(h_->ReadCommitted("a"), "committed");
  EXPECT_EQ(h_->ReadCommitted("c"), std::nullopt);
}

TEST_P(KvStore, APendingDeleteHidesACommittedKeyInGetAndRange) {
  Load({"a", "b", "c", "d"});
  h_->Commit();
  ASSERT_TRUE(store().Delete("b").ok());
  ASSERT_TRUE(store().Delete("d").ok());  // the last key
  ASSERT_TRUE(store().Delete("a").ok());  // the first key
  EXPECT_EQ(GetValue(store(), "b"), std::nullopt);
  EXPECT_EQ(Keys(Scan(store(), std::nullopt, std::nullopt)), (std::vector<std::string>{"c"}));
  EXPECT_EQ(Keys(Scan(store(), "a", "c")), (std::vector<std::string>{}));
  EXPECT_EQ(Keys(Scan(store(), "b", std::nullopt)), (std::vector<std::string>{"c"}));
}

TEST_P(KvStore, PendingWritesShadowCommittedValuesAndMergeInOrderInRange) {
  Put("b", "old-b");
  Put("d", "old-d");
  Put("f", "old-f");
  h_->Commit();
  Put("a", "new-a");
  Put("d", "new-d");
  Put("e", "new-e");
  Put("g", "new-g");
  EXPECT_EQ(GetValue(store(), "d"), "new-d");
  EXPECT_EQ(Scan(store(), std::nullopt, std::nullopt),
            (Entries{{"a", "new-a"}, {"b", "old-b"}, {"d", "new-d"}, {"e", "new-e"},
                     {"f", "old-f"}, {"g", "new-g"}}));
  EXPECT_EQ(Scan(store(), "c", "f"), (Entries{{"d", "new-d"}, {"e", "new-e"}}));
}

INSTANTIATE_TEST_SUITE_P(
    BothKinds, KvStore,
    ::testing::Values(StoreParam{true, Stage::kCommitted}, StoreParam{true, Stage::kPending},
                      StoreParam{true, Stage::kMixed}, StoreParam{false, Stage::kCommitted},
                      StoreParam{false, Stage::kPending}, StoreParam{false, Stage::kMixed}),
    ParamName);

// ---------------------------------------------------------------------------------------
// MemoryStore only.

TEST(MemoryStore, PendingBytesGrowWithWritesAndDropToZeroOnCommit) {
  MemoryStore store("m");
  EXPECT_EQ(store.pending_bytes(), 0u);
  ASSERT_TRUE(store.Put("key", "value").ok());
  EXPECT_EQ(store.pending_bytes(), 8u);
  ASSERT_TRUE(store.Delete("k2").ok());
  EXPECT_EQ(store.pending_bytes(), 10u);
  store.Commit();
  EXPECT_EQ(store.pending_bytes(), 0u);
  EXPECT_EQ(store.CommittedCount(), 1u);
}

TEST(MemoryStore, WritesAndDeletesOfOneIntervalCommitAsTheirLastStateAndQueriesSeeOnlyCommits) {
  // A suppression buffer's pattern: records put and deleted before the commit, next to
  // committed keys that are overwritten, deleted, deleted and put again, or left alone.
  MemoryStore store("m");
  for (const char* key : {"keep", "over", "gone", "back"}) ASSERT_TRUE(store.Put(key, "old").ok());
  store.Commit();
  ASSERT_TRUE(store.Put("brief", "1").ok());
  ASSERT_TRUE(store.Put("brief", "a value longer than the first, past the short-string size").ok());
  ASSERT_TRUE(store.Delete("brief").ok());
  ASSERT_TRUE(store.Delete("never").ok());
  ASSERT_TRUE(store.Put("over", "new").ok());
  ASSERT_TRUE(store.Delete("gone").ok());
  ASSERT_TRUE(store.Delete("back").ok());
  ASSERT_TRUE(store.Put("back", "again").ok());
  ASSERT_TRUE(store.Put("fresh", "1").ok());
  std::string value;
  bool found = true;
  ASSERT_TRUE(store.Get("brief", &value, &found).ok());
  EXPECT_FALSE(found);
  ASSERT_TRUE(store.Get("gone", &value, &found).ok());
  EXPECT_FALSE(found);
  // Query threads read the committed state only, until the commit.
  ASSERT_TRUE(store.ReadCommitted("over", &value, &found).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(value, "old");
  ASSERT_TRUE(store.ReadCommitted("gone", &value, &found).ok());
  EXPECT_TRUE(found);
  const Entries expected = {{"back", "again"}, {"fresh", "1"}, {"keep", "old"}, {"over", "new"}};
  EXPECT_EQ(Scan(store, std::nullopt, std::nullopt), expected);
  store.Commit();
  EXPECT_EQ(Scan(store, std::nullopt, std::nullopt), expected);
  const std::map<std::string, std::string> committed = store.CopyCommitted(std::nullopt, std::nullopt);
  EXPECT_EQ(Entries(committed.begin(), committed.end()), expected);
  EXPECT_EQ(store.CommittedCount(), 4u);
}

TEST(MemoryStore, DiscardPendingResetsPendingBytes) {
  MemoryStore store("m");
  ASSERT_TRUE(store.Put("key", "value").ok());
  store.DiscardPending();
  EXPECT_EQ(store.pending_bytes(), 0u);
  store.Commit();
  EXPECT_EQ(store.pending_bytes(), 0u);
}

TEST(MemoryStore, CopyCommittedIsAHalfOpenRangeOfCommittedEntries) {
  MemoryStore store("m");
  for (std::string k : {"a", "b", "c", "d"}) ASSERT_TRUE(store.Put(k, "v" + k).ok());
  store.Commit();
  ASSERT_TRUE(store.Put("bb", "pending").ok());
  std::map<std::string, std::string> want = {{"b", "vb"}, {"c", "vc"}};
  EXPECT_EQ(store.CopyCommitted("b", "d"), want);
  EXPECT_EQ(store.CopyCommitted("d", "b").size(), 0u);
  EXPECT_EQ(store.CopyCommitted(std::nullopt, std::nullopt).size(), 4u);
}

// ---------------------------------------------------------------------------------------
// TaskDb.

class TaskDbTest : public ::testing::Test {
 protected:
  fs::path dir() const { return tmp_.path() / "0_1"; }
  std::optional<std::string> Read(TaskDb& db, std::string_view family, std::string_view key) {
    std::string value;
    bool found = false;
    EXPECT_TRUE(db.Get(db.Family(family), key, &value, &found).ok());
    return found ? std::optional<std::string>(value) : std::nullopt;
  }
  std::optional<std::string> ReadCommitted(TaskDb& db, std::string_view family,
                                           std::string_view key) {
    std::string value;
    bool found = false;
    EXPECT_TRUE(db.ReadCommitted(db.Family(family), key, &value, &found).ok());
    return found ? std::optional<std::string>(value) : std::nullopt;
  }
  // Adds key-<i> -> value-<i> for i < n to the pending batch of `family`.
  void Fill(TaskDb& db, std::string_view family, int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(db.Put(db.Family(family), "key-" + std::to_string(i), "value-" + std::to_string(i)).ok());
    }
  }

  TempDir tmp_;
  std::shared_ptr<RocksDbBudget> budget_ = SmallBudget();
};

using TaskDbMeta = std::map<std::string, int64_t>;

TEST_F(TaskDbTest, OpenCreatesTheDirectoryAndOneFamilyPerName) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"counts", "joins"}, budget_);
  ASSERT_NE(db, nullptr);
  EXPECT_TRUE(fs::is_directory(dir()));
  EXPECT_EQ(db->dir(), dir());
  EXPECT_NE(db->Family("counts"), nullptr);
  EXPECT_NE(db->Family("joins"), nullptr);
  EXPECT_NE(db->Family("counts"), db->Family("joins"));
  EXPECT_EQ(db->Family("other"), nullptr);
  absl::StatusOr<TaskDbMeta> meta = db->ReadMeta();
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_TRUE(meta->empty());
}

TEST_F(TaskDbTest, CommitMetaIsWhatReadMetaReturns) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(db, nullptr);
  const TaskDbMeta meta = {{"changelog:s", 42},
                           {"input:clicks", 0},
                           {"input:big", int64_t{1} << 40},
                           {"input:negative", -1},
                           {"input:max", INT64_MAX}};
  ASSERT_TRUE(db->Commit(meta).ok());
  EXPECT_EQ(db->ReadMeta().value(), meta);
  // A later commit overwrites the keys it names and keeps the others.
  ASSERT_TRUE(db->Commit({{"changelog:s", 50}, {"input:views", 7}}).ok());
  TaskDbMeta want = meta;
  want["changelog:s"] = 50;
  want["input:views"] = 7;
  EXPECT_EQ(db->ReadMeta().value(), want);
}

TEST_F(TaskDbTest, CommitWritesThePendingBatchAndEmptiesIt) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(db, nullptr);
  const size_t empty = db->pending_bytes();
  ASSERT_TRUE(db->Put(db->Family("s"), "k", "v").ok());
  EXPECT_GT(db->pending_bytes(), empty);
  EXPECT_EQ(ReadCommitted(*db, "s", "k"), std::nullopt);
  ASSERT_TRUE(db->Commit({}).ok());
  EXPECT_EQ(db->pending_bytes(), empty);
  EXPECT_EQ(ReadCommitted(*db, "s", "k"), "v");
}

TEST_F(TaskDbTest, ReopeningKeepsCommittedDataAndMetaAndLosesPendingWrites) {
  {
    std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Put(db->Family("s"), "committed", "1").ok());
    ASSERT_TRUE(db->Put(db->Family("s"), "deleted", "1").ok());
    ASSERT_TRUE(db->Commit({{"input:t", 10}}).ok());
    ASSERT_TRUE(db->Put(db->Family("s"), "pending", "2").ok());
    ASSERT_TRUE(db->Put(db->Family("s"), "committed", "overwritten").ok());
    ASSERT_TRUE(db->Delete(db->Family("s"), "deleted").ok());
    // Closed without a commit: as after a crash.
  }
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Read(*db, "s", "committed"), "1");
  EXPECT_EQ(Read(*db, "s", "deleted"), "1");
  EXPECT_EQ(Read(*db, "s", "pending"), std::nullopt);
  EXPECT_EQ(db->ReadMeta().value(), (TaskDbMeta{{"input:t", 10}}));
}

TEST_F(TaskDbTest, DiscardPendingForgetsWritesOfEveryFamily) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"a", "b"}, budget_);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Put(db->Family("a"), "k", "1").ok());
  ASSERT_TRUE(db->Put(db->Family("b"), "k", "1").ok());
  db->DiscardPending();
  ASSERT_TRUE(db->Commit({}).ok());
  EXPECT_EQ(Read(*db, "a", "k"), std::nullopt);
  EXPECT_EQ(Read(*db, "b", "k"), std::nullopt);
}

TEST_F(TaskDbTest, AtCommitWritesAreReadByKeyAndCommittedAfterTheIndexedOnes) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(db, nullptr);
  rocksdb::ColumnFamilyHandle* s = db->Family("s");
  ASSERT_TRUE(db->Put(s, "gone", "1").ok());
  ASSERT_TRUE(db->Commit({}).ok());
  const size_t empty = db->pending_bytes();
  // An indexed write of "k" first, then at-commit writes of "k", "z" and a delete.
  ASSERT_TRUE(db->Put(s, "k", "indexed").ok());
  ASSERT_TRUE(db->PutAtCommit(s, "z", "first").ok());
  ASSERT_TRUE(db->PutAtCommit(s, "z", "last").ok());
  ASSERT_TRUE(db->PutAtCommit(s, "k", "flushed").ok());
  ASSERT_TRUE(db->DeleteAtCommit(s, "gone").ok());
  EXPECT_GT(db->pending_bytes(), empty);
  EXPECT_EQ(Read(*db, "s", "k"), "flushed");
  EXPECT_EQ(Read(*db, "s", "z"), "last");
  EXPECT_EQ(Read(*db, "s", "gone"), std::nullopt);
  EXPECT_EQ(ReadCommitted(*db, "s", "gone"), "1") << "nothing is written before the commit";
  ASSERT_TRUE(db->Commit({{"input:t", 3}}).ok());
  EXPECT_EQ(db->pending_bytes(), empty);
  EXPECT_EQ(ReadCommitted(*db, "s", "k"), "flushed") << "written after the indexed write";
  EXPECT_EQ(ReadCommitted(*db, "s", "z"), "last");
  EXPECT_EQ(ReadCommitted(*db, "s", "gone"), std::nullopt);
  EXPECT_EQ(db->ReadMeta().value(), (TaskDbMeta{{"input:t", 3}}));
}

TEST_F(TaskDbTest, AnIndexedWriteReplacesTheAtCommitWriteOfItsKey) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(db, nullptr);
  rocksdb::ColumnFamilyHandle* s = db->Family("s");
  ASSERT_TRUE(db->PutAtCommit(s, "k", "1").ok());
  ASSERT_TRUE(db->Put(s, "k", "2").ok());
  ASSERT_TRUE(db->PutAtCommit(s, "d", "1").ok());
  ASSERT_TRUE(db->Delete(s, "d").ok());
  EXPECT_EQ(Read(*db, "s", "k"), "2");
  EXPECT_EQ(Read(*db, "s", "d"), std::nullopt);
  ASSERT_TRUE(db->Commit({}).ok());
  EXPECT_EQ(ReadCommitted(*db, "s", "k"), "2");
  EXPECT_EQ(ReadCommitted(*db, "s", "d"), std::nullopt);
}

TEST_F(TaskDbTest, ScansAndMultiGetsSeeAtCommitWrites) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s", "other"}, budget_);
  ASSERT_NE(db, nullptr);
  rocksdb::ColumnFamilyHandle* s = db->Family("s");
  ASSERT_TRUE(db->Put(s, "c", "1").ok());
  ASSERT_TRUE(db->Commit({}).ok());
  ASSERT_TRUE(db->PutAtCommit(s, "b", "1").ok());
  ASSERT_TRUE(db->PutAtCommit(s, "b", "2").ok());
  ASSERT_TRUE(db->PutAtCommit(s, "a", "1").ok());
  ASSERT_TRUE(db->DeleteAtCommit(s, "c").ok());
  ASSERT_TRUE(db->PutAtCommit(db->Family("other"), "b", "other").ok());
  EXPECT_EQ(Drain(*db->Scan(s, std::nullopt, std::nullopt)), (Entries{{"a", "1"}, {"b", "2"}}));
  ASSERT_TRUE(db->PutAtCommit(s, "e", "1").ok());
  std::vector<std::string> values;
  std::vector<bool> found;
  ASSERT_TRUE(db->MultiGet(s, {"a", "c", "e"}, &values, &found).ok());
  EXPECT_EQ(found, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(values[2], "1");
  ASSERT_TRUE(db->Commit({}).ok());
  EXPECT_EQ(Drain(*db->ScanCommitted(s, std::nullopt, std::nullopt)),
            (Entries{{"a", "1"}, {"b", "2"}, {"e", "1"}}));
  EXPECT_EQ(ReadCommitted(*db, "other", "b"), "other");
}

TEST_F(TaskDbTest, AtCommitWritesOfExpiredKeysFallUnderTheCommitsRangeDeletion) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(db, nullptr);
  rocksdb::ColumnFamilyHandle* s = db->Family("s");
  ASSERT_TRUE(db->PutAtCommit(s, "a-old", "1").ok());
  ASSERT_TRUE(db->PutAtCommit(s, "c-new", "1").ok());
  db->DropBeforeAtCommit("s", "b");
  ASSERT_TRUE(db->Commit({}).ok());
  EXPECT_EQ(ReadCommitted(*db, "s", "a-old"), std::nullopt);
  EXPECT_EQ(ReadCommitted(*db, "s", "c-new"), "1");
}

TEST_F(TaskDbTest, DiscardPendingForgetsAtCommitWrites) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->PutAtCommit(db->Family("s"), "k", "1").ok());
  db->DiscardPending();
  ASSERT_TRUE(db->Commit({}).ok());
  EXPECT_EQ(ReadCommitted(*db, "s", "k"), std::nullopt);
}

TEST_F(TaskDbTest, UnloggedWritesSurviveAReopenAfterFlushMemtables) {
  {
    std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
    ASSERT_NE(db, nullptr);
    Fill(*db, "s", 100);
    ASSERT_TRUE(db->WriteUnlogged().ok());
    EXPECT_EQ(ReadCommitted(*db, "s", "key-7"), "value-7") << "written to the database";
    ASSERT_TRUE(db->FlushMemtables().ok());
    ASSERT_TRUE(db->Commit({{"changelog:s", 100}}).ok());
  }
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Read(*db, "s", "key-0"), "value-0");
  EXPECT_EQ(Read(*db, "s", "key-99"), "value-99");
  EXPECT_EQ(db->ReadMeta().value(), (TaskDbMeta{{"changelog:s", 100}}));
  EXPECT_EQ(db->ApproximateNumEntries(db->Family("s")), 100u);
}

TEST_F(TaskDbTest, ClearEmptiesOneFamilyOnlyAndTheEmptinessSurvivesAReopen) {
  {
    std::unique_ptr<TaskDb> db = OpenDb(dir(), {"a", "b"}, budget_);
    ASSERT_NE(db, nullptr);
    Fill(*db, "a", 10);
    Fill(*db, "b", 10);
    ASSERT_TRUE(db->Commit({{"input:t", 5}}).ok());
    ASSERT_TRUE(db->FlushMemtables().ok());  // some of it in SST files too
    ASSERT_TRUE(db->Put(db->Family("a"), "late", "x").ok());
    ASSERT_TRUE(db->Commit({}).ok());

    ASSERT_TRUE(db->Clear("a").ok());
    ASSERT_NE(db->Family("a"), nullptr);
    EXPECT_EQ(Read(*db, "a", "key-1"), std::nullopt);
    EXPECT_EQ(Read(*db, "a", "late"), std::nullopt);
    EXPECT_TRUE(Drain(*db->Scan(db->Family("a"), std::nullopt, std::nullopt)).empty());
    EXPECT_EQ(db->ApproximateNumEntries(db->Family("a")), 0u);
    EXPECT_EQ(Drain(*db->Scan(db->Family("b"), std::nullopt, std::nullopt)).size(), 10u);
    EXPECT_EQ(db->ReadMeta().value(), (TaskDbMeta{{"input:t", 5}}));
    // The re-created family takes writes.
    ASSERT_TRUE(db->Put(db->Family("a"), "fresh", "y").ok());
    ASSERT_TRUE(db->Commit({}).ok());
  }
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"a", "b"}, budget_);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Drain(*db->Scan(db->Family("a"), std::nullopt, std::nullopt)),
            (Entries{{"fresh", "y"}}));
  EXPECT_EQ(Drain(*db->Scan(db->Family("b"), std::nullopt, std::nullopt)).size(), 10u);
}

TEST_F(TaskDbTest, ClearOfAnUnknownFamilyIsNotFound) {
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"a"}, budget_);
  ASSERT_NE(db, nullptr);
  absl::Status s = db->Clear("nope");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(db->Family("a"), nullptr);
}

TEST_F(TaskDbTest, FamiliesNoLongerAskedForAreStillOpenedAndKeepTheirData) {
  {
    std::unique_ptr<TaskDb> db = OpenDb(dir(), {"old", "kept"}, budget_);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Put(db->Family("old"), "k", "v").ok());
    ASSERT_TRUE(db->Commit({}).ok());
  }
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"kept", "new"}, budget_);
  ASSERT_NE(db, nullptr);
  ASSERT_NE(db->Family("old"), nullptr);
  EXPECT_NE(db->Family("new"), nullptr);
  EXPECT_EQ(Read(*db, "old", "k"), "v");
}

TEST_F(TaskDbTest, OpeningADirectoryAlreadyOpenInThisProcessIsFailedPreconditionNamingIt) {
  std::unique_ptr<TaskDb> first = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<TaskDb>> second = TaskDb::Open(dir(), {"s"}, budget_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(std::string(second.status().message()).find(dir().string()), std::string::npos)
      << second.status();
  // Once the first is closed, the directory opens again.
  first.reset();
  EXPECT_NE(OpenDb(dir(), {"s"}, budget_), nullptr);
}

TEST_F(TaskDbTest, AGarbageCurrentFileIsDataLoss) {
  {
    std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
    ASSERT_NE(db, nullptr);
    Fill(*db, "s", 10);
    ASSERT_TRUE(db->Commit({}).ok());
  }
  // RocksDB 7.8 reads the manifest name from CURRENT; content without the trailing
  // newline is Status::Corruption("CURRENT file does not end with newline")
  // (VersionSet::GetCurrentManifestPath).
  WriteGarbage(dir() / "CURRENT", "this is not a RocksDB file");
  absl::StatusOr<std::unique_ptr<TaskDb>> db = TaskDb::Open(dir(), {"s"}, budget_);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kDataLoss) << db.status();
  EXPECT_NE(std::string(db.status().message()).find(dir().string()), std::string::npos) << db.status();
}

TEST_F(TaskDbTest, AGarbageManifestIsDataLoss) {
  {
    std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
    ASSERT_NE(db, nullptr);
    Fill(*db, "s", 10);
    ASSERT_TRUE(db->Commit({}).ok());
  }
  // A MANIFEST of garbage: RocksDB 7.8's log reader finds no valid record, and recovery
  // fails with Status::Corruption("no log_file_number, next_file_number, last_sequence
  // entry in MANIFEST").
  int overwritten = 0;
  for (const auto& entry : fs::directory_iterator(dir())) {
    if (entry.path().filename().string().starts_with("MANIFEST-")) {
      WriteGarbage(entry.path(), std::string(4096, '\x5a'));
      ++overwritten;
    }
  }
  ASSERT_GT(overwritten, 0);
  absl::StatusOr<std::unique_ptr<TaskDb>> db = TaskDb::Open(dir(), {"s"}, budget_);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kDataLoss) << db.status();
}

TEST_F(TaskDbTest, AGarbageSstFileIsDataLoss) {
  {
    std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
    ASSERT_NE(db, nullptr);
    Fill(*db, "s", 100);
    ASSERT_TRUE(db->Commit({}).ok());
    ASSERT_TRUE(db->FlushMemtables().ok());
  }
  // max_open_files = -1 makes RocksDB open every table file at DB::Open; RocksDB 7.8
  // decodes the garbage footer and reports Status::Corruption("Corrupt or unsupported
  // format_version: 1515870810"), 0x5a5a5a5a.
  int overwritten = 0;
  for (const auto& entry : fs::directory_iterator(dir())) {
    if (entry.path().extension() == ".sst") {
      WriteGarbage(entry.path(), std::string(8192, '\x5a'));
      ++overwritten;
    }
  }
  ASSERT_GT(overwritten, 0);
  absl::StatusOr<std::unique_ptr<TaskDb>> db = TaskDb::Open(dir(), {"s"}, budget_);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kDataLoss) << db.status();
}

TEST_F(TaskDbTest, WipeDeletesTheDirectoryAndANewOpenStartsEmpty) {
  {
    std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
    ASSERT_NE(db, nullptr);
    Fill(*db, "s", 3);
    ASSERT_TRUE(db->Commit({{"input:t", 3}}).ok());
  }
  ASSERT_TRUE(TaskDb::Wipe(dir()).ok());
  EXPECT_FALSE(fs::exists(dir()));
  EXPECT_TRUE(TaskDb::Wipe(dir()).ok()) << "wiping what is gone is fine";
  std::unique_ptr<TaskDb> db = OpenDb(dir(), {"s"}, budget_);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Read(*db, "s", "key-0"), std::nullopt);
  EXPECT_TRUE(db->ReadMeta().value().empty());
}

// ---------------------------------------------------------------------------------------
// RocksDbBudget.

TEST(RocksDbBudget, ASecondCallerGetsTheSameBudget) {
  std::shared_ptr<RocksDbBudget> first = RocksDbBudget::Get(32u << 20);
  std::shared_ptr<RocksDbBudget> second = RocksDbBudget::Get(32u << 20);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(first->bytes(), 32u << 20);
}

TEST(RocksDbBudget, ACallerAskingForAnotherSizeGetsTheExistingBudgetAndAWarning) {
  std::shared_ptr<RocksDbBudget> first = RocksDbBudget::Get(32u << 20);
  ::testing::internal::CaptureStderr();
  std::shared_ptr<RocksDbBudget> second = RocksDbBudget::Get(16u << 20);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(second->bytes(), 32u << 20) << "the first caller's size stays";
  if (LogEnabled(LogLevel::kWarn)) {
    EXPECT_NE(log.find("rocksdb.memory.budget.bytes=16777216 ignored"), std::string::npos) << log;
  }
}

TEST(RocksDbBudget, ANewBudgetIsMadeOnceNobodyHoldsTheOldOne) {
  EXPECT_EQ(RocksDbBudget::Get(32u << 20)->bytes(), 32u << 20);
  // The first budget died with its last holder: the next caller sets the size again.
  std::shared_ptr<RocksDbBudget> next = RocksDbBudget::Get(16u << 20);
  EXPECT_EQ(next->bytes(), 16u << 20);
}

TEST(RocksDbBudget, DatabasesOpenedWithItChargeTheSharedCache) {
  TempDir tmp;
  std::shared_ptr<RocksDbBudget> budget = std::make_shared<RocksDbBudget>(8u << 20);
  std::unique_ptr<TaskDb> a = OpenDb(tmp.path() / "0_0", {"s"}, budget);
  std::unique_ptr<TaskDb> b = OpenDb(tmp.path() / "0_1", {"s"}, budget);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const size_t before = budget->usage();
  const std::string value(1000, 'v');
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(a->Put(a->Family("s"), "key-" + std::to_string(i), value).ok());
    ASSERT_TRUE(b->Put(b->Family("s"), "key-" + std::to_string(i), value).ok());
  }
  ASSERT_TRUE(a->Commit({}).ok());
  ASSERT_TRUE(b->Commit({}).ok());
  EXPECT_GT(budget->usage(), before) << "memtables are charged to the shared cache";
  EXPECT_NE(budget->DbOptions().write_buffer_manager, nullptr);
}

}  // namespace
}  // namespace sluice::internal
