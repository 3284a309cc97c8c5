// The layers stacked over a bottom store: CachingStore (write-back, LRU eviction under a
// shared CacheBudget, the flush listener), ChangeLoggingStore (one changelog record per
// change) and MeteredStore (operation counts). The bottom store is a MemoryStore,
// wrapped in a MeteredStore where a test needs to see what reached it, or a RocksDbStore
// where the at-commit writes of a flush matter.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/internal/state_store.h"
#include "src/state/layers.h"
#include "src/state/memory_store.h"
#include "src/state/rocksdb_budget.h"
#include "src/state/rocksdb_store.h"
#include "src/state/task_db.h"
#include "tests/state/state_test_util.h"

namespace sluice::internal {
namespace {

using testing::EncodedPositions;
using testing::Entries;
using testing::Envelope;
using testing::FakeCollector;
using testing::GetValue;
using testing::Keys;
using testing::Positions;
using testing::Scan;
using testing::SentRecord;

// Records every OnFlush call, bytes copied.
class RecordingListener final : public CacheFlushListener {
 public:
  void OnFlush(std::string_view key, std::optional<std::string_view> value,
               std::optional<std::string_view> old_value) override {
    calls.emplace_back(std::string(key),
                       value ? std::optional<std::string>(std::string(*value)) : std::nullopt);
    olds.emplace_back(std::string(key), old_value ? std::optional<std::string>(std::string(*old_value))
                                                  : std::nullopt);
  }
  bool WantsOldValues() override {
    ++wants_asked;
    return wants_old;
  }
  // The calls per key.
  std::map<std::string, std::vector<std::optional<std::string>>> ByKey() const {
    std::map<std::string, std::vector<std::optional<std::string>>> out;
    for (const auto& [k, v] : calls) out[k].push_back(v);
    return out;
  }

  std::vector<std::pair<std::string, std::optional<std::string>>> calls;
  // The old value reported with each call.
  std::vector<std::pair<std::string, std::optional<std::string>>> olds;
  bool wants_old = true;
  int wants_asked = 0;
};

using Calls = std::vector<std::pair<std::string, std::optional<std::string>>>;

// The bytes one cache entry accounts for (CachingStore::Entry::Bytes).
size_t EntryBytes(std::string_view key, std::string_view value) {
  return key.size() + value.size() + 96;
}

// A CachingStore over a metered MemoryStore, with access to both.
class CachingStoreTest : public ::testing::Test {
 protected:
  CachingStoreTest() {
    auto memory = std::make_unique<MemoryStore>("cached");
    memory_ = memory.get();
    auto metered = std::make_unique<MeteredStore>(std::move(memory), below_);
    inner_ = metered.get();
    budget_.max_bytes = 1u << 20;
    cache_ = std::make_unique<CachingStore>(std::move(metered), budget_);
    cache_->SetFlushListener(&listener_);
  }

  void Put(std::string_view key, std::string_view value) {
    ASSERT_TRUE(cache_->Put(key, value).ok());
  }

  CacheBudget budget_;
  std::shared_ptr<StoreMetrics> below_ = std::make_shared<StoreMetrics>();
  MemoryStore* memory_ = nullptr;
  KeyValueBytesStore* inner_ = nullptr;
  std::unique_ptr<CachingStore> cache_;
  RecordingListener listener_;
};

TEST_F(CachingStoreTest, WritesStayInTheCacheUntilFlush) {
  Put("a", "1");
  Put("b", "2");
  EXPECT_TRUE(cache_->caching());
  EXPECT_EQ(cache_->name(), "cached");
  EXPECT_EQ(cache_->entries(), 2u);
  EXPECT_EQ(GetValue(*cache_, "a"), "1");
  EXPECT_EQ(GetValue(*memory_, "a"), std::nullopt) << "the store below has not seen it";
  EXPECT_EQ(below_->puts.load(), 0u);
  EXPECT_TRUE(listener_.calls.empty());

  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(GetValue(*memory_, "a"), "1");
  EXPECT_EQ(GetValue(*memory_, "b"), "2");
  EXPECT_EQ(listener_.ByKey(), (std::map<std::string, std::vector<std::optional<std::string>>>{
                                   {"a", {"1"}}, {"b", {"2"}}}));
  EXPECT_EQ(cache_->entries(), 2u) << "flushed entries stay cached, clean";
}

TEST_F(CachingStoreTest, KeysAndValuesOfAnySizeKeepTheirBytesAsTheyGrowAndShrink) {
  // An entry holds up to 40 bytes of key and of value in place and the rest on the heap:
  // sizes around that edge, a value that moves across it both ways, and zero bytes.
  auto bytes = [](size_t n, char seed) {
    std::string out(n, '\0');
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(seed + i * 7);
    return out;
  };
  std::map<std::string, std::string> expected;
  for (size_t key_size : {1, 39, 40, 41, 300}) {
    const std::string key = bytes(key_size, 'k');
    for (size_t value_size : {0, 5, 40, 41, 500, 39, 2000, 1}) {
      const std::string value = bytes(value_size, static_cast<char>('a' + value_size % 13));
      Put(key, value);
      expected[key] = value;
      ASSERT_EQ(GetValue(*cache_, key), value) << key_size << " " << value_size;
    }
  }
  for (const auto& [key, value] : expected) EXPECT_EQ(GetValue(*cache_, key), value);
  ASSERT_TRUE(cache_->Flush().ok());
  for (const auto& [key, value] : expected) {
    EXPECT_EQ(GetValue(*memory_, key), value);
    EXPECT_EQ(GetValue(*cache_, key), value);
  }
  EXPECT_EQ(Scan(*cache_, std::nullopt, std::nullopt), Entries(expected.begin(), expected.end()));
}

TEST_F(CachingStoreTest, AFlushReportsTheValueItReplacesBelow) {
  // Known from a read-through: no extra read at flush.
  ASSERT_TRUE(memory_->Put("read", "old").ok());
  EXPECT_EQ(GetValue(*cache_, "read"), "old");
  Put("read", "new");
  // Written blind: the flush reads what is below.
  ASSERT_TRUE(memory_->Put("blind", "was").ok());
  Put("blind", "now");
  Put("fresh", "1");
  const uint64_t gets_before = below_->gets.load();
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(below_->gets.load() - gets_before, 2u) << "only the blind writes read below";
  std::map<std::string, std::optional<std::string>> olds(listener_.olds.begin(), listener_.olds.end());
  EXPECT_EQ(olds, (std::map<std::string, std::optional<std::string>>{
                      {"read", "old"}, {"blind", "was"}, {"fresh", std::nullopt}}));
  // After a flush the old value is what that flush wrote.
  listener_.olds.clear();
  Put("fresh", "2");
  ASSERT_TRUE(cache_->Delete("read").ok());
  ASSERT_TRUE(cache_->Flush().ok());
  olds = std::map<std::string, std::optional<std::string>>(listener_.olds.begin(), listener_.olds.end());
  EXPECT_EQ(olds, (std::map<std::string, std::optional<std::string>>{{"fresh", "1"}, {"read", "new"}}));
}

TEST_F(CachingStoreTest, AListenerThatWantsNoOldValuesCostsNoReadsBelowAndNoCopies) {
  listener_.wants_old = false;
  ASSERT_TRUE(memory_->Put("read", "old").ok());
  ASSERT_TRUE(memory_->Put("blind", "was").ok());
  EXPECT_EQ(GetValue(*cache_, "read"), "old");
  const uint64_t gets_before = below_->gets.load();
  Put("read", "new");
  Put("blind", "now");
  Put("fresh", "1");
  EXPECT_EQ(cache_->entries(), 3u);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(below_->gets.load(), gets_before) << "no old value is read at flush";
  std::map<std::string, std::optional<std::string>> olds(listener_.olds.begin(), listener_.olds.end());
  EXPECT_EQ(olds, (std::map<std::string, std::optional<std::string>>{
                      {"read", std::nullopt}, {"blind", std::nullopt}, {"fresh", std::nullopt}}));
  EXPECT_EQ(listener_.ByKey(), (std::map<std::string, std::vector<std::optional<std::string>>>{
                                   {"blind", {"now"}}, {"fresh", {"1"}}, {"read", {"new"}}}));
  // Entries hold their value only: the cache accounts no copy of what is below.
  EXPECT_EQ(budget_.used_bytes, EntryBytes("read", "new") + EntryBytes("blind", "now") +
                                    EntryBytes("fresh", "1"));
  // Deletes, later flushes and evictions report no old value either; the store below and
  // the cache still agree.
  ASSERT_TRUE(cache_->Delete("read").ok());
  Put("fresh", "2");
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(below_->gets.load(), gets_before);
  EXPECT_EQ(listener_.olds.back().second, std::nullopt);
  EXPECT_EQ(GetValue(*memory_, "read"), std::nullopt);
  EXPECT_EQ(GetValue(*memory_, "fresh"), "2");
  EXPECT_EQ(GetValue(*cache_, "blind"), "now");
  EXPECT_EQ(listener_.wants_asked, 1) << "asked once; the wiring does not change";
}

TEST_F(CachingStoreTest, AFlushWritesEachKeyOnceWithItsLatestValue) {
  Put("a", "1");
  Put("b", "1");
  Put("a", "2");
  Put("a", "3");
  Put("b", "2");
  ASSERT_TRUE(cache_->Flush().ok());
  auto by_key = listener_.ByKey();
  ASSERT_EQ(by_key.size(), 2u);
  EXPECT_EQ(by_key["a"], (std::vector<std::optional<std::string>>{"3"}));
  EXPECT_EQ(by_key["b"], (std::vector<std::optional<std::string>>{"2"}));
  EXPECT_EQ(below_->puts.load(), 2u) << "one write per key reached the store below";
  EXPECT_EQ(GetValue(*memory_, "a"), "3");

  // Nothing is dirty any more: a second flush writes nothing.
  listener_.calls.clear();
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_TRUE(listener_.calls.empty());
  EXPECT_EQ(below_->puts.load(), 2u);
}

// Kafka Streams' order: by each key's last write, reads not counting, and an entry
// written down early (evicted) leaves the others' order as it was.
TEST_F(CachingStoreTest, AFlushLetsKeysDownInTheOrderOfTheirLastWrite) {
  Put("a", "1");
  Put("b", "1");
  Put("c", "1");
  Put("d", "1");
  Put("a", "2");                              // a moves behind d
  EXPECT_EQ(GetValue(*cache_, "b"), "1");     // a read does not move b
  ASSERT_TRUE(cache_->Delete("c").ok());      // c moves behind a
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(listener_.calls, (Calls{{"b", "1"}, {"d", "1"}, {"a", "2"}, {"c", std::nullopt}}));

  // Room for four: y, the least recently used (x was read), is evicted from the middle
  // of the dirty list; the others keep their order.
  listener_.calls.clear();
  cache_->Discard();  // all clean: nothing lost
  budget_.max_bytes = 4 * EntryBytes("x", "1") + 10;
  Put("x", "1");
  Put("y", "1");
  Put("z", "1");
  Put("w", "1");
  EXPECT_EQ(GetValue(*cache_, "x"), "1");
  Put("v", "1");
  ASSERT_EQ(listener_.calls.size(), 1u);
  EXPECT_EQ(listener_.calls[0].first, "y");
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(listener_.calls, (Calls{{"y", "1"}, {"x", "1"}, {"z", "1"}, {"w", "1"}, {"v", "1"}}));
}

TEST_F(CachingStoreTest, ADeleteReachesTheStoreBelowAndTheListenerAsNullopt) {
  ASSERT_TRUE(memory_->Put("gone", "old").ok());
  memory_->Commit();
  Put("never", "x");
  ASSERT_TRUE(cache_->Delete("gone").ok());
  ASSERT_TRUE(cache_->Delete("never").ok());
  EXPECT_EQ(GetValue(*cache_, "gone"), std::nullopt) << "the cached delete hides the key";
  EXPECT_EQ(GetValue(*memory_, "gone"), "old");
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(listener_.ByKey(),
            (std::map<std::string, std::vector<std::optional<std::string>>>{
                {"gone", {std::nullopt}}, {"never", {std::nullopt}}}));
  EXPECT_EQ(below_->deletes.load(), 2u);
  EXPECT_EQ(GetValue(*memory_, "gone"), std::nullopt);
  EXPECT_EQ(GetValue(*cache_, "gone"), std::nullopt);
}

// As in Kafka Streams' caching stores: a key deleted before the store below ever held it
// (a session merged into a longer one within a commit interval) is neither deleted below
// nor reported: nothing was written, so nothing was emitted. Only where the cache knows
// the store below lacks the key: a PutAbsent made the entry, or a flush let its delete down.
TEST_F(CachingStoreTest, ADeleteOfAKeyTheStoreBelowNeverHeldIsNotLetDown) {
  ASSERT_TRUE(cache_->PutAbsent("fresh", "f").ok());
  ASSERT_TRUE(cache_->Delete("fresh").ok());
  ASSERT_TRUE(cache_->PutAbsent("kept", "k").ok());
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(listener_.calls, (Calls{{"kept", "k"}}));
  EXPECT_EQ(below_->deletes.load(), 0u);
  EXPECT_EQ(GetValue(*cache_, "fresh"), std::nullopt);

  // Once written down, the key is below: its delete goes down and is reported.
  ASSERT_TRUE(cache_->Delete("kept").ok());
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(below_->deletes.load(), 1u);
  EXPECT_EQ(GetValue(*memory_, "kept"), std::nullopt);
  // And once its delete went down, the store below lacks it again.
  Put("kept", "again");
  ASSERT_TRUE(cache_->Delete("kept").ok());
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(below_->deletes.load(), 1u);
  EXPECT_EQ(listener_.calls, (Calls{{"kept", "k"}, {"kept", std::nullopt}}));

  // A key put without PutAbsent may be below: its delete goes down.
  Put("unknown", "u");
  ASSERT_TRUE(cache_->Delete("unknown").ok());
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(below_->deletes.load(), 2u);

  // Written around the cache (restoration), nothing is known absent any more.
  ASSERT_TRUE(cache_->PutAbsent("restored", "mine").ok());
  ASSERT_TRUE(memory_->Put("restored", "theirs").ok());
  cache_->ForgetHeldKeys();
  ASSERT_TRUE(cache_->Delete("restored").ok());
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(below_->deletes.load(), 3u);
  EXPECT_EQ(GetValue(*memory_, "restored"), std::nullopt);
}

TEST_F(CachingStoreTest, AGetHitsTheCacheAndAMissLoadsTheKeyOnce) {
  ASSERT_TRUE(memory_->Put("below", "b").ok());
  Put("cached", "c");
  EXPECT_EQ(GetValue(*cache_, "cached"), "c");
  EXPECT_EQ(below_->gets.load(), 0u) << "a write-cached key is served from the cache";

  EXPECT_EQ(GetValue(*cache_, "below"), "b");
  EXPECT_EQ(below_->gets.load(), 1u);
  EXPECT_EQ(GetValue(*cache_, "below"), "b");
  EXPECT_EQ(GetValue(*cache_, "below"), "b");
  EXPECT_EQ(below_->gets.load(), 1u) << "a read key is cached";

  // An absent key is not cached, and the store below is not asked for it: it never held
  // it (CachingStoreTest.AKeyTheStoreBelowNeverHeldIsNotReadThere).
  EXPECT_EQ(GetValue(*cache_, "absent"), std::nullopt);
  EXPECT_EQ(GetValue(*cache_, "absent"), std::nullopt);
  EXPECT_EQ(below_->gets.load(), 1u);
  EXPECT_EQ(cache_->entries(), 2u);

  // A read entry is clean: flushing writes nothing down.
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(listener_.calls, (Calls{{"cached", "c"}}));
}

// A miss reads below only for a key the store below may hold: the keys it held when the
// cache first missed, and every key the cache has had since (written down, evicted,
// deleted). Written around the cache (restoration), it starts over.
TEST_F(CachingStoreTest, AKeyTheStoreBelowNeverHeldIsNotReadThere) {
  ASSERT_TRUE(memory_->Put("held", "h").ok());
  EXPECT_EQ(GetValue(*cache_, "never"), std::nullopt);
  EXPECT_EQ(below_->gets.load(), 0u) << "never held below: not read there";
  EXPECT_EQ(GetValue(*cache_, "held"), "h");
  EXPECT_EQ(below_->gets.load(), 1u);

  // Written through the cache, written down, and forgotten by the cache (a tiny budget
  // evicts it): still found below.
  budget_.max_bytes = 1;
  Put("new", "n");
  Put("newer", "m");  // evicts "new"
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(GetValue(*memory_, "new"), "n");
  EXPECT_EQ(GetValue(*cache_, "new"), "n");

  // Written around the cache: after ForgetHeldKeys the filter starts again from the
  // store below.
  ASSERT_TRUE(memory_->Put("restored", "r").ok());
  cache_->ForgetHeldKeys();
  EXPECT_EQ(GetValue(*cache_, "restored"), "r");
  const uint64_t gets = below_->gets.load();
  EXPECT_EQ(GetValue(*cache_, "still-never"), std::nullopt);
  EXPECT_EQ(below_->gets.load(), gets);
}

TEST_F(CachingStoreTest, ExceedingTheBudgetWritesTheLeastRecentlyUsedDirtyEntryDown) {
  budget_.max_bytes = 2 * EntryBytes("k1", "value-1") + 10;  // room for two entries
  Put("k1", "value-1");
  Put("k2", "value-2");
  EXPECT_TRUE(listener_.calls.empty());
  EXPECT_EQ(budget_.used_bytes, 2 * EntryBytes("k1", "value-1"));

  Put("k3", "value-3");
  EXPECT_EQ(listener_.calls, (Calls{{"k1", "value-1"}})) << "k1 was the least recently used";
  EXPECT_EQ(GetValue(*memory_, "k1"), "value-1");
  EXPECT_EQ(GetValue(*memory_, "k2"), std::nullopt);
  EXPECT_EQ(cache_->entries(), 2u);
  EXPECT_LE(budget_.used_bytes, budget_.max_bytes);

  // The evicted key is read back from below.
  EXPECT_EQ(GetValue(*cache_, "k1"), "value-1");
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(GetValue(*memory_, "k3"), "value-3");
}

TEST_F(CachingStoreTest, AReadOrWriteMakesAKeyTheMostRecentlyUsed) {
  budget_.max_bytes = 2 * EntryBytes("k1", "v") + 10;
  Put("k1", "v");
  Put("k2", "v");
  EXPECT_EQ(GetValue(*cache_, "k1"), "v");  // k2 is now the least recently used
  Put("k3", "v");
  EXPECT_EQ(listener_.calls, (Calls{{"k2", "v"}}));

  Put("k1", "w");  // k3 is now the least recently used
  Put("k4", "v");
  EXPECT_EQ(listener_.calls, (Calls{{"k2", "v"}, {"k3", "v"}}));
  EXPECT_EQ(GetValue(*memory_, "k1"), std::nullopt) << "k1 stayed in the cache";
}

TEST_F(CachingStoreTest, ACleanEntryIsEvictedWithoutAWrite) {
  ASSERT_TRUE(memory_->Put("read", "r").ok());
  budget_.max_bytes = 2 * EntryBytes("read", "r") + 10;
  EXPECT_EQ(GetValue(*cache_, "read"), "r");
  Put("w1", "x");
  Put("w2", "x");
  EXPECT_TRUE(listener_.calls.empty()) << "the evicted entry was clean";
  EXPECT_EQ(below_->puts.load(), 0u);
  EXPECT_EQ(cache_->entries(), 2u);
}

TEST_F(CachingStoreTest, AnEvictedDeleteReachesTheListenerAsNullopt) {
  ASSERT_TRUE(memory_->Put("k1", "old").ok());
  budget_.max_bytes = 2 * EntryBytes("k1", "") + 10;
  ASSERT_TRUE(cache_->Delete("k1").ok());
  Put("k2", "");
  Put("k3", "");
  EXPECT_EQ(listener_.calls, (Calls{{"k1", std::nullopt}}));
  EXPECT_EQ(GetValue(*memory_, "k1"), std::nullopt);
}

TEST_F(CachingStoreTest, AStoreKeepsItsNewestEntryEvenOverTheBudget) {
  budget_.max_bytes = 10;  // smaller than any entry
  Put("k1", "v");
  EXPECT_EQ(cache_->entries(), 1u);
  EXPECT_TRUE(listener_.calls.empty());
  Put("k2", "v");
  EXPECT_EQ(cache_->entries(), 1u);
  EXPECT_EQ(listener_.calls, (Calls{{"k1", "v"}}));
}

TEST_F(CachingStoreTest, RangeMergesTheCacheOverTheStoreBelowWithoutWritingDown) {
  ASSERT_TRUE(memory_->Put("a", "below").ok());
  ASSERT_TRUE(memory_->Put("d", "below").ok());
  ASSERT_TRUE(memory_->Put("e", "below").ok());
  const Entries want = {{"b", "cached"}, {"c", "cached"}, {"d", "newer"}, {"e", "below"}};
  // An empty cache: the store below's range as it is.
  EXPECT_EQ(Keys(Scan(*cache_, std::nullopt, std::nullopt)),
            (std::vector<std::string>{"a", "d", "e"}));
  Put("b", "cached");
  Put("c", "cached");
  Put("d", "newer");
  ASSERT_TRUE(cache_->Delete("a").ok());
  EXPECT_EQ(Scan(*cache_, std::nullopt, std::nullopt), want);
  EXPECT_TRUE(listener_.calls.empty()) << "a range writes nothing down";
  EXPECT_EQ(GetValue(*memory_, "b"), std::nullopt);
  EXPECT_EQ(Keys(Scan(*cache_, "b", "d")), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Keys(Scan(*cache_, "c", std::nullopt)), (std::vector<std::string>{"c", "d", "e"}));
  // Keys cached after the first scan are in later scans.
  Put("a0", "new");
  EXPECT_EQ(Keys(Scan(*cache_, std::nullopt, "b")), (std::vector<std::string>{"a0"}));
  // Written down, or evicted, the same range reads the same from below.
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(listener_.calls.size(), 5u);
  budget_.max_bytes = 1;
  Put("z", "last");  // evicts every entry but this one
  EXPECT_EQ(cache_->entries(), 1u);
  Entries all = want;
  all.insert(all.begin(), {"a0", "new"});
  all.push_back({"z", "last"});
  EXPECT_EQ(Scan(*cache_, std::nullopt, std::nullopt), all);
}

TEST_F(CachingStoreTest, ApproximateNumEntriesIsTheStoreBelows) {
  ASSERT_TRUE(memory_->Put("a", "1").ok());
  memory_->Commit();
  Put("b", "2");
  EXPECT_EQ(cache_->ApproximateNumEntries().value(), 1u);
}

TEST_F(CachingStoreTest, DiscardForgetsDirtyEntriesAndGivesBackTheirBytes) {
  Put("a", "1");
  Put("b", "2");
  EXPECT_GT(budget_.used_bytes, 0u);
  cache_->Discard();
  EXPECT_EQ(budget_.used_bytes, 0u);
  EXPECT_EQ(cache_->entries(), 0u);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_TRUE(listener_.calls.empty());
  EXPECT_EQ(GetValue(*memory_, "a"), std::nullopt);
  EXPECT_EQ(GetValue(*cache_, "a"), std::nullopt);
}

TEST(CacheBudget, TwoStoresShareOneBudgetThatAccountsBoth) {
  CacheBudget budget{1u << 20, 0};
  auto a = std::make_unique<CachingStore>(std::make_unique<MemoryStore>("a"), budget);
  auto b = std::make_unique<CachingStore>(std::make_unique<MemoryStore>("b"), budget);
  ASSERT_TRUE(a->Put("k", "12345").ok());
  EXPECT_EQ(budget.used_bytes, EntryBytes("k", "12345"));
  ASSERT_TRUE(b->Put("key", "1").ok());
  ASSERT_TRUE(b->Put("key2", "").ok());
  EXPECT_EQ(budget.used_bytes,
            EntryBytes("k", "12345") + EntryBytes("key", "1") + EntryBytes("key2", ""));
  // An overwrite accounts the new size.
  ASSERT_TRUE(a->Put("k", "1").ok());
  EXPECT_EQ(budget.used_bytes,
            EntryBytes("k", "1") + EntryBytes("key", "1") + EntryBytes("key2", ""));
  // A delete keeps the key's entry without a value.
  ASSERT_TRUE(b->Delete("key").ok());
  EXPECT_EQ(budget.used_bytes,
            EntryBytes("k", "1") + EntryBytes("key", "") + EntryBytes("key2", ""));

  a->Discard();
  EXPECT_EQ(budget.used_bytes, EntryBytes("key", "") + EntryBytes("key2", ""));
  ASSERT_TRUE(a->Put("again", "x").ok());
  a.reset();
  EXPECT_EQ(budget.used_bytes, EntryBytes("key", "") + EntryBytes("key2", ""));
  ASSERT_TRUE(b->Flush().ok());
  EXPECT_EQ(budget.used_bytes, EntryBytes("key", "") + EntryBytes("key2", ""))
      << "a flush keeps entries cached";
  b.reset();
  EXPECT_EQ(budget.used_bytes, 0u);
}

TEST(CacheBudget, AStoreOverTheSharedBudgetEvictsOnlyItsOwnEntries) {
  CacheBudget budget{3 * EntryBytes("k1", "v") + 10, 0};
  RecordingListener la, lb;
  CachingStore a(std::make_unique<MemoryStore>("a"), budget);
  CachingStore b(std::make_unique<MemoryStore>("b"), budget);
  a.SetFlushListener(&la);
  b.SetFlushListener(&lb);
  ASSERT_TRUE(a.Put("k1", "v").ok());
  ASSERT_TRUE(a.Put("k2", "v").ok());
  ASSERT_TRUE(b.Put("k1", "v").ok());
  EXPECT_TRUE(la.calls.empty() && lb.calls.empty());
  ASSERT_TRUE(b.Put("k2", "v").ok());  // over budget: b evicts b's oldest, not a's
  EXPECT_TRUE(la.calls.empty());
  EXPECT_EQ(lb.calls, (Calls{{"k1", "v"}}));
  EXPECT_EQ(a.entries(), 2u);
  EXPECT_EQ(b.entries(), 1u);
  ASSERT_TRUE(a.Put("k3", "v").ok());  // now a evicts its oldest
  EXPECT_EQ(la.calls, (Calls{{"k1", "v"}}));
  EXPECT_LE(budget.used_bytes, budget.max_bytes);
}

// --- CachingStore over a RocksDbStore: flushes as at-commit writes ----------------------

// A cache over a column family of a real TaskDb, whose flushes are at-commit writes
// that reads of the database do not see until the commit.
class CachingOverRocksTest : public ::testing::Test {
 protected:
  CachingOverRocksTest()
      : db_(TaskDb::Open(dir_.path() / "task", {"s"}, std::make_shared<RocksDbBudget>(8u << 20))
                .value()) {
    // Two entries fit; a third evicts the least recently used.
    budget_.max_bytes = 250;
    cache_ = std::make_unique<CachingStore>(std::make_unique<RocksDbStore>("s", *db_), budget_);
    cache_->SetFlushListener(&listener_);
  }
  std::optional<std::string> Committed(std::string_view key) {
    std::string value;
    bool found = false;
    EXPECT_TRUE(db_->ReadCommitted(db_->Family("s"), key, &value, &found).ok());
    return found ? std::optional<std::string>(value) : std::nullopt;
  }
  void Put(std::string_view key, std::string_view value) {
    ASSERT_TRUE(cache_->Put(key, value).ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<TaskDb> db_;
  CacheBudget budget_;
  RecordingListener listener_;
  std::unique_ptr<CachingStore> cache_;
};

TEST_F(CachingOverRocksTest, AFlushedEntryEvictedBeforeTheCommitIsStillFoundBelow) {
  Put("a", "1");
  ASSERT_TRUE(cache_->Flush().ok());
  Put("b", "1");
  Put("c", "1");  // evicts "a", which only an at-commit write holds below
  EXPECT_EQ(cache_->entries(), 2u);
  EXPECT_EQ(GetValue(*cache_, "a"), "1");
  ASSERT_TRUE(db_->Commit({}).ok());
  EXPECT_EQ(Committed("a"), "1");
}

TEST_F(CachingOverRocksTest, AKeyFlushedThenWrittenAndEvictedBeforeTheCommitKeepsItsLastValue) {
  Put("a", "1");
  ASSERT_TRUE(cache_->Flush().ok());
  Put("a", "2");
  Put("b", "1");
  Put("c", "1");  // evicts "a" dirty: its write-down comes after the flushed one
  ASSERT_TRUE(cache_->Flush().ok());
  ASSERT_TRUE(db_->Commit({}).ok());
  EXPECT_EQ(Committed("a"), "2");
  EXPECT_EQ(Committed("b"), "1");
  EXPECT_EQ(Committed("c"), "1");
}

TEST_F(CachingOverRocksTest, DropBeforeForgetsOnlyTheDroppedEntriesAndKeepsTheOthersDirty) {
  Put("a1", "1");
  Put("c1", "1");
  ASSERT_TRUE(cache_->DropBefore("b").ok());
  EXPECT_EQ(listener_.calls, (Calls{{"a1", "1"}})) << "the dropped entry is let down";
  EXPECT_EQ(cache_->entries(), 1u);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(listener_.calls, (Calls{{"a1", "1"}, {"c1", "1"}}));
  ASSERT_TRUE(db_->Commit({}).ok());
  EXPECT_EQ(Committed("a1"), std::nullopt) << "range-deleted at the commit";
  EXPECT_EQ(Committed("c1"), "1");
}

// --- ChangeLoggingStore ------------------------------------------------------------------

class ChangeLoggingStoreTest : public ::testing::Test {
 protected:
  ChangeLoggingStoreTest() {
    auto memory = std::make_unique<MemoryStore>("counts");
    memory_ = memory.get();
    store_ = std::make_unique<ChangeLoggingStore>(std::move(memory), collector_,
                                                  "app-counts-changelog", 3);
  }

  FakeCollector collector_;
  MemoryStore* memory_ = nullptr;
  std::unique_ptr<ChangeLoggingStore> store_;
};

TEST_F(ChangeLoggingStoreTest, EveryPutSendsOneChangelogRecordOfTheUserValue) {
  const PositionSet positions = Positions({{0, 41, 0}, {1, 7, 2}});
  const std::string envelope = Envelope("value-1", 1700000000123, positions);
  ASSERT_TRUE(store_->Put("user-1", envelope).ok());
  EXPECT_EQ(store_->topic(), "app-counts-changelog");
  ASSERT_EQ(collector_.sent.size(), 1u);
  const SentRecord& r = collector_.sent[0];
  EXPECT_EQ(r.topic, "app-counts-changelog");
  EXPECT_EQ(r.partition, 3);
  EXPECT_EQ(r.key, "user-1");
  EXPECT_EQ(r.value, "value-1") << "the user's bytes, not the envelope";
  EXPECT_EQ(r.timestamp, 1700000000123);
  EXPECT_TRUE(r.changelog);
  EXPECT_EQ(r.positions, EncodedPositions(positions));
  // The store below holds the whole envelope.
  EXPECT_EQ(GetValue(*memory_, "user-1"), envelope);

  ASSERT_TRUE(store_->Put("user-1", Envelope("value-2", -5, Positions({{0, 42, 0}}))).ok());
  ASSERT_TRUE(store_->Put("user-2", Envelope("x", 0, Positions({{0, 43, 0}}))).ok());
  ASSERT_EQ(collector_.sent.size(), 3u);
  EXPECT_EQ(collector_.sent[1].value, "value-2");
  EXPECT_EQ(collector_.sent[1].timestamp, -5);
  EXPECT_EQ(collector_.sent[1].positions, EncodedPositions(Positions({{0, 42, 0}})));
  EXPECT_EQ(collector_.sent[2].key, "user-2");
}

TEST_F(ChangeLoggingStoreTest, AnEmptyValueIsSentAsAnEmptyValueNotATombstone) {
  ASSERT_TRUE(store_->Put("k", Envelope("", 9, Positions({{0, 1, 0}}))).ok());
  ASSERT_EQ(collector_.sent.size(), 1u);
  EXPECT_EQ(collector_.sent[0].value, std::optional<std::string>(""));
}

TEST_F(ChangeLoggingStoreTest, APutWithoutPositionsSendsNoPositions) {
  ASSERT_TRUE(store_->Put("k", Envelope("v", 9)).ok());
  ASSERT_EQ(collector_.sent.size(), 1u);
  EXPECT_EQ(collector_.sent[0].positions, "");
  EXPECT_TRUE(collector_.sent[0].changelog);
}

TEST_F(ChangeLoggingStoreTest, ADeleteSendsATombstone) {
  ASSERT_TRUE(store_->Put("k", Envelope("v", 9, Positions({{0, 1, 0}}))).ok());
  ASSERT_TRUE(store_->Delete("k").ok());
  ASSERT_EQ(collector_.sent.size(), 2u);
  const SentRecord& r = collector_.sent[1];
  EXPECT_EQ(r.topic, "app-counts-changelog");
  EXPECT_EQ(r.partition, 3);
  EXPECT_EQ(r.key, "k");
  EXPECT_EQ(r.value, std::nullopt) << "a null value (data() == nullptr)";
  EXPECT_TRUE(r.changelog);
  EXPECT_EQ(GetValue(*memory_, "k"), std::nullopt);
}

TEST_F(ChangeLoggingStoreTest, ReadsPassThroughWithoutSendingAnything) {
  ASSERT_TRUE(store_->Put("a", Envelope("1")).ok());
  ASSERT_TRUE(store_->Put("b", Envelope("2")).ok());
  collector_.sent.clear();
  EXPECT_EQ(GetValue(*store_, "a"), Envelope("1"));
  EXPECT_EQ(Keys(Scan(*store_, std::nullopt, std::nullopt)), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(store_->ApproximateNumEntries().value(), 2u);
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_TRUE(collector_.sent.empty());
  EXPECT_EQ(store_->name(), "counts");
}

TEST_F(ChangeLoggingStoreTest, AMalformedEnvelopeIsDataLoss) {
  absl::Status s = store_->Put("k", std::string(3, '\xff'));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(std::string(s.message()).find("counts"), std::string::npos) << s;
  EXPECT_TRUE(collector_.sent.empty());
}

TEST(CachingOverChangeLogging, OnlyFlushedWritesReachTheChangelogOncePerKey) {
  FakeCollector collector;
  CacheBudget budget{1u << 20, 0};
  auto logged = std::make_unique<ChangeLoggingStore>(std::make_unique<MemoryStore>("s"), collector,
                                                     "app-s-changelog", 0);
  CachingStore cache(std::move(logged), budget);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(cache.Put("k", Envelope(std::to_string(i), i, Positions({{0, i, 0}}))).ok());
  }
  ASSERT_TRUE(cache.Delete("gone").ok());
  EXPECT_TRUE(collector.sent.empty());
  ASSERT_TRUE(cache.Flush().ok());
  ASSERT_EQ(collector.sent.size(), 2u);
  EXPECT_EQ(collector.sent[0].key, "k");
  EXPECT_EQ(collector.sent[0].value, "4");
  EXPECT_EQ(collector.sent[0].timestamp, 4);
  EXPECT_EQ(collector.sent[0].positions, EncodedPositions(Positions({{0, 4, 0}})));
  EXPECT_EQ(collector.sent[1].key, "gone");
  EXPECT_EQ(collector.sent[1].value, std::nullopt);
}

// --- MeteredStore ------------------------------------------------------------------------

TEST(MeteredStore, CountsGetsPutsDeletesAndScans) {
  auto metrics = std::make_shared<StoreMetrics>();
  MeteredStore store(std::make_unique<MemoryStore>("m"), metrics);
  ASSERT_TRUE(store.Put("a", "1").ok());
  ASSERT_TRUE(store.Put("b", "2").ok());
  ASSERT_TRUE(store.Put("a", "3").ok());
  ASSERT_TRUE(store.Delete("b").ok());
  EXPECT_EQ(GetValue(store, "a"), "3");
  EXPECT_EQ(GetValue(store, "b"), std::nullopt);
  EXPECT_EQ(GetValue(store, "c"), std::nullopt);
  EXPECT_EQ(Scan(store, std::nullopt, std::nullopt).size(), 1u);
  EXPECT_EQ(Scan(store, "a", "b").size(), 1u);
  ASSERT_TRUE(store.Flush().ok());
  EXPECT_EQ(metrics->puts.load(), 3u);
  EXPECT_EQ(metrics->deletes.load(), 1u);
  EXPECT_EQ(metrics->gets.load(), 3u);
  EXPECT_EQ(metrics->scans.load(), 2u);
  EXPECT_EQ(store.name(), "m");
}

TEST(MeteredStore, PassesCachingAndTheFlushListenerThrough) {
  CacheBudget budget{1u << 20, 0};
  auto metrics = std::make_shared<StoreMetrics>();
  auto memory = std::make_unique<MemoryStore>("m");
  MemoryStore* below = memory.get();
  MeteredStore store(std::make_unique<CachingStore>(std::move(memory), budget), metrics);
  EXPECT_TRUE(store.caching());
  RecordingListener listener;
  store.SetFlushListener(&listener);
  ASSERT_TRUE(store.Put("k", "v").ok());
  EXPECT_EQ(GetValue(*below, "k"), std::nullopt);
  ASSERT_TRUE(store.Flush().ok());
  EXPECT_EQ(listener.calls, (Calls{{"k", "v"}}));
  EXPECT_EQ(GetValue(*below, "k"), "v");

  MeteredStore plain(std::make_unique<MemoryStore>("p"), metrics);
  EXPECT_FALSE(plain.caching());
}

}  // namespace
}  // namespace sluice::internal
