// join_bench: what a KStream-KTable join costs in the engine, against hand-written loops
// doing the same lookups on the same data, in the same binary and run. See
// bench/README.md ("Joins: join_bench").
//
// Data: a table of --keys items ("item-0000042", 12-byte keys; 8-byte big-endian int64
// prices) and --bid-records bids keyed by item, items drawn Zipf(--zipf) over the table
// (the rank -> item mapping shuffled), pre-generated as RawRecord batches of 1000 (the
// max.poll.records default) and cycled with fresh offsets.
//
// Sides (records/s, one thread, wall clock):
//   engine: a real internal::Task over
//       items = Table("items", Consumed<String, Int64>, Materialized::As("items"))
//       Stream<string, int64>("bids").Join(items, bid + price).To("out")
//     with RocksDB state and the record cache on (cache.max.bytes.buffering, 10 MiB) or
//     off. The table is loaded first by feeding its 100k rows through the task and
//     committing. Its RecordCollector counts and sums the outputs and drops them. Every
//     N bid records (or when the task asks), FlushState + CommitState, as
//     StreamThread::Commit does minus Kafka.
//   hand-map: absl::flat_hash_map<std::string, int64_t> lookup + add + the output key
//     and 8-byte value serialized into a std::string.
//   hand-rocks: the same rows in a RocksDB database opened with the engine's options
//     (RocksDbBudget), db->Get per bid, decode, add, serialize as above.
// Engine cache on is timed against hand-map and cache off against hand-rocks,
// interleaved batch by batch (alternating which goes first), each side timed on its own,
// so both see the same machine over the same stretch of time; --reps times each.
//
// main() first checks that all four sides produce the same output count and sum.
// --profile=<on|off|map|rocks> runs one side alone (for perf record).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>

#include "absl/container/flat_hash_map.h"
#include "engine/task.h"
#include "engine/task_state.h"
#include "bench/bench_util.h"
#include "sluice/sluice.h"
#include "src/state/rocksdb_budget.h"

namespace sluice::bench {
namespace {

namespace fs = std::filesystem;
using internal::CacheBudget;
using internal::OutRecord;
using internal::RawRecord;
using internal::RocksDbBudget;

constexpr size_t kBatchSize = 1000;  // max.poll.records default

struct Flags {
  int64_t keys = 100000;          // table rows
  double zipf = 1.0;              // Zipf exponent of the bids' keys
  int64_t bid_records = 1000000;  // pre-generated, cycled
  int64_t timed_records = 1000000;
  int64_t warm_records = 200000;  // processed before timing (after the table load)
  std::vector<int64_t> commit_records = {1000000, 100000};
  int64_t cache_bytes = 10 << 20;  // cache.max.bytes.buffering (one thread)
  int64_t budget_mib = 64;         // rocksdb.memory.budget.bytes
  int64_t check_records = 100000;
  int64_t reps = 3;
  std::string state_dir;
  std::string profile;  // on | off | map | rocks
  int64_t profile_records = 3000000;
};
Flags g_flags;

// ---- Helpers (as in state_bench).

fs::path MakeTempDir(const char* prefix) { return bench::MakeTempDir(g_flags.state_dir, prefix); }



std::shared_ptr<RocksDbBudget> Budget() {
  static std::shared_ptr<RocksDbBudget> budget =
      RocksDbBudget::Get(static_cast<size_t>(g_flags.budget_mib) << 20);
  return budget;
}


// ---- Input data.


struct Input {
  std::vector<std::string> keys;   // item ids
  std::string prices;              // 8 bytes per item
  std::string bid_values;          // 8 bytes per bid
  std::vector<std::vector<RawRecord>> items;  // the table's rows, in batches
  std::vector<std::vector<RawRecord>> bids;
  size_t distinct = 0;  // items that some bid refers to
  double top1 = 0, top1000 = 0;

  Input() {
    const auto k = static_cast<size_t>(g_flags.keys);
    keys.resize(k);
    prices.resize(k * 8);
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<int64_t> price(100, 100000);
    for (size_t i = 0; i < k; ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "item-%07zu", i);
      keys[i] = buf;
      PutBig64(price(rng), &prices[i * 8]);
    }
    // Table rows in a random order (as a topic's would be).
    std::vector<size_t> order(k);
    for (size_t i = 0; i < k; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i = 0; i < k; ++i) {
      if (i % kBatchSize == 0) items.emplace_back();
      RawRecord r;
      r.key = keys[order[i]];
      r.value = std::string_view(&prices[order[i] * 8], 8);
      r.timestamp = 1700000000000 + static_cast<int64_t>(i);
      items.back().push_back(r);
    }
    const size_t n = std::max<size_t>(kBatchSize, static_cast<size_t>(g_flags.bid_records) /
                                                      kBatchSize * kBatchSize);
    std::vector<size_t> rank_to_key(order);  // another shuffle of the items
    std::shuffle(rank_to_key.begin(), rank_to_key.end(), rng);
    ZipfSampler zipf(k, g_flags.zipf);
    std::uniform_int_distribution<int64_t> bid(1, 10000);
    bid_values.resize(n * 8);
    std::vector<uint64_t> per_rank(k);
    bids.resize(n / kBatchSize);
    for (size_t i = 0; i < n; ++i) {
      const size_t rank = zipf(rng);
      ++per_rank[rank];
      PutBig64(bid(rng), &bid_values[i * 8]);
      RawRecord r;
      r.key = keys[rank_to_key[rank]];
      r.value = std::string_view(&bid_values[i * 8], 8);
      r.timestamp = 1700001000000 + static_cast<int64_t>(i);
      bids[i / kBatchSize].push_back(r);
    }
    uint64_t acc = 0;
    for (size_t r = 0; r < k; ++r) {
      distinct += per_rank[r] > 0;
      acc += per_rank[r];
      if (r == 0) top1 = static_cast<double>(acc) / static_cast<double>(n);
      if (r == 999) top1000 = static_cast<double>(acc) / static_cast<double>(n);
    }
  }
};

Input& TheInput() {
  static Input* input = new Input();
  return *input;
}

// ---- Sides.

class Side {
 public:
  virtual ~Side() = default;
  virtual void Process(std::vector<RawRecord>& batch) = 0;
  uint64_t outputs = 0;
  int64_t sum = 0;  // of the output values
  uint64_t commits = 0;
  size_t next_batch = 0;
};

// Counts and sums the outputs, drops everything.
class CountingCollector final : public internal::RecordCollector {
 public:
  absl::Status Send(const OutRecord& record) override {
    if (record.changelog) {
      ++changelog;
    } else {
      ++side->outputs;
      side->sum += GetBig64(record.value);
    }
    return absl::OkStatus();
  }
  absl::StatusOr<int32_t> PartitionCount(std::string_view) override { return 1; }
  int64_t ChangelogEnd(std::string_view, int32_t) override {
    return changelog > 0 ? static_cast<int64_t>(changelog) : -1;
  }
  uint64_t changelog = 0;
  Side* side = nullptr;
};

Topology BuildTopology() {
  StreamsBuilder builder;
  KTable<std::string, int64_t> items =
      builder.Table("items", Consumed<StringSerde, Int64Serde>(),
                    Materialized<StringSerde, Int64Serde>::As("items"));
  builder.Stream<std::string, int64_t>("bids")
      .Join(items, [](int64_t bid, int64_t price) { return bid + price; })
      .To("out", Produced<StringSerde, Int64Serde>());
  absl::StatusOr<Topology> topology = builder.Build();
  Check(topology.status(), "building the topology");
  return *std::move(topology);
}

class EngineSide final : public Side {
 public:
  EngineSide(bool caching, int64_t commit_records)
      : commit_records_(commit_records), dir_(MakeTempDir("sluice-join-bench-")),
        topology_(std::make_unique<Topology>(BuildTopology())) {
    collector_.side = this;
    cache_.max_bytes = caching ? static_cast<size_t>(g_flags.cache_bytes) : 0;
    internal::Task::Options options;
    options.application_id = "join-bench";
    options.state_dir = dir_;
    options.rocksdb_budget = Budget();
    options.cache = caching ? &cache_ : nullptr;
    absl::StatusOr<std::unique_ptr<internal::Task>> task = internal::Task::Create(
        internal::TaskId{0, 0}, topology_->compiled(), collector_, options, &metrics_);
    Check(task.status(), "creating the task");
    task_ = std::move(*task);
    // Load the table through the task, then commit.
    int64_t offset = 0;
    for (std::vector<RawRecord>& batch : TheInput().items) {
      Renumber(batch, offset);
      Check(task_->Process("items", 0, batch), "loading the table");
      if (task_->WantsCommit()) Commit();
    }
    Commit();
    loaded_cache_bytes = cache_.used_bytes;
    commits = 0;
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

  void Commit() {
    Check(task_->FlushState(), "flushing state");
    Check(task_->CommitState(), "committing state");
    since_commit_ = 0;
    ++commits;
  }

  size_t cache_bytes() const { return cache_.used_bytes; }
  size_t loaded_cache_bytes = 0;

 private:
  int64_t commit_records_;
  fs::path dir_;
  std::unique_ptr<Topology> topology_;
  CountingCollector collector_;
  CacheBudget cache_;
  internal::TaskMetrics metrics_;
  std::unique_ptr<internal::Task> task_;
  int64_t next_offset_ = 0;
  int64_t since_commit_ = 0;
};

// What every hand-written side does with a found price: the output record serialized.
inline void Emit(Side& side, std::string& out, const RawRecord& r, int64_t price) {
  const int64_t joined = GetBig64(r.value) + price;
  out.assign(r.key.data(), r.key.size());
  char v[8];
  PutBig64(joined, v);
  out.append(v, 8);
  ++side.outputs;
  side.sum += GetBig64(std::string_view(out).substr(r.key.size()));
}

class HandMapSide final : public Side {
 public:
  HandMapSide() {
    for (const std::vector<RawRecord>& batch : TheInput().items) {
      for (const RawRecord& r : batch) map_[r.key] = GetBig64(r.value);
    }
  }
  void Process(std::vector<RawRecord>& batch) override {
    Renumber(batch, next_offset_);
    for (const RawRecord& r : batch) {
      auto it = map_.find(r.key);
      if (it != map_.end()) Emit(*this, out_, r, it->second);
    }
  }

 private:
  absl::flat_hash_map<std::string, int64_t, internal::StringHash, internal::StringEq> map_;
  std::string out_;
  int64_t next_offset_ = 0;
};

// RocksDB with the engine's options: default, meta and the store's family.
class HandRocksSide final : public Side {
 public:
  HandRocksSide() : dir_(MakeTempDir("sluice-join-bench-rocks-")) {
    rocksdb::DBOptions options = Budget()->DbOptions();
    const rocksdb::ColumnFamilyOptions cf = Budget()->FamilyOptions();
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
        {rocksdb::kDefaultColumnFamilyName, cf}, {"sluice.meta", cf}, {"items", cf}};
    rocksdb::DB* raw = nullptr;
    Check(rocksdb::DB::Open(options, dir_.string(), descriptors, &handles_, &raw), "opening");
    db_.reset(raw);
    rocksdb::WriteBatch wb;
    for (const std::vector<RawRecord>& batch : TheInput().items) {
      for (const RawRecord& r : batch) Check(wb.Put(handles_[2], ToSlice(r.key), ToSlice(r.value)), "put");
    }
    Check(db_->Write(rocksdb::WriteOptions(), &wb), "loading");
  }
  ~HandRocksSide() override {
    for (rocksdb::ColumnFamilyHandle* h : handles_) db_->DestroyColumnFamilyHandle(h);
    Check(db_->Close(), "closing");
    db_.reset();
    RemoveDir(dir_);
  }
  void Process(std::vector<RawRecord>& batch) override {
    Renumber(batch, next_offset_);
    for (const RawRecord& r : batch) {
      rocksdb::Status s = db_->Get(read_, handles_[2], ToSlice(r.key), &buf_);
      if (s.IsNotFound()) continue;
      Check(s, "get");
      Emit(*this, out_, r, GetBig64(buf_));
    }
  }

 private:
  fs::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ReadOptions read_;
  std::string buf_, out_;
  int64_t next_offset_ = 0;
};

void RunBatches(Side& side, size_t records) {
  Input& in = TheInput();
  for (size_t done = 0; done < records; done += kBatchSize) {
    side.Process(in.bids[side.next_batch]);
    side.next_batch = (side.next_batch + 1) % in.bids.size();
  }
}

// Two sides interleaved batch by batch, each timed on its own: records/s of each.
std::pair<double, double> TimePair(Side& a, Side& b, size_t records) {
  using Clock = std::chrono::steady_clock;
  Clock::duration ta{}, tb{};
  Input& in = TheInput();
  bool a_first = true;
  for (size_t done = 0; done < records; done += kBatchSize) {
    for (int k = 0; k < 2; ++k) {
      Side& side = (k == 0) == a_first ? a : b;
      const Clock::time_point t0 = Clock::now();
      side.Process(in.bids[side.next_batch]);
      (&side == &a ? ta : tb) += Clock::now() - t0;
      side.next_batch = (side.next_batch + 1) % in.bids.size();
    }
    a_first = !a_first;
  }
  const auto n = static_cast<double>(records / kBatchSize * kBatchSize);
  return {n / std::chrono::duration<double>(ta).count(), n / std::chrono::duration<double>(tb).count()};
}

// ---- Correctness: every side, the same bids, the same output count and sum.

bool CheckSameWork() {
  const auto n = static_cast<size_t>(g_flags.check_records);
  const int64_t c = g_flags.commit_records.back();
  EngineSide on(true, c), off(false, c);
  HandMapSide map;
  HandRocksSide rocks;
  Side* sides[] = {&on, &off, &map, &rocks};
  const char* names[] = {"engine cache on", "engine cache off", "hand-map", "hand-rocks"};
  bool same = true;
  std::printf("same-work check (%zu bids, commit every %lld):", n, static_cast<long long>(c));
  for (int i = 0; i < 4; ++i) {
    RunBatches(*sides[i], n);
    std::printf(" %s %llu outputs sum %lld;", names[i],
                static_cast<unsigned long long>(sides[i]->outputs),
                static_cast<long long>(sides[i]->sum));
  }
  for (Side* side : sides) same = same && side->outputs == map.outputs && side->sum == map.sum;
  // Every bid's item is in the table: an inner join emits one record per bid.
  same = same && map.outputs == n;
  std::printf(" %s\n", same ? "same" : "DIFFERENT");
  std::fflush(stdout);
  if (!same) std::fprintf(stderr, "join_bench: the sides computed different results\n");
  return same;
}

// ---- Measurement and summary.

struct Range {
  std::vector<double> v;
  void Add(double x) { v.push_back(x); }
  double Median() {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
  double Min() const { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }
  double Max() const { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
};

struct Row {
  bool cache_on;
  int64_t commit;
  Range engine, hand, ratio;
  uint64_t commits = 0;
  size_t cache_loaded = 0, cache_end = 0;
};

Row Measure(bool cache_on, int64_t commit) {
  Row row{cache_on, commit, {}, {}, {}};
  EngineSide engine(cache_on, commit);
  std::unique_ptr<Side> hand;
  if (cache_on) {
    hand = std::make_unique<HandMapSide>();
  } else {
    hand = std::make_unique<HandRocksSide>();
  }
  RunBatches(engine, static_cast<size_t>(g_flags.warm_records));
  RunBatches(*hand, static_cast<size_t>(g_flags.warm_records));
  const uint64_t commits0 = engine.commits;
  for (int64_t i = 0; i < g_flags.reps; ++i) {
    auto [e, h] = TimePair(engine, *hand, static_cast<size_t>(g_flags.timed_records));
    row.engine.Add(e);
    row.hand.Add(h);
    row.ratio.Add(e / h);
    std::printf("  cache %-3s commit %7lld rep %lld: engine %9.0f  %s %9.0f  ratio %.3f\n",
                cache_on ? "on" : "off", static_cast<long long>(commit), static_cast<long long>(i + 1),
                e, cache_on ? "hand-map  " : "hand-rocks", h, e / h);
    std::fflush(stdout);
  }
  row.commits = engine.commits - commits0;
  row.cache_loaded = engine.loaded_cache_bytes;
  row.cache_end = engine.cache_bytes();
  return row;
}

int RunProfile() {
  const std::string& p = g_flags.profile;
  const int64_t c = g_flags.commit_records.front();
  std::unique_ptr<Side> side;
  if (p == "on" || p == "off") {
    side = std::make_unique<EngineSide>(p == "on", c);
  } else if (p == "map") {
    side = std::make_unique<HandMapSide>();
  } else if (p == "rocks") {
    side = std::make_unique<HandRocksSide>();
  } else {
    std::fprintf(stderr, "join_bench: unknown --profile side '%s'\n", p.c_str());
    return 1;
  }
  RunBatches(*side, static_cast<size_t>(g_flags.warm_records));
  const auto t0 = std::chrono::steady_clock::now();
  RunBatches(*side, static_cast<size_t>(g_flags.profile_records));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("profile %s: %lld records in %.2f s: %.0f records/s\n", p.c_str(),
              static_cast<long long>(g_flags.profile_records), s,
              static_cast<double>(g_flags.profile_records) / s);
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
  std::printf("join_bench: %ld online cpus (%s); RocksDB %d.%d.%d; budget %lld MiB; cache %lld "
              "bytes\n",
              ::sysconf(_SC_NPROCESSORS_ONLN), model.c_str(), ROCKSDB_MAJOR, ROCKSDB_MINOR,
              ROCKSDB_PATCH, static_cast<long long>(g_flags.budget_mib),
              static_cast<long long>(g_flags.cache_bytes));
  std::printf("input: table of %zu items; %zu bids (cycled) in batches of %zu, Zipf s=%.2f: "
              "%zu items seen, hottest %.1f%%, top 1000 %.1f%% of bids; %lld timed bids x %lld "
              "reps per row\n",
              in.keys.size(), in.bids.size() * kBatchSize, kBatchSize, g_flags.zipf, in.distinct,
              100 * in.top1, 100 * in.top1000, static_cast<long long>(g_flags.timed_records),
              static_cast<long long>(g_flags.reps));
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
  if ((v = value("--commit-records")) != nullptr) {
    g_flags.commit_records.clear();
    for (const char* p = v; p != nullptr && *p != '\0';) {
      g_flags.commit_records.push_back(std::atoll(p));
      p = std::strchr(p, ',');
      if (p != nullptr) ++p;
    }
    if (g_flags.commit_records.empty()) g_flags.commit_records.push_back(1000000);
    return true;
  }
  if (i64("--keys", g_flags.keys) || i64("--bid-records", g_flags.bid_records) ||
      i64("--timed-records", g_flags.timed_records) || i64("--warm-records", g_flags.warm_records) ||
      i64("--cache-bytes", g_flags.cache_bytes) || i64("--budget-mib", g_flags.budget_mib) ||
      i64("--check-records", g_flags.check_records) || i64("--reps", g_flags.reps) ||
      i64("--profile-records", g_flags.profile_records)) {
    return true;
  }
  if ((v = value("--zipf")) != nullptr) {
    g_flags.zipf = std::atof(v);
  } else if ((v = value("--state-dir")) != nullptr) {
    g_flags.state_dir = v;
  } else if ((v = value("--profile")) != nullptr) {
    g_flags.profile = v;
  } else {
    return false;
  }
  return true;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  using namespace sluice::bench;
  ProgramName() = "join_bench";
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i])) {
      std::fprintf(stderr, "join_bench: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  TheInput();
  if (!g_flags.profile.empty()) return RunProfile();
  PrintMachine();
  if (!CheckSameWork()) return 1;
  std::vector<Row> rows;
  for (int64_t c : g_flags.commit_records) {
    rows.push_back(Measure(true, c));
    rows.push_back(Measure(false, c));
  }
  std::printf("\nrecords/s, one thread, wall clock; median of %lld reps [min-max] "
              "(on/map: engine cache on vs hash-map loop; off/rocks: engine cache off vs RocksDB "
              "loop)\n",
              static_cast<long long>(g_flags.reps));
  std::printf("%-5s %8s %26s %26s %20s %8s %15s\n", "cache", "commit", "engine", "baseline",
              "ratio", "commits", "cache MiB l/e");
  bool met = true, any_on = false;
  for (Row& r : rows) {
    char e[64], h[64], q[64];
    std::snprintf(e, sizeof e, "%.0f [%.0f-%.0f]", r.engine.Median(), r.engine.Min(), r.engine.Max());
    std::snprintf(h, sizeof h, "%.0f [%.0f-%.0f]", r.hand.Median(), r.hand.Min(), r.hand.Max());
    std::snprintf(q, sizeof q, "%.3f [%.3f-%.3f]", r.ratio.Median(), r.ratio.Min(), r.ratio.Max());
    std::printf("%-5s %8lld %26s %26s %20s %8llu %7.1f/%.1f  %s\n", r.cache_on ? "on" : "off",
                static_cast<long long>(r.commit), e, h, q,
                static_cast<unsigned long long>(r.commits),
                static_cast<double>(r.cache_loaded) / (1 << 20),
                static_cast<double>(r.cache_end) / (1 << 20), r.cache_on ? "on/map" : "off/rocks");
    if (r.cache_on) {
      any_on = true;
      met = met && r.engine.Median() >= 1e6;
    }
  }
  if (any_on) {
    std::printf("\ntarget: stream-table join with a cached table >= 1M records/s (median, every "
                "commit interval): %s\n",
                met ? "met" : "MISSED");
  }
  return 0;
}
