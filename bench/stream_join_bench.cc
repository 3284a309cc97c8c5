// stream_join_bench: the KStream-KStream windowed join through a real internal::Task,
// beside a hand-written RocksDB loop doing the same work, in the same run. See
// bench/README.md ("Stream-stream joins").
//
// Input: `--records` records (1M) in batches of 1000 that alternate between the two
// source topics, keys uniform over `--keys` (10,000) "key-0001234" strings, 8-byte
// big-endian int64 values, timestamps 1 ms apart and increasing (no late records). The
// join window is +-`--window-ms` (10 s), so each record finds about one partner.
//
//   engine:     Stream("left").Join(Stream("right"), a + b, JoinWindows(10 s)).To("out"),
//               window stores on RocksDB (the engine's options, changelogged, uncached),
//               FlushState + CommitState every `--commit-records` (100,000).
//   hand-rocks: a RocksDB database with the same options and one column family per
//               side; per record a Put (WAL off) of [key][ts][seq] into its side and an
//               iterator scan of the other side's [key][t - w] .. [key][t + w], each
//               partner's value added and the output key and value serialized. No
//               expiry, no changelog, no commit: the least a hand-written join does.
//
// Both sides first run 200,000 records from scratch and must give the same output count
// and sum; then fresh sides are timed, interleaved batch by batch.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <rocksdb/db.h>

#include "bench/bench_util.h"
#include "engine/task.h"
#include "sluice/sluice.h"
#include "src/state/rocksdb_budget.h"

namespace sluice::bench {
namespace {

namespace fs = std::filesystem;
using internal::OutRecord;
using internal::RawRecord;

constexpr size_t kBatch = 1000;

struct Flags {
  int64_t records = 1000000;
  int64_t keys = 10000;
  int64_t window_ms = 10000;
  int64_t commit_records = 100000;
  int64_t check_records = 200000;
  int64_t budget_mib = 64;
};
Flags g_flags;

// The input: batches alternate between "left" and "right".
struct Input {
  std::vector<std::string> keys;
  std::string values;  // 8 bytes per record
  std::vector<std::vector<RawRecord>> batches;
};

const Input& TheInput() {
  static const Input input = [] {
    Input in;
    std::mt19937_64 rng(42);
    const auto n = static_cast<size_t>(g_flags.records);
    in.keys.resize(n);
    in.values.resize(n * 8);
    char buf[16];
    for (size_t i = 0; i < n; ++i) {
      std::snprintf(buf, sizeof(buf), "key-%07d", static_cast<int>(rng() % g_flags.keys));
      in.keys[i] = buf;
      PutBig64(static_cast<int64_t>(rng() % 1000), &in.values[i * 8]);
    }
    for (size_t b = 0; b * kBatch < n; ++b) {
      std::vector<RawRecord>& batch = in.batches.emplace_back();
      for (size_t i = b * kBatch; i < std::min(n, (b + 1) * kBatch); ++i) {
        RawRecord r;
        r.key = in.keys[i];
        r.value = std::string_view(&in.values[i * 8], 8);
        r.timestamp = 1'000'000'000 + static_cast<int64_t>(i);
        r.offset = static_cast<int64_t>(i / 2);
        batch.push_back(r);
      }
    }
    return in;
  }();
  return input;
}

std::shared_ptr<internal::RocksDbBudget> Budget() {
  static auto budget = internal::RocksDbBudget::Get(static_cast<size_t>(g_flags.budget_mib) << 20);
  return budget;
}

class Side {
 public:
  virtual ~Side() = default;
  virtual void Process(size_t batch_index) = 0;
  uint64_t outputs = 0;
  int64_t sum = 0;
};

class CountingCollector final : public internal::RecordCollector {
 public:
  explicit CountingCollector(Side& side) : side_(side) {}
  absl::Status Send(const OutRecord& r) override {
    if (r.changelog) {
      ++changelog_;
    } else {
      ++side_.outputs;
      side_.sum += GetBig64(r.value);
    }
    return absl::OkStatus();
  }
  absl::StatusOr<int32_t> PartitionCount(std::string_view) override { return 1; }
  int64_t ChangelogEnd(std::string_view, int32_t) override {
    return changelog_ > 0 ? static_cast<int64_t>(changelog_) : -1;
  }

 private:
  Side& side_;
  uint64_t changelog_ = 0;
};

class EngineSide final : public Side {
 public:
  EngineSide() : dir_(MakeTempDir("", "sluice-stream-join-bench-")), collector_(*this) {
    StreamsBuilder builder;
    builder.Stream<std::string, int64_t>("left")
        .Join(builder.Stream<std::string, int64_t>("right"), [](int64_t a, int64_t b) { return a + b; },
              JoinWindows::OfTimeDifferenceWithNoGrace(std::chrono::milliseconds(g_flags.window_ms)))
        .To("out", Produced<StringSerde, Int64Serde>());
    absl::StatusOr<Topology> topology = builder.Build();
    Check(topology.status(), "building the topology");
    topology_ = std::make_unique<Topology>(*std::move(topology));
    internal::Task::Options options;
    options.application_id = "stream-join-bench";
    options.state_dir = dir_;
    options.rocksdb_budget = Budget();
    absl::StatusOr<std::unique_ptr<internal::Task>> task = internal::Task::Create(
        internal::TaskId{0, 0}, topology_->compiled(), collector_, options, &metrics_);
    Check(task.status(), "creating the task");
    task_ = std::move(*task);
  }
  ~EngineSide() override {
    task_.reset();
    RemoveDir(dir_);
  }
  void Process(size_t b) override {
    const std::vector<RawRecord>& batch = TheInput().batches[b];
    Check(task_->Process(b % 2 == 0 ? "left" : "right", 0, batch), "processing");
    since_commit_ += static_cast<int64_t>(batch.size());
    if (since_commit_ >= g_flags.commit_records || task_->WantsCommit()) {
      Check(task_->FlushState(), "flushing");
      Check(task_->CommitState(), "committing");
      since_commit_ = 0;
    }
  }
  uint64_t late() const { return metrics_.records_late.load(); }

 private:
  fs::path dir_;
  CountingCollector collector_;
  std::unique_ptr<Topology> topology_;
  internal::TaskMetrics metrics_;
  std::unique_ptr<internal::Task> task_;
  int64_t since_commit_ = 0;
};

class HandRocksSide final : public Side {
 public:
  HandRocksSide() : dir_(MakeTempDir("", "sluice-stream-join-rocks-")) {
    const rocksdb::ColumnFamilyOptions cf = Budget()->FamilyOptions();
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, cf}, {"left", cf}, {"right", cf}};
    rocksdb::DB* raw = nullptr;
    Check(rocksdb::DB::Open(Budget()->DbOptions(), dir_.string(), families, &handles_, &raw), "opening");
    db_.reset(raw);
    write_.disableWAL = true;
  }
  ~HandRocksSide() override {
    for (rocksdb::ColumnFamilyHandle* h : handles_) db_->DestroyColumnFamilyHandle(h);
    Check(db_->Close(), "closing");
    db_.reset();
    RemoveDir(dir_);
  }
  void Process(size_t b) override {
    rocksdb::ColumnFamilyHandle* self = handles_[b % 2 == 0 ? 1 : 2];
    rocksdb::ColumnFamilyHandle* other = handles_[b % 2 == 0 ? 2 : 1];
    for (const RawRecord& r : TheInput().batches[b]) {
      key_.assign(r.key);
      key_.resize(r.key.size() + 16);
      PutBig64(r.timestamp, &key_[r.key.size()]);
      PutBig64(seq_++, &key_[r.key.size() + 8]);
      Check(db_->Put(write_, self, ToSlice(key_), ToSlice(r.value)), "put");
      lo_.assign(r.key);
      lo_.resize(r.key.size() + 8);
      PutBig64(r.timestamp - g_flags.window_ms, &lo_[r.key.size()]);
      hi_.assign(r.key);
      hi_.resize(r.key.size() + 8);
      PutBig64(r.timestamp + g_flags.window_ms + 1, &hi_[r.key.size()]);
      const rocksdb::Slice upper(hi_);
      rocksdb::ReadOptions read;
      read.iterate_upper_bound = &upper;
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, other));
      const int64_t mine = GetBig64(r.value);
      for (it->Seek(ToSlice(lo_)); it->Valid(); it->Next()) {
        const int64_t v = mine + GetBig64(std::string_view(it->value().data(), it->value().size()));
        out_.assign(r.key);
        out_.resize(r.key.size() + 8);
        PutBig64(v, &out_[r.key.size()]);
        ++outputs;
        sum += v;
      }
      Check(it->status(), "scanning");
    }
  }

 private:
  fs::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_;
  std::string key_, lo_, hi_, out_;
  int64_t seq_ = 0;
};

// Runs both sides over the first `records`, interleaved batch by batch; records/s each.
std::pair<double, double> TimePair(Side& a, Side& b, size_t records) {
  using Clock = std::chrono::steady_clock;
  Clock::duration ta{}, tb{};
  const size_t batches = std::min(TheInput().batches.size(), records / kBatch);
  for (size_t i = 0; i < batches; ++i) {
    for (int k = 0; k < 2; ++k) {
      Side& side = (k == 0) == (i % 2 == 0) ? a : b;
      const Clock::time_point t0 = Clock::now();
      side.Process(i);
      (&side == &a ? ta : tb) += Clock::now() - t0;
    }
  }
  const auto n = static_cast<double>(batches * kBatch);
  return {n / std::chrono::duration<double>(ta).count(), n / std::chrono::duration<double>(tb).count()};
}

bool ParseFlag(const char* arg) {
  auto i64 = [&](const char* name, int64_t& out) {
    const size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
    out = std::atoll(arg + n + 1);
    return true;
  };
  return i64("--records", g_flags.records) || i64("--keys", g_flags.keys) ||
         i64("--window-ms", g_flags.window_ms) || i64("--commit-records", g_flags.commit_records) ||
         i64("--check-records", g_flags.check_records) || i64("--budget-mib", g_flags.budget_mib);
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  using namespace sluice::bench;
  ProgramName() = "stream_join_bench";
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i])) {
      std::fprintf(stderr, "stream_join_bench: unknown flag %s (flags: --records --keys "
                           "--window-ms --commit-records --check-records --budget-mib)\n", argv[i]);
      return 2;
    }
  }
  TheInput();
  {
    EngineSide engine;
    HandRocksSide hand;
    TimePair(engine, hand, static_cast<size_t>(g_flags.check_records));
    std::printf("check (%lld records): engine %llu outputs, sum %lld; hand-rocks %llu outputs, sum %lld\n",
                static_cast<long long>(g_flags.check_records),
                static_cast<unsigned long long>(engine.outputs), static_cast<long long>(engine.sum),
                static_cast<unsigned long long>(hand.outputs), static_cast<long long>(hand.sum));
    if (engine.outputs != hand.outputs || engine.sum != hand.sum || engine.late() != 0 ||
        engine.outputs == 0) {
      std::fprintf(stderr, "stream_join_bench: the engine and the hand-written loop disagree\n");
      return 1;
    }
  }
  EngineSide engine;
  HandRocksSide hand;
  const auto [e, h] = TimePair(engine, hand, static_cast<size_t>(g_flags.records));
  std::printf("\n%lld records, %lld keys, window +-%lld ms, commit every %lld; %.2f outputs per input\n",
              static_cast<long long>(g_flags.records), static_cast<long long>(g_flags.keys),
              static_cast<long long>(g_flags.window_ms), static_cast<long long>(g_flags.commit_records),
              static_cast<double>(engine.outputs) / static_cast<double>(g_flags.records));
  std::printf("%-22s %12s %12s %8s\n", "stream-stream join", "engine", "hand-rocks", "ratio");
  std::printf("%-22s %12.0f %12.0f %8.3f\n", "records/s", e, h, e / h);
  std::printf("target: stream-stream join >= 300k records/s per thread: %s\n",
              e >= 300000 ? "met" : "MISSED");
  return 0;
}
