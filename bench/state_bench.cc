// state_bench: what the engine's state path costs, against hand-written loops doing the
// same work on the same data, in the same binary and run. See bench/README.md ("State").
//
// Input: Nexmark-like bids keyed by bidder ("bidder-0012345", 14-byte string keys;
// 8-byte big-endian int64 prices), bidders drawn from a Zipf distribution (s = 1.0 over
// 100,000 bidders by default), pre-generated as RawRecord batches of 1000 (the
// max.poll.records default), cycled with fresh offsets. One iteration = one batch.
//
//   BM_{Count,Sum}_EngineCacheOn/commit:N: a real internal::Task over
//     Stream<string, int64>("bids") -> GroupByKey -> Count() or Reduce(a + b)
//     -> ToStream -> To("out"), the store persistent (RocksDB, logged), the record cache
//     at cache.max.bytes.buffering (10 MiB). Its RecordCollector counts and drops what it
//     is sent (changelog records and outputs) and reports ChangelogEnd as a running
//     counter. Every N input records (or when the task asks), FlushState + CommitState,
//     as StreamThread::Commit does minus Kafka.
//   BM_{Count,Sum}_CacheOffVsHandRocks/commit:N: the same task with the cache off,
//     interleaved batch by batch with a hand-written loop doing the same read-modify-
//     write on a RocksDB database opened with the same options (RocksDbBudget):
//     GetFromBatchAndDB on a WriteBatchWithIndex (reads must see uncommitted writes),
//     Put into it, the batch written (with the WAL) every N records. Each side is timed
//     on its own; counters give both rates and their ratio.
//   BM_{Count,Sum}_HandMap: an absl::flat_hash_map<std::string, int64_t> loop.
//   BM_Restore_{Engine,HandRocks}/distinct:{1,0}: TaskState::Restore of changelog
//     records captured from the engine itself (positions headers included) into an
//     empty persistent store, 1000 records per call, then FinishRestore; against a raw
//     RocksDB WriteBatch loop with the WAL disabled, flushed at the end. distinct:1 is a
//     compacted changelog (1M distinct keys), distinct:0 the changelog of 1M Zipf input
//     records (~81k keys).
//
// After the benchmarks, the peak RSS of child processes (this binary, --rss-child) that
// write keyed updates through TaskState under two rocksdb.memory.budget.bytes settings.
//
// Every benchmark measures wall-clock time (RocksDB flushes and compacts on background
// threads). main() first checks that all sides compute the same counts and sums.
// --profile=<side> runs one side alone for perf/callgrind (see bench/perf_state.sh).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/write_batch_with_index.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "engine/restorer.h"
#include "engine/task.h"
#include "engine/task_state.h"
#include "bench/bench_util.h"
#include "sluice/sluice.h"
#include "src/state/rocksdb_budget.h"

namespace sluice::bench {
namespace {

namespace fs = std::filesystem;
using internal::CacheBudget;
using internal::ChangelogRecord;
using internal::OutRecord;
using internal::RawRecord;
using internal::RocksDbBudget;
using internal::TaskState;

constexpr size_t kBatchSize = 1000;  // max.poll.records default
constexpr size_t kRestoreChunk = internal::Restorer::kMaxRecordsPerStep;

// ---- Flags (ours are removed from argv before Google Benchmark sees it).

struct Flags {
  int64_t keys = 100000;            // distinct bidders
  double zipf = 1.0;                // Zipf exponent
  int64_t input_records = 1000000;  // pre-generated, cycled
  // Input records between commits; each throughput benchmark runs at each interval.
  std::vector<int64_t> commit_records = {100000, 1000000};
  // Records per timed throughput run, rounded up to whole commit intervals.
  int64_t timed_records = 1000000;
  int64_t warm_records = 200000;    // processed before a throughput benchmark's timing
  int64_t cache_bytes = 10 << 20;   // cache.max.bytes.buffering (one thread)
  int64_t budget_mib = 64;          // rocksdb.memory.budget.bytes for the throughput runs
  int64_t restore_records = 1000000;
  int64_t check_records = 200000;
  std::vector<int64_t> rss_budgets_mib = {16, 256};
  int64_t rss_records = 1500000;
  int64_t rss_keys = 1000000;
  int64_t rss_value_bytes = 1024;
  int64_t rss_commit_records = 5000;
  double rss_max_seconds = 55;
  bool rss = true;
  bool rss_child = false;
  int64_t rss_budget_mib = 16;  // the child's budget
  std::string state_dir;        // where databases go; default: the temp directory
  std::string profile;          // --profile=<side>: run one side only (for perf/callgrind)
  int64_t profile_records = 2000000;
  std::string perf_fifo;  // --profile only: "enable"/"disable" around the measured part
};
Flags g_flags;

// ---- Small helpers.

fs::path MakeTempDir(const char* prefix) { return bench::MakeTempDir(g_flags.state_dir, prefix); }


uint64_t DirBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

// A field of /proc/self/status in kB ("VmRSS:", "VmHWM:"), or -1.
int64_t StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::atoll(line.c_str() + n);
  }
  return -1;
}


std::shared_ptr<RocksDbBudget> Budget() {
  static std::shared_ptr<RocksDbBudget> budget =
      RocksDbBudget::Get(static_cast<size_t>(g_flags.budget_mib) << 20);
  return budget;
}


// ---- Input data.


struct Input {
  std::vector<std::string> keys;  // bidder ids; the Zipf rank -> key mapping is shuffled
  std::string values;             // 8 bytes per record: big-endian int64 price (cents)
  std::vector<std::vector<RawRecord>> batches;
  size_t records = 0;
  size_t distinct = 0;
  double top1 = 0, top100 = 0, top1000 = 0;  // share of records of the hottest keys

  Input() {
    const size_t n = std::max<size_t>(kBatchSize, static_cast<size_t>(g_flags.input_records) /
                                                      kBatchSize * kBatchSize);
    records = n;
    keys.resize(static_cast<size_t>(g_flags.keys));
    for (size_t i = 0; i < keys.size(); ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "bidder-%07zu", i);
      keys[i] = buf;
    }
    std::mt19937_64 rng(42);
    std::vector<size_t> rank_to_key(keys.size());
    for (size_t i = 0; i < rank_to_key.size(); ++i) rank_to_key[i] = i;
    std::shuffle(rank_to_key.begin(), rank_to_key.end(), rng);
    ZipfSampler zipf(keys.size(), g_flags.zipf);
    std::uniform_int_distribution<int64_t> price(100, 100000);
    values.resize(n * 8);
    std::vector<uint64_t> per_rank(keys.size());
    batches.resize(n / kBatchSize);
    for (size_t i = 0; i < n; ++i) {
      const size_t rank = zipf(rng);
      ++per_rank[rank];
      PutBig64(price(rng), &values[i * 8]);
      RawRecord r;
      r.key = keys[rank_to_key[rank]];
      r.value = std::string_view(&values[i * 8], 8);
      r.timestamp = 1700000000000 + static_cast<int64_t>(i);
      batches[i / kBatchSize].push_back(r);
    }
    uint64_t acc = 0;
    for (size_t r = 0; r < per_rank.size(); ++r) {
      distinct += per_rank[r] > 0;
      acc += per_rank[r];
      if (r == 0) top1 = static_cast<double>(acc) / static_cast<double>(n);
      if (r == 99) top100 = static_cast<double>(acc) / static_cast<double>(n);
      if (r == 999) top1000 = static_cast<double>(acc) / static_cast<double>(n);
    }
  }
};

Input& TheInput() {
  static Input* input = new Input();
  return *input;
}

// ---- Engine plumbing.

// Changelog records as the engine sent them, for the restore benchmarks.
class ChangelogCapture {
 public:
  void Add(const OutRecord& r) {
    Ref ref;
    ref.key = Append(r.key);
    ref.tombstone = r.value.data() == nullptr;
    ref.value = Append(r.value);
    ref.positions = Append(r.positions);
    ref.timestamp = r.timestamp;
    refs_.push_back(ref);
  }
  // Views into this object's bytes (which no longer grow), offsets 0, 1, ...
  std::vector<ChangelogRecord> Records() const {
    std::vector<ChangelogRecord> out;
    out.reserve(refs_.size());
    for (size_t i = 0; i < refs_.size(); ++i) {
      const Ref& ref = refs_[i];
      ChangelogRecord r;
      r.key = View(ref.key);
      if (!ref.tombstone) r.value = View(ref.value);
      r.timestamp = ref.timestamp;
      r.positions = View(ref.positions);
      r.offset = static_cast<int64_t>(i);
      out.push_back(r);
    }
    return out;
  }

 private:
  struct Span {
    size_t offset = 0, size = 0;
  };
  struct Ref {
    Span key, value, positions;
    int64_t timestamp = 0;
    bool tombstone = false;
  };
  Span Append(std::string_view s) {
    Span span{bytes_.size(), s.size()};
    bytes_.append(s.data(), s.size());
    return span;
  }
  std::string_view View(Span s) const { return std::string_view(bytes_).substr(s.offset, s.size); }

  std::string bytes_;
  std::vector<Ref> refs_;
};

// Counts and drops what the task sends; ChangelogEnd is the number of changelog records
// sent so far (what a producer's delivery reports would say once flushed).
class CountingCollector final : public internal::RecordCollector {
 public:
  absl::Status Send(const OutRecord& record) override {
    if (record.changelog) {
      ++changelog;
      if (capture != nullptr) capture->Add(record);
    } else {
      ++outputs;
    }
    return absl::OkStatus();
  }
  absl::StatusOr<int32_t> PartitionCount(std::string_view) override { return 1; }
  int64_t ChangelogEnd(std::string_view, int32_t) override {
    return changelog > 0 ? static_cast<int64_t>(changelog) : -1;
  }

  uint64_t changelog = 0;
  uint64_t outputs = 0;
  ChangelogCapture* capture = nullptr;
};

enum class Agg { kCount, kSum };
const char* StoreName(Agg agg) { return agg == Agg::kCount ? "counts" : "sums"; }

Topology BuildTopology(Agg agg) {
  StreamsBuilder builder;
  auto grouped = builder.Stream("bids", Consumed<StringSerde, Int64Serde>()).GroupByKey();
  using M = Materialized<StringSerde, Int64Serde>;
  KTable<std::string, int64_t> table =
      agg == Agg::kCount
          ? grouped.Count(M::As(StoreName(agg)))
          : grouped.Reduce([](int64_t a, int64_t b) { return a + b; }, M::As(StoreName(agg)));
  table.ToStream().To("out", Produced<StringSerde, Int64Serde>());
  absl::StatusOr<Topology> topology = builder.Build();
  Check(topology.status(), "building the topology");
  return *std::move(topology);
}

// What every side offers the benchmark loop.
class Side {
 public:
  virtual ~Side() = default;
  virtual void Process(std::vector<RawRecord>& batch) = 0;
  // The aggregate of `key` as the side holds it (committed or not).
  virtual bool Lookup(std::string_view key, int64_t* value) = 0;
  virtual uint64_t changelog() const { return 0; }
  virtual uint64_t outputs() const { return 0; }
  uint64_t commits = 0;
  size_t next_batch = 0;  // position in the cycled input
};

// A real Task over the topology, driven as a stream thread would.
class EngineSide final : public Side {
 public:
  EngineSide(Agg agg, bool caching, int64_t commit_records, ChangelogCapture* capture = nullptr)
      : agg_(agg), commit_records_(commit_records), dir_(MakeTempDir("sluice-state-bench-")),
        topology_(std::make_unique<Topology>(BuildTopology(agg))) {
    collector_.capture = capture;
    cache_.max_bytes = caching ? static_cast<size_t>(g_flags.cache_bytes) : 0;
    internal::Task::Options options;
    options.application_id = "state-bench";
    options.state_dir = dir_;
    options.rocksdb_budget = Budget();
    options.cache = caching ? &cache_ : nullptr;
    absl::StatusOr<std::unique_ptr<internal::Task>> task = internal::Task::Create(
        internal::TaskId{0, 0}, topology_->compiled(), collector_, options, &metrics_);
    Check(task.status(), "creating the task");
    task_ = std::move(*task);
  }
  ~EngineSide() override {
    task_.reset();
    RemoveDir(dir_);
  }

  void Process(std::vector<RawRecord>& batch) override {
    Renumber(batch, next_offset_);
    Check(task_->Process("bids", 0, batch), "processing");
    since_commit_ += static_cast<int64_t>(batch.size());
    if (since_commit_ >= commit_records_ || task_->WantsCommit()) Commit();
  }

  // StreamThread::Commit minus Kafka: caches write down (outputs sent), the producer
  // would be flushed here, then the store changes and positions are written.
  void Commit() {
    Check(task_->FlushState(), "flushing state");
    Check(task_->CommitState(), "committing state");
    since_commit_ = 0;
    ++commits;
  }

  bool Lookup(std::string_view key, int64_t* value) override {
    internal::KeyValueBytesStore* store = task_->state()->Get(StoreName(agg_));
    bool found = false;
    Check(store->Get(key, &buf_, &found), "reading the store");
    if (!found) return false;
    internal::StoredValue stored;
    if (!internal::DecodeStored(buf_, &stored)) std::abort();
    *value = GetBig64(stored.value);
    return true;
  }
  uint64_t changelog() const override { return collector_.changelog; }
  uint64_t outputs() const override { return collector_.outputs; }

 private:
  Agg agg_;
  int64_t commit_records_;
  fs::path dir_;
  std::unique_ptr<Topology> topology_;
  CountingCollector collector_;
  CacheBudget cache_;
  internal::TaskMetrics metrics_;
  std::unique_ptr<internal::Task> task_;
  int64_t next_offset_ = 0;
  int64_t since_commit_ = 0;
  std::string buf_;
};

// RocksDB database with the engine's options: default, meta and one store family.
class RawDb {
 public:
  explicit RawDb(const fs::path& dir, const std::string& family) : dir_(dir) {
    rocksdb::DBOptions options = Budget()->DbOptions();
    const rocksdb::ColumnFamilyOptions cf = Budget()->FamilyOptions();
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
        {rocksdb::kDefaultColumnFamilyName, cf}, {"sluice.meta", cf}, {family, cf}};
    rocksdb::DB* raw = nullptr;
    Check(rocksdb::DB::Open(options, dir.string(), descriptors, &handles_, &raw), "opening");
    db_.reset(raw);
  }
  ~RawDb() {
    for (rocksdb::ColumnFamilyHandle* h : handles_) db_->DestroyColumnFamilyHandle(h);
    Check(db_->Close(), "closing");
    db_.reset();
  }
  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* meta() { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* store() { return handles_[2]; }
  const std::vector<rocksdb::ColumnFamilyHandle*>& all() { return handles_; }

 private:
  fs::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// TaskState's default bound on uncommitted changes (the task asks for a commit past it).
const size_t kMaxPendingBytes = TaskState::Options().max_pending_bytes;

// The hand-written RocksDB loop: read-modify-write through a WriteBatchWithIndex over
// the database, written at the engine's commit points with the WAL off, as the engine
// writes a store that has a changelog (TaskDb::CommitWithoutWal).
class HandRocksSide final : public Side {
 public:
  HandRocksSide(Agg agg, int64_t commit_records)
      : agg_(agg), commit_records_(commit_records), dir_(MakeTempDir("sluice-state-bench-rocks-")),
        db_(std::make_unique<RawDb>(dir_, StoreName(agg))),
        batch_(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true) {}
  ~HandRocksSide() override {
    db_.reset();
    RemoveDir(dir_);
  }

  void Process(std::vector<RawRecord>& batch) override {
    Renumber(batch, next_offset_);
    rocksdb::DB* db = db_->db();
    rocksdb::ColumnFamilyHandle* cf = db_->store();
    char out[8];
    for (const RawRecord& r : batch) {
      rocksdb::Status s = batch_.GetFromBatchAndDB(db, read_, cf, ToSlice(r.key), &buf_);
      int64_t current = 0;
      if (s.ok()) {
        current = GetBig64(buf_);
      } else if (!s.IsNotFound()) {
        Check(s, "get");
      }
      current += agg_ == Agg::kCount ? 1 : GetBig64(r.value);
      PutBig64(current, out);
      Check(batch_.Put(cf, ToSlice(r.key), rocksdb::Slice(out, 8)), "put");
    }
    since_commit_ += static_cast<int64_t>(batch.size());
    // The engine's rule too: past that many bytes of pending changes, commit early
    // (TaskState::WantsCommit, checked after each batch).
    if (since_commit_ >= commit_records_ ||
        batch_.GetWriteBatch()->GetDataSize() > kMaxPendingBytes) {
      rocksdb::WriteOptions unlogged;
      unlogged.disableWAL = true;
      Check(db->Write(unlogged, batch_.GetWriteBatch()), "write");
      batch_.Clear();
      since_commit_ = 0;
      ++commits;
    }
  }

  bool Lookup(std::string_view key, int64_t* value) override {
    rocksdb::Status s = batch_.GetFromBatchAndDB(db_->db(), read_, db_->store(), ToSlice(key), &buf_);
    if (s.IsNotFound()) return false;
    Check(s, "get");
    *value = GetBig64(buf_);
    return true;
  }

 private:
  Agg agg_;
  int64_t commit_records_;
  fs::path dir_;
  std::unique_ptr<RawDb> db_;
  rocksdb::WriteBatchWithIndex batch_;
  rocksdb::ReadOptions read_;
  std::string buf_;
  int64_t next_offset_ = 0;
  int64_t since_commit_ = 0;
};

// The hand-written in-memory loop.
class HandMapSide final : public Side {
 public:
  explicit HandMapSide(Agg agg) : agg_(agg) {}
  void Process(std::vector<RawRecord>& batch) override {
    Renumber(batch, next_offset_);
    for (const RawRecord& r : batch) {
      auto it = map_.find(r.key);
      if (it == map_.end()) it = map_.emplace(std::string(r.key), 0).first;
      it->second += agg_ == Agg::kCount ? 1 : GetBig64(r.value);
    }
    benchmark::DoNotOptimize(map_.size());
  }
  bool Lookup(std::string_view key, int64_t* value) override {
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    *value = it->second;
    return true;
  }

 private:
  Agg agg_;
  // Heterogeneous lookup by std::string_view (Debian's absl::string_view is not
  // std::string_view), as the engine's CachingStore does.
  absl::flat_hash_map<std::string, int64_t, internal::StringHash, internal::StringEq> map_;
  int64_t next_offset_ = 0;
};

enum class Kind { kEngineCacheOn, kEngineCacheOff, kHandRocks, kHandMap };
const char* KindName(Kind k) {
  switch (k) {
    case Kind::kEngineCacheOn: return "EngineCacheOn";
    case Kind::kEngineCacheOff: return "EngineCacheOff";
    case Kind::kHandRocks: return "HandRocks";
    case Kind::kHandMap: return "HandMap";
  }
  return "?";
}

std::unique_ptr<Side> MakeSide(Agg agg, Kind kind, int64_t commit_records) {
  switch (kind) {
    case Kind::kEngineCacheOn: return std::make_unique<EngineSide>(agg, true, commit_records);
    case Kind::kEngineCacheOff: return std::make_unique<EngineSide>(agg, false, commit_records);
    case Kind::kHandRocks: return std::make_unique<HandRocksSide>(agg, commit_records);
    case Kind::kHandMap: return std::make_unique<HandMapSide>(agg);
  }
  return nullptr;
}

void RunBatches(Side& side, size_t records) {
  Input& in = TheInput();
  for (size_t done = 0; done < records; done += kBatchSize) {
    side.Process(in.batches[side.next_batch]);
    side.next_batch = (side.next_batch + 1) % in.batches.size();
  }
}

// ---- The side under test lives across the repetitions of one benchmark: its store
// stays warm and keeps growing, as a running task's would. A different benchmark
// replaces it (closing the previous database first).

std::string g_side_name;
std::unique_ptr<Side> g_side, g_side2;

void ResetSides() {
  g_side.reset();
  g_side2.reset();
  g_side_name.clear();
}

Side& CurrentSide(Agg agg, Kind kind, int64_t commit_records) {
  std::string name =
      std::string(StoreName(agg)) + "/" + KindName(kind) + "/" + std::to_string(commit_records);
  if (name != g_side_name) {
    ResetSides();
    g_side = MakeSide(agg, kind, commit_records);
    g_side_name = name;
    RunBatches(*g_side, static_cast<size_t>(g_flags.warm_records));
  }
  return *g_side;
}

// The cache-off engine and the RocksDB loop, both open at once.
std::pair<Side*, Side*> CurrentPair(Agg agg, int64_t commit_records) {
  std::string name = std::string(StoreName(agg)) + "/pair/" + std::to_string(commit_records);
  if (name != g_side_name) {
    ResetSides();
    g_side = MakeSide(agg, Kind::kEngineCacheOff, commit_records);
    g_side2 = MakeSide(agg, Kind::kHandRocks, commit_records);
    g_side_name = name;
    RunBatches(*g_side, static_cast<size_t>(g_flags.warm_records));
    RunBatches(*g_side2, static_cast<size_t>(g_flags.warm_records));
  }
  return {g_side.get(), g_side2.get()};
}

// One iteration is one batch of 1000 records; the iteration count is fixed so that a
// run spans whole commit intervals (see RegisterBenchmarks).
void BM_Throughput(benchmark::State& state, Agg agg, Kind kind) {
  Side& side = CurrentSide(agg, kind, state.range(0));
  Input& in = TheInput();
  const uint64_t changelog0 = side.changelog(), outputs0 = side.outputs(), commits0 = side.commits;
  for (auto _ : state) {
    side.Process(in.batches[side.next_batch]);
    side.next_batch = (side.next_batch + 1) % in.batches.size();
  }
  const auto records = static_cast<double>(state.iterations() * kBatchSize);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatchSize));
  state.counters["chlog/rec"] = static_cast<double>(side.changelog() - changelog0) / records;
  state.counters["out/rec"] = static_cast<double>(side.outputs() - outputs0) / records;
  state.counters["commits"] = static_cast<double>(side.commits - commits0);
}

// ---- Restore.

// Changelog records produced by the engine (Count, no cache: one changelog record per
// input record). `distinct`: one record per key, 1..M keys in random order (a compacted
// changelog of an M-key table); otherwise the changelog of the first M Zipf input records
// (an uncompacted tail, ~`keys` distinct keys).
struct RestoreInput {
  ChangelogCapture capture;
  std::vector<ChangelogRecord> records;
  size_t distinct_keys = 0;
};

const RestoreInput& TheRestoreInput(bool distinct) {
  static std::map<bool, std::unique_ptr<RestoreInput>> inputs;
  std::unique_ptr<RestoreInput>& slot = inputs[distinct];
  if (slot) return *slot;
  slot = std::make_unique<RestoreInput>();
  const auto m = static_cast<size_t>(g_flags.restore_records);
  {
    EngineSide engine(Agg::kCount, /*caching=*/false, g_flags.commit_records.front(),
                      &slot->capture);
    if (distinct) {
      std::vector<std::string> keys(m);
      for (size_t i = 0; i < m; ++i) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "bidder-%07zu", i);
        keys[i] = buf;
      }
      std::mt19937_64 rng(7);
      std::shuffle(keys.begin(), keys.end(), rng);
      char value[8];
      PutBig64(1, value);
      std::vector<RawRecord> batch;
      for (size_t i = 0; i < m; ++i) {
        RawRecord r;
        r.key = keys[i];
        r.value = std::string_view(value, 8);
        r.timestamp = 1700000000000 + static_cast<int64_t>(i);
        batch.push_back(r);
        if (batch.size() == kBatchSize || i + 1 == m) {
          engine.Process(batch);
          batch.clear();
        }
      }
    } else {
      RunBatches(engine, m);
    }
    engine.Commit();
  }
  slot->records = slot->capture.Records();
  absl::flat_hash_set<std::string_view, internal::StringHash, internal::StringEq> keys;
  for (const ChangelogRecord& r : slot->records) keys.insert(r.key);
  slot->distinct_keys = keys.size();
  return *slot;
}

void BM_Restore_Engine(benchmark::State& state) {
  const bool distinct = state.range(0) != 0;
  const RestoreInput& input = TheRestoreInput(distinct);
  const std::span<const ChangelogRecord> records(input.records);
  for (auto _ : state) {
    state.PauseTiming();
    const fs::path dir = MakeTempDir("sluice-restore-");
    CountingCollector collector;
    TaskState::Options options;
    options.dir = dir / "0_0";
    options.budget = Budget();
    options.collector = &collector;
    options.application_id = "state-bench";
    options.task = "0_0";
    internal::StoreSpec spec;
    spec.name = "counts";
    absl::StatusOr<std::unique_ptr<TaskState>> opened = TaskState::Open({spec}, options);
    Check(opened.status(), "opening the task state");
    std::unique_ptr<TaskState> task_state = std::move(*opened);
    TaskState::Store& store = *task_state->stores()[0];
    state.ResumeTiming();

    Check(task_state->BeginFullRestore(store, static_cast<int64_t>(records.size())),
          "beginning the restore");
    for (size_t i = 0; i < records.size(); i += kRestoreChunk) {
      Check(task_state->Restore(store, records.subspan(i, std::min(kRestoreChunk, records.size() - i))),
            "restoring");
    }
    Check(task_state->FinishRestore({{"counts", static_cast<int64_t>(records.size())}}),
          "finishing the restore");

    state.PauseTiming();
    task_state.reset();
    RemoveDir(dir);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * records.size()));
  state.counters["keys"] = static_cast<double>(input.distinct_keys);
}

void BM_Restore_HandRocks(benchmark::State& state) {
  const bool distinct = state.range(0) != 0;
  const RestoreInput& input = TheRestoreInput(distinct);
  const std::vector<ChangelogRecord>& records = input.records;
  std::string value;
  for (auto _ : state) {
    state.PauseTiming();
    const fs::path dir = MakeTempDir("sluice-restore-rocks-");
    auto db = std::make_unique<RawDb>(dir, "counts");
    state.ResumeTiming();

    rocksdb::WriteOptions unlogged;
    unlogged.disableWAL = true;
    rocksdb::WriteBatch batch;
    for (size_t i = 0; i < records.size(); ++i) {
      const ChangelogRecord& r = records[i];
      if (r.value) {
        // The same bytes the engine stores, less its timestamp varint.
        value.assign(r.positions.data(), r.positions.size());
        value.append(r.value->data(), r.value->size());
        Check(batch.Put(db->store(), ToSlice(r.key), value), "put");
      } else {
        Check(batch.Delete(db->store(), ToSlice(r.key)), "delete");
      }
      if ((i + 1) % kRestoreChunk == 0 || i + 1 == records.size()) {
        Check(db->db()->Write(unlogged, &batch), "write");
        batch.Clear();
      }
    }
    Check(db->db()->Flush(rocksdb::FlushOptions(), db->all()), "flush");
    char end[8];
    PutBig64(static_cast<int64_t>(records.size()), end);
    Check(db->db()->Put(rocksdb::WriteOptions(), db->meta(), "changelog:counts",
                        rocksdb::Slice(end, 8)),
          "checkpoint");

    state.PauseTiming();
    db.reset();
    RemoveDir(dir);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * records.size()));
  state.counters["keys"] = static_cast<double>(input.distinct_keys);
}

// Cache off vs the RocksDB loop, interleaved: each iteration gives one batch to each side
// (alternating which goes first) and times each on its own, so that both see the same
// machine (other tenants, RocksDB background work) over the same stretch of time. Run
// one after the other, the two rates swung by up to 2x between runs on the shared
// machine. Reports each side's records/s and their ratio as counters.
void BM_Pair(benchmark::State& state, Agg agg) {
  auto [engine, hand] = CurrentPair(agg, state.range(0));
  Input& in = TheInput();
  using Clock = std::chrono::steady_clock;
  Clock::duration engine_time{}, hand_time{};
  const uint64_t changelog0 = engine->changelog(), commits0 = engine->commits;
  const uint64_t hand_commits0 = hand->commits;
  bool engine_first = true;
  for (auto _ : state) {
    for (int k = 0; k < 2; ++k) {
      Side* side = (k == 0) == engine_first ? engine : hand;
      const Clock::time_point t0 = Clock::now();
      side->Process(in.batches[side->next_batch]);
      (side == engine ? engine_time : hand_time) += Clock::now() - t0;
      side->next_batch = (side->next_batch + 1) % in.batches.size();
    }
    engine_first = !engine_first;
  }
  const auto records = static_cast<double>(state.iterations() * kBatchSize);
  const double engine_rate = records / std::chrono::duration<double>(engine_time).count();
  const double hand_rate = records / std::chrono::duration<double>(hand_time).count();
  state.counters["off_rec/s"] = engine_rate;
  state.counters["rocks_rec/s"] = hand_rate;
  state.counters["off/rocks"] = engine_rate / hand_rate;
  state.counters["chlog/rec"] = static_cast<double>(engine->changelog() - changelog0) / records;
  state.counters["commits"] = static_cast<double>(engine->commits - commits0);
  state.counters["hand_commits"] = static_cast<double>(hand->commits - hand_commits0);
}

int64_t TimedRecords(int64_t commit_records) {
  const int64_t c = std::max<int64_t>(commit_records, 1);
  const int64_t records = std::max<int64_t>(1, (g_flags.timed_records + c - 1) / c) * c;
  return (records + static_cast<int64_t>(kBatchSize) - 1) / static_cast<int64_t>(kBatchSize) *
         static_cast<int64_t>(kBatchSize);
}

void RegisterBenchmarks() {
  for (Agg agg : {Agg::kCount, Agg::kSum}) {
    const std::string prefix = std::string("BM_") + (agg == Agg::kCount ? "Count_" : "Sum_");
    for (int64_t c : g_flags.commit_records) {
      const int64_t iterations = TimedRecords(c) / static_cast<int64_t>(kBatchSize);
      // Cheap enough to run 3x longer, which evens out more of the machine's noise.
      benchmark::RegisterBenchmark((prefix + KindName(Kind::kEngineCacheOn)).c_str(), BM_Throughput,
                                   agg, Kind::kEngineCacheOn)
          ->ArgName("commit")->Arg(c)->Iterations(3 * iterations)->UseRealTime();
      benchmark::RegisterBenchmark((prefix + "CacheOffVsHandRocks").c_str(), BM_Pair, agg)
          ->ArgName("commit")->Arg(c)->Iterations(iterations)->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
    // Commits nothing: one run, as long as the longest of the others.
    const int64_t longest = *std::max_element(g_flags.commit_records.begin(), g_flags.commit_records.end());
    benchmark::RegisterBenchmark((prefix + "HandMap").c_str(), BM_Throughput, agg, Kind::kHandMap)
        ->ArgName("commit")->Arg(0)->Iterations(TimedRecords(longest) / static_cast<int64_t>(kBatchSize))
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("BM_Restore_Engine", BM_Restore_Engine)
      ->ArgName("distinct")->Arg(1)->Arg(0)->Iterations(1)->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Restore_HandRocks", BM_Restore_HandRocks)
      ->ArgName("distinct")->Arg(1)->Arg(0)->Iterations(1)->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

// ---- Same work, checked once: all four sides of each aggregation over the same input
// hold the same value for every key.

bool CheckSameWork() {
  const auto n = static_cast<size_t>(g_flags.check_records);
  bool same = true;
  for (Agg agg : {Agg::kCount, Agg::kSum}) {
    std::vector<std::unique_ptr<Side>> sides;
    for (Kind kind : {Kind::kEngineCacheOn, Kind::kEngineCacheOff, Kind::kHandRocks, Kind::kHandMap}) {
      sides.push_back(MakeSide(agg, kind, g_flags.commit_records.front()));
      RunBatches(*sides.back(), n);
    }
    size_t present = 0, differ = 0;
    int64_t total = 0;
    for (const std::string& key : TheInput().keys) {
      int64_t want = 0;
      const bool found = sides[3]->Lookup(key, &want);
      present += found;
      total += found ? want : 0;
      for (size_t i = 0; i < 3; ++i) {
        int64_t got = 0;
        const bool f = sides[i]->Lookup(key, &got);
        if (f != found || (found && got != want)) ++differ;
      }
    }
    // Without a cache, every input record is one changelog record and one output.
    auto* off = static_cast<EngineSide*>(sides[1].get());
    const bool counts_ok = off->changelog() == n && off->outputs() == n;
    std::printf("same-work check (%s, %zu records): %zu keys, total %lld; engine/rocks vs map "
                "differences: %zu; cache-off changelog %llu, outputs %llu; cache-on changelog "
                "%llu, outputs %llu\n",
                StoreName(agg), n, present, static_cast<long long>(total), differ,
                static_cast<unsigned long long>(off->changelog()),
                static_cast<unsigned long long>(off->outputs()),
                static_cast<unsigned long long>(sides[0]->changelog()),
                static_cast<unsigned long long>(sides[0]->outputs()));
    if (agg == Agg::kCount && total != static_cast<int64_t>(n)) same = false;
    same = same && differ == 0 && counts_ok && present > 0;
  }
  if (!same) std::fprintf(stderr, "state_bench: the sides computed different results\n");
  return same;
}

// ---- Reporting.

class RatioReporter final : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_Defaults : OO_Tabular) {}

  // Keeps every counter of every benchmark (the median when repetitions are asked for).
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      std::string name = run.run_name.function_name;
      if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      if (!median && from_median_[name]) continue;
      if (median) from_median_[name] = true;
      for (const auto& [counter, value] : run.counters) values_[name + "#" + counter] = value.value;
    }
  }

  double Value(const std::string& name, const std::string& counter) const {
    auto it = values_.find(name + "#" + counter);
    return it == values_.end() ? 0 : it->second;
  }
  double Rate(const std::string& name) const { return Value(name, "items_per_second"); }

  void PrintSummary() const {
    std::printf("\nrecords/s, one thread, wall clock (on/map: cache on vs hash-map loop; "
                "off/rocks: cache off vs RocksDB loop)\n");
    std::printf("%-6s %9s %12s %12s %12s %12s %8s %9s\n", "agg", "commit", "cache-on",
                "cache-off", "hand-rocks", "hand-map", "on/map", "off/rocks");
    std::map<int64_t, bool> on_ok, off_ok;
    for (const char* agg : {"Count", "Sum"}) {
      const std::string p = std::string("BM_") + agg + "_";
      const double map = Rate(p + "HandMap/commit:0");
      for (int64_t c : g_flags.commit_records) {
        const std::string suffix = "/commit:" + std::to_string(c);
        const double on = Rate(p + "EngineCacheOn" + suffix);
        const double off = Value(p + "CacheOffVsHandRocks" + suffix, "off_rec/s");
        const double rocks = Value(p + "CacheOffVsHandRocks" + suffix, "rocks_rec/s");
        if (on == 0 && off == 0 && rocks == 0) continue;
        std::printf("%-6s %9lld %12.0f %12.0f %12.0f %12.0f %8.3f %9.3f\n", agg,
                    static_cast<long long>(c), on, off, rocks, map, map > 0 ? on / map : 0,
                    rocks > 0 ? off / rocks : 0);
        if (on > 0) on_ok.try_emplace(c, true).first->second &= on >= 1e6;
        if (off > 0 && rocks > 0) off_ok.try_emplace(c, true).first->second &= off >= 0.8 * rocks;
      }
    }
    std::printf("\n%-12s %12s %12s %8s\n", "restore", "engine", "hand-rocks", "ratio");
    std::optional<bool> restore_ok;
    for (const char* arg : {"distinct:1", "distinct:0"}) {
      const double engine = Rate(std::string("BM_Restore_Engine/") + arg);
      const double hand = Rate(std::string("BM_Restore_HandRocks/") + arg);
      if (engine == 0 && hand == 0) continue;
      std::printf("%-12s %12.0f %12.0f %8.3f\n", arg, engine, hand, hand > 0 ? engine / hand : 0);
      if (engine > 0) restore_ok = restore_ok.value_or(true) && engine >= 5e5;
    }
    std::printf("\ntargets:\n");
    for (const auto& [c, ok] : on_ok) {
      std::printf("  cache on >= 1M records/s, commit every %7lld records (count and sum): %s\n",
                  static_cast<long long>(c), ok ? "met" : "MISSED");
    }
    for (const auto& [c, ok] : off_ok) {
      std::printf("  cache off >= 0.8x RocksDB loop, commit every %7lld records:         %s\n",
                  static_cast<long long>(c), ok ? "met" : "MISSED");
    }
    if (restore_ok) {
      std::printf("  restore >= 500k records/s (both inputs):                               %s\n",
                  *restore_ok ? "met" : "MISSED");
    }
  }

 private:
  std::map<std::string, double> values_;
  std::map<std::string, bool> from_median_;
};

// ---- Peak RSS under a memory budget: a child process per budget.

// The child: writes keyed updates (read, then write a fresh value) through a task's
// state stores (metered -> change-logging -> RocksDbStore, no cache), committing every
// --rss-commit-records, with the process's RocksDB budget at --rss-budget-mib.
int RunRssChild() {
  const int64_t base_kb = StatusKb("VmRSS:");
  const size_t budget_bytes = static_cast<size_t>(g_flags.rss_budget_mib) << 20;
  std::shared_ptr<RocksDbBudget> budget = RocksDbBudget::Get(budget_bytes);
  const fs::path dir = MakeTempDir("sluice-rss-");
  CountingCollector collector;
  TaskState::Options options;
  options.dir = dir / "0_0";
  options.budget = budget;
  options.collector = &collector;
  options.application_id = "state-bench";
  options.task = "0_0";
  internal::StoreSpec spec;
  spec.name = "rss";
  spec.caching = false;
  absl::StatusOr<std::unique_ptr<TaskState>> opened = TaskState::Open({spec}, options);
  Check(opened.status(), "opening the task state");
  std::unique_ptr<TaskState> task_state = std::move(*opened);
  internal::KeyValueBytesStore* store = task_state->Get("rss");
  // The budget's cache and write buffer manager, for what is pinned and what memtables use.
  std::shared_ptr<rocksdb::Cache> cache;
  if (const auto* table =
          budget->FamilyOptions().table_factory->GetOptions<rocksdb::BlockBasedTableOptions>()) {
    cache = table->block_cache;
  }
  const std::shared_ptr<rocksdb::WriteBufferManager> write_buffers =
      budget->DbOptions().write_buffer_manager;
  size_t max_pinned = 0, max_memtables = 0, max_pending = 0;
  auto sample = [&] {
    if (cache != nullptr) max_pinned = std::max(max_pinned, cache->GetPinnedUsage());
    if (write_buffers != nullptr) max_memtables = std::max(max_memtables, write_buffers->memory_usage());
    max_pending = std::max(max_pending, task_state->db()->pending_bytes());
  };

  uint64_t x = 0x9e3779b97f4a7c15ULL;
  auto next = [&x] {  // xorshift64*
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * 0x2545f4914f6cdd1dULL;
  };
  const auto value_bytes = static_cast<size_t>(g_flags.rss_value_bytes);
  std::string value((value_bytes + 7) / 8 * 8, '\0'), envelope, got;
  internal::PositionSet positions;
  char key[32];
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  int64_t max_rss_kb = 0;
  size_t max_usage = 0;
  uint64_t found = 0, logical = 0;
  int64_t i = 0, since_commit = 0;
  auto commit = [&] {
    Check(task_state->FlushCaches(), "flushing");
    Check(task_state->Commit({{"input", i}}), "committing");
    since_commit = 0;
  };
  for (; i < g_flags.rss_records; ++i) {
    if (i % 16384 == 0) sample();
    if (i % 65536 == 0) {
      max_rss_kb = std::max(max_rss_kb, StatusKb("VmRSS:"));
      max_usage = std::max(max_usage, budget->usage());
      if (seconds() > g_flags.rss_max_seconds) break;
    }
    const int len = std::snprintf(key, sizeof key, "key-%012llu",
                                  static_cast<unsigned long long>(next() % g_flags.rss_keys));
    const std::string_view k(key, static_cast<size_t>(len));
    bool f = false;
    Check(store->Get(k, &got, &f), "get");
    found += f;
    for (size_t w = 0; w < value.size(); w += 8) {
      const uint64_t r = next();
      std::memcpy(&value[w], &r, 8);
    }
    const std::string_view v(value.data(), value_bytes);
    positions.clear();
    positions.Advance(internal::WritePosition{0, i, 0});
    internal::EncodeStored(v, 1700000000000 + i, positions, &envelope);
    Check(store->Put(k, envelope), "put");
    logical += k.size() + v.size();
    if (++since_commit >= g_flags.rss_commit_records || task_state->WantsCommit()) commit();
  }
  sample();
  commit();
  max_rss_kb = std::max(max_rss_kb, StatusKb("VmRSS:"));
  max_usage = std::max(max_usage, budget->usage());
  const double elapsed = seconds();
  const int64_t hwm_kb = StatusKb("VmHWM:");
  const rocksdb::ColumnFamilyOptions cf = budget->FamilyOptions();
  std::printf("rss-result budget_mib=%lld records=%lld seconds=%.1f logical_mib=%.0f disk_mib=%.0f "
              "found=%.3f base_rss_mib=%.1f sampled_max_rss_mib=%.1f hwm_mib=%.1f "
              "max_usage_mib=%.1f end_usage_mib=%.1f max_pinned_mib=%.1f max_memtables_mib=%.1f "
              "max_pending_batch_mib=%.1f write_buffer_mib=%.1f\n",
              static_cast<long long>(g_flags.rss_budget_mib), static_cast<long long>(i), elapsed,
              static_cast<double>(logical) / (1 << 20),
              static_cast<double>(DirBytes(dir)) / (1 << 20),
              i > 0 ? static_cast<double>(found) / static_cast<double>(i) : 0.0,
              static_cast<double>(base_kb) / 1024, static_cast<double>(max_rss_kb) / 1024,
              static_cast<double>(hwm_kb) / 1024, static_cast<double>(max_usage) / (1 << 20),
              static_cast<double>(budget->usage()) / (1 << 20),
              static_cast<double>(max_pinned) / (1 << 20),
              static_cast<double>(max_memtables) / (1 << 20),
              static_cast<double>(max_pending) / (1 << 20),
              static_cast<double>(cf.write_buffer_size) / (1 << 20));
  std::fflush(stdout);
  task_state.reset();
  RemoveDir(dir);
  return 0;
}

// The parent: runs one child per budget and prints a table.
int RunRssChildren() {
  std::printf("\npeak RSS: child processes writing %lld keyed updates (uniform over %lld keys, "
              "%lld-byte values, commit every %lld, at most %.0f s each)\n",
              static_cast<long long>(g_flags.rss_records), static_cast<long long>(g_flags.rss_keys),
              static_cast<long long>(g_flags.rss_value_bytes),
              static_cast<long long>(g_flags.rss_commit_records), g_flags.rss_max_seconds);
  std::fflush(stdout);
  std::vector<std::string> results;
  for (int64_t mib : g_flags.rss_budgets_mib) {
    std::vector<std::string> args = {
        "state_bench", "--rss-child", "--rss-budget-mib=" + std::to_string(mib),
        "--rss-records=" + std::to_string(g_flags.rss_records),
        "--rss-keys=" + std::to_string(g_flags.rss_keys),
        "--rss-value-bytes=" + std::to_string(g_flags.rss_value_bytes),
        "--rss-commit-records=" + std::to_string(g_flags.rss_commit_records),
        "--rss-max-seconds=" + std::to_string(g_flags.rss_max_seconds)};
    if (!g_flags.state_dir.empty()) args.push_back("--state-dir=" + g_flags.state_dir);
    int fds[2];
    if (::pipe(fds) != 0) {
      std::perror("state_bench: pipe");
      return 1;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("state_bench: fork");
      return 1;
    }
    if (pid == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::perror("state_bench: exec");
      ::_exit(127);
    }
    ::close(fds[1]);
    std::string output;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "state_bench: the RSS child for %lld MiB failed (status %d): %s\n",
                   static_cast<long long>(mib), status, output.c_str());
      return 1;
    }
    std::fputs(output.c_str(), stdout);
    std::fflush(stdout);
    results.push_back(output);
  }
  // A table of the key figures.
  std::printf("\n%10s %10s %8s %11s %9s %10s %13s %14s\n", "budget", "records", "seconds",
              "logical", "disk", "VmHWM", "VmHWM-start", "cache usage max");
  double previous_hwm = -1;
  bool bounded = true;
  for (const std::string& out : results) {
    std::map<std::string, double> f;
    const size_t at = out.find("rss-result ");
    if (at == std::string::npos) continue;
    std::string line = out.substr(at + 11, out.find('\n', at) - at - 11);
    size_t p = 0;
    while (p < line.size()) {
      size_t sp = line.find(' ', p);
      if (sp == std::string::npos) sp = line.size();
      const std::string item = line.substr(p, sp - p);
      const size_t eq = item.find('=');
      if (eq != std::string::npos) f[item.substr(0, eq)] = std::atof(item.c_str() + eq + 1);
      p = sp + 1;
    }
    std::printf("%7.0f MiB %10.0f %8.1f %7.0f MiB %5.0f MiB %6.1f MiB %9.1f MiB %10.1f MiB\n",
                f["budget_mib"], f["records"], f["seconds"], f["logical_mib"], f["disk_mib"],
                f["hwm_mib"], f["hwm_mib"] - f["base_rss_mib"], f["max_usage_mib"]);
    if (previous_hwm >= 0 && f["hwm_mib"] <= previous_hwm) bounded = false;
    previous_hwm = f["hwm_mib"];
  }
  std::printf("RSS grows with the budget (each larger budget's VmHWM above the smaller's): %s\n",
              bounded ? "yes" : "NO");
  return 0;
}

// ---- --profile=<side>: one side alone over --profile-records records, no timing
// machinery (for perf record / callgrind). Sides: count-on, count-off, count-rocks,
// count-map, sum-on, ..., restore-distinct, restore-zipf.
// Tells `perf record --control=fifo:PATH -D -1` to measure only the part that matters.
void PerfControl(const char* command) {
  if (g_flags.perf_fifo.empty()) return;
  const int fd = ::open(g_flags.perf_fifo.c_str(), O_WRONLY);
  if (fd < 0) {
    std::perror("state_bench: --perf-fifo");
    return;
  }
  const std::string line = std::string(command) + "\n";
  if (::write(fd, line.data(), line.size()) < 0) std::perror("state_bench: --perf-fifo");
  ::close(fd);
}

int RunProfile() {
  const std::string& p = g_flags.profile;
  const auto start = std::chrono::steady_clock::now();
  size_t records = 0;
  if (p.starts_with("restore-")) {
    const RestoreInput& input = TheRestoreInput(p == "restore-distinct");
    const fs::path dir = MakeTempDir("sluice-restore-");
    CountingCollector collector;
    TaskState::Options options;
    options.dir = dir / "0_0";
    options.budget = Budget();
    options.collector = &collector;
    options.application_id = "state-bench";
    options.task = "0_0";
    internal::StoreSpec spec;
    spec.name = "counts";
    std::unique_ptr<TaskState> task_state = TaskState::Open({spec}, options).value();
    const std::span<const ChangelogRecord> all(input.records);
    PerfControl("enable");
    const auto t0 = std::chrono::steady_clock::now();
    Check(task_state->BeginFullRestore(*task_state->stores()[0], static_cast<int64_t>(all.size())),
          "beginning the restore");
    for (size_t i = 0; i < all.size(); i += kRestoreChunk) {
      Check(task_state->Restore(*task_state->stores()[0],
                                all.subspan(i, std::min(kRestoreChunk, all.size() - i))),
            "restoring");
    }
    Check(task_state->FinishRestore({{"counts", static_cast<int64_t>(all.size())}}), "finishing");
    PerfControl("disable");
    records = all.size();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("profile %s: %zu records in %.2f s: %.0f records/s\n", p.c_str(), records, s,
                static_cast<double>(records) / s);
    task_state.reset();
    RemoveDir(dir);
    return 0;
  }
  const Agg agg = p.starts_with("count") ? Agg::kCount : Agg::kSum;
  Kind kind;
  if (p.ends_with("-on")) {
    kind = Kind::kEngineCacheOn;
  } else if (p.ends_with("-off")) {
    kind = Kind::kEngineCacheOff;
  } else if (p.ends_with("-rocks")) {
    kind = Kind::kHandRocks;
  } else if (p.ends_with("-map")) {
    kind = Kind::kHandMap;
  } else {
    std::fprintf(stderr, "state_bench: unknown --profile side '%s'\n", p.c_str());
    return 1;
  }
  TheInput();
  std::unique_ptr<Side> side = MakeSide(agg, kind, g_flags.commit_records.front());
  RunBatches(*side, static_cast<size_t>(g_flags.warm_records));
  PerfControl("enable");
  const auto t0 = std::chrono::steady_clock::now();
  RunBatches(*side, static_cast<size_t>(g_flags.profile_records));
  PerfControl("disable");
  records = static_cast<size_t>(g_flags.profile_records);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("profile %s: %zu records in %.2f s: %.0f records/s (setup and warm-up %.2f s)\n", p.c_str(),
              records, s, static_cast<double>(records) / s,
              std::chrono::duration<double>(t0 - start).count());
  return 0;
}

void PrintMachine() {
  std::string model;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.starts_with("model name")) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  const Input& in = TheInput();
  std::string commits;
  for (int64_t c : g_flags.commit_records) commits += (commits.empty() ? "" : ", ") + std::to_string(c);
  std::printf("state_bench: %ld online cpus (%s); RocksDB %d.%d.%d; budget %lld MiB; cache %lld "
              "bytes; commit every {%s} records or past %zu pending bytes; state dir %s\n",
              ::sysconf(_SC_NPROCESSORS_ONLN), model.c_str(), ROCKSDB_MAJOR, ROCKSDB_MINOR,
              ROCKSDB_PATCH, static_cast<long long>(g_flags.budget_mib),
              static_cast<long long>(g_flags.cache_bytes), commits.c_str(), kMaxPendingBytes,
              (g_flags.state_dir.empty() ? fs::temp_directory_path().string() : g_flags.state_dir)
                  .c_str());
  std::printf("input: %zu records in batches of %zu over %zu keys (Zipf s=%.2f): %zu keys seen; "
              "hottest key %.1f%%, top 100 %.1f%%, top 1000 %.1f%% of records\n",
              in.records, kBatchSize, in.keys.size(), g_flags.zipf, in.distinct, 100 * in.top1,
              100 * in.top100, 100 * in.top1000);
}

bool ParseFlag(const char* arg) {
  auto value = [arg](const char* name) -> const char* {
    const size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) == 0 && arg[n] == '=') return arg + n + 1;
    return nullptr;
  };
  const char* v = nullptr;
  auto i64 = [&](const char* name, int64_t& out) {
    if ((v = value(name)) == nullptr) return false;
    out = std::atoll(v);
    return true;
  };
  auto list = [&](const char* name, std::vector<int64_t>& out) {
    if ((v = value(name)) == nullptr) return false;
    out.clear();
    for (const char* p = v; p != nullptr && *p != '\0';) {
      out.push_back(std::atoll(p));
      p = std::strchr(p, ',');
      if (p != nullptr) ++p;
    }
    if (out.empty()) out.push_back(100000);
    return true;
  };
  if (list("--commit-records", g_flags.commit_records) ||
      list("--rss-budgets-mib", g_flags.rss_budgets_mib)) {
    return true;
  }
  if (i64("--keys", g_flags.keys) || i64("--input-records", g_flags.input_records) ||
      i64("--timed-records", g_flags.timed_records) ||
      i64("--warm-records", g_flags.warm_records) || i64("--cache-bytes", g_flags.cache_bytes) ||
      i64("--budget-mib", g_flags.budget_mib) ||
      i64("--restore-records", g_flags.restore_records) ||
      i64("--check-records", g_flags.check_records) ||
      i64("--rss-records", g_flags.rss_records) || i64("--rss-keys", g_flags.rss_keys) ||
      i64("--rss-value-bytes", g_flags.rss_value_bytes) ||
      i64("--rss-commit-records", g_flags.rss_commit_records) ||
      i64("--rss-budget-mib", g_flags.rss_budget_mib) ||
      i64("--profile-records", g_flags.profile_records)) {
    return true;
  }
  if ((v = value("--zipf")) != nullptr) {
    g_flags.zipf = std::atof(v);
  } else if ((v = value("--rss-max-seconds")) != nullptr) {
    g_flags.rss_max_seconds = std::atof(v);
  } else if ((v = value("--state-dir")) != nullptr) {
    g_flags.state_dir = v;
  } else if ((v = value("--profile")) != nullptr) {
    g_flags.profile = v;
  } else if ((v = value("--perf-fifo")) != nullptr) {
    g_flags.perf_fifo = v;
  } else if (std::strcmp(arg, "--no-rss") == 0) {
    g_flags.rss = false;
  } else if (std::strcmp(arg, "--rss-child") == 0) {
    g_flags.rss_child = true;
  } else {
    return false;
  }
  return true;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  using namespace sluice::bench;
  ProgramName() = "state_bench";
  std::vector<char*> args = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i])) args.push_back(argv[i]);
  }
  if (g_flags.rss_child) return RunRssChild();
  if (!g_flags.profile.empty()) return RunProfile();
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  PrintMachine();
  if (!CheckSameWork()) return 1;
  RegisterBenchmarks();
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  ResetSides();
  reporter.PrintSummary();
  int rc = 0;
  if (g_flags.rss) rc = RunRssChildren();
  benchmark::Shutdown();
  return rc;
}
