// window_bench: windowed counts (tumbling, hopping, session) through a real
// internal::Task, beside hand-written loops doing the same counting, in the same run.
// See bench/README.md ("Windowed aggregations: window_bench").
//
// Input: `--records` records (1M) in batches of 1000, keys Zipf(`--zipf`, 0.99) over
// `--keys` (100,000) "key-0001234" strings, timestamps 1 ms apart and increasing, with
// every 10th record up to 5 s older (out of order, inside the grace period of 10 s).
//
// Cases (one task, one thread, records/s of wall clock):
//   tumbling: WindowedBy(TimeWindows::OfSizeAndGrace(60 s, 10 s)).Count()
//   hopping:  the same with AdvanceBy(12 s): 5 windows per record
//   session:  WindowedBy(SessionWindows::OfInactivityGapAndGrace(30 s, 10 s)).Count()
// each .ToStream().To("out") with TimeWindowedSerde / SessionWindowedSerde keys.
// Engine sides: RocksDB window stores with the engine's options, changelogged, with the
// record cache (10 MiB, the default) or without; FlushState + CommitState every
// `--commit-records` (100,000), as StreamThread::Commit does minus Kafka.
// Baselines:
//   hand-map:   absl::flat_hash_map keyed by key bytes + window start (sessions: a
//               std::map of a key's sessions, merged as Kafka Streams merges them); per
//               update the output key (key + 8-byte start, sessions + end) and 8-byte
//               value are serialized, as a sink without a cache would. Timed against the
//               engine with its cache (which emits far less: once per window per commit).
//   hand-rocks: a RocksDB database with the engine's options, WAL off: per window a Get
//               and a Put of [key][start] -> count (sessions: an iterator over the key's
//               sessions, Deletes of merged ones, a Put). No changelog, no expiry, no
//               commit: the least a hand-written loop does. Timed against the engine
//               without its cache.
// Sides are interleaved batch by batch (alternating which goes first) and timed each on
// its own, so they see the same noisy machine over the same stretch of time.
//
// Before timing, every side runs `--check-records` and must agree on the final count of
// every window (engine: the last update emitted per window). `--cache-mib` sets the
// engine's record cache (default 10 MiB, Kafka Streams' default); `--sides=cache-on` or
// `--sides=cache-off` times only that pair, for profiling one side.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <rocksdb/db.h>

#include "absl/container/flat_hash_map.h"
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
constexpr int64_t kBase = 1'700'000'000'000;  // the first timestamp
constexpr int64_t kSize = 60000, kAdvance = 12000, kGap = 30000, kGrace = 10000;

enum class Case { kTumbling, kHopping, kSession };
const char* Name(Case c) {
  return c == Case::kTumbling ? "tumbling" : c == Case::kHopping ? "hopping" : "session";
}

struct Flags {
  int64_t records = 1000000;
  int64_t keys = 100000;
  double zipf = 0.99;
  int64_t commit_records = 100000;
  int64_t check_records = 100000;
  int64_t reps = 3;
  int64_t budget_mib = 64;
  int64_t cache_mib = 10;  // the record cache of the engine's cache-on side
  std::string only;  // --case=tumbling|hopping|session: just that one
  std::string sides;  // --sides=cache-on|cache-off: time just that pair (for profiling)
};
Flags g_flags;

struct Input {
  std::vector<std::string> keys;
  std::vector<std::vector<RawRecord>> batches;
};

const Input& TheInput() {
  static const Input input = [] {
    Input in;
    std::mt19937_64 rng(7);
    ZipfSampler zipf(static_cast<size_t>(g_flags.keys), g_flags.zipf);
    std::vector<size_t> rank_to_key(static_cast<size_t>(g_flags.keys));
    for (size_t i = 0; i < rank_to_key.size(); ++i) rank_to_key[i] = i;
    std::shuffle(rank_to_key.begin(), rank_to_key.end(), rng);
    const auto n = static_cast<size_t>(g_flags.records);
    in.keys.resize(n);
    char buf[16];
    for (size_t i = 0; i < n; ++i) {
      std::snprintf(buf, sizeof(buf), "key-%07zu", rank_to_key[zipf(rng)]);
      in.keys[i] = buf;
    }
    for (size_t b = 0; b * kBatch < n; ++b) {
      std::vector<RawRecord>& batch = in.batches.emplace_back();
      for (size_t i = b * kBatch; i < std::min(n, (b + 1) * kBatch); ++i) {
        RawRecord r;
        r.key = in.keys[i];
        r.value = std::string_view("v", 1);
        r.timestamp = kBase + static_cast<int64_t>(i) - (i % 10 == 0 ? static_cast<int64_t>(rng() % 5000) : 0);
        r.offset = static_cast<int64_t>(i);
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

// The window starts of a record at t (time windows).
template <class F>
void ForEachWindow(Case c, int64_t t, F&& f) {
  const int64_t advance = c == Case::kHopping ? kAdvance : kSize;
  for (int64_t start = std::max<int64_t>(0, t - kSize + advance) / advance * advance; start <= t;
       start += advance) {
    f(start);
  }
}

// Final window counts, keyed by output key bytes (for the check).
using Finals = std::map<std::string, int64_t>;

class Side {
 public:
  virtual ~Side() = default;
  virtual void Process(size_t batch_index) = 0;
  virtual void Finish() {}
  uint64_t outputs = 0;
  Finals* finals = nullptr;  // set in the check run
  void Emit(std::string_view key, int64_t count) {
    ++outputs;
    if (finals != nullptr) {
      if (count < 0) {
        finals->erase(std::string(key));
      } else {
        (*finals)[std::string(key)] = count;
      }
    }
  }
};

class CountingCollector final : public internal::RecordCollector {
 public:
  explicit CountingCollector(Side& side) : side_(side) {}
  absl::Status Send(const OutRecord& r) override {
    if (r.changelog) {
      ++changelog_;
    } else {
      side_.Emit(r.key, r.value.data() == nullptr ? -1 : GetBig64(r.value));
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
  EngineSide(Case c, bool cache)
      : dir_(MakeTempDir("", "sluice-window-bench-")), collector_(*this),
        cache_budget_{cache ? static_cast<size_t>(g_flags.cache_mib) << 20 : 0} {
    StreamsBuilder builder;
    auto grouped = builder.Stream<std::string, std::string>("in").GroupByKey();
    using Out = Produced<TimeWindowedSerde<StringSerde>, Nullable<Int64Serde>>;
    if (c == Case::kSession) {
      grouped.WindowedBy(SessionWindows::OfInactivityGapAndGrace(std::chrono::milliseconds(kGap),
                                                                 std::chrono::milliseconds(kGrace)))
          .Count(Materialized<StringSerde, Int64Serde>::As("counts"))
          .ToStream()
          .To("out", Produced<SessionWindowedSerde<StringSerde>, Nullable<Int64Serde>>());
    } else {
      TimeWindows windows = TimeWindows::OfSizeAndGrace(std::chrono::milliseconds(kSize),
                                                        std::chrono::milliseconds(kGrace));
      if (c == Case::kHopping) windows = windows.AdvanceBy(std::chrono::milliseconds(kAdvance));
      grouped.WindowedBy(windows)
          .Count(Materialized<StringSerde, Int64Serde>::As("counts"))
          .ToStream()
          .To("out", Out(TimeWindowedSerde<StringSerde>(kSize), {}));
    }
    absl::StatusOr<Topology> topology = builder.Build();
    Check(topology.status(), "building the topology");
    topology_ = std::make_unique<Topology>(*std::move(topology));
    internal::Task::Options options;
    options.application_id = "window-bench";
    options.state_dir = dir_;
    options.rocksdb_budget = Budget();
    options.cache = cache ? &cache_budget_ : nullptr;
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
    Check(task_->Process("in", 0, batch), "processing");
    since_commit_ += static_cast<int64_t>(batch.size());
    if (since_commit_ >= g_flags.commit_records || task_->WantsCommit()) Commit();
  }
  void Finish() override { Commit(); }
  uint64_t late() const { return metrics_.records_late.load(); }

 private:
  void Commit() {
    Check(task_->FlushState(), "flushing");
    Check(task_->CommitState(), "committing");
    since_commit_ = 0;
  }

  fs::path dir_;
  CountingCollector collector_;
  internal::CacheBudget cache_budget_;
  std::unique_ptr<Topology> topology_;
  internal::TaskMetrics metrics_;
  std::unique_ptr<internal::Task> task_;
  int64_t since_commit_ = 0;
};

void AppendBig64(int64_t v, std::string& out) {
  char b[8];
  PutBig64(v, b);
  out.append(b, 8);
}

// Sessions of one key, by start: [start, end] -> count.
struct Session {
  int64_t end;
  int64_t count;
};
using KeySessions = std::map<int64_t, Session>;

// Kafka Streams' session merge over a key's sessions: those ending at or after t - gap and
// starting at or before t + gap merge with the record. Sessions do not overlap, so they
// are the last ones starting at or before t + gap, going back while they end late
// enough. Calls emit(start, end, count), count -1 for a deleted session.
template <class Emit>
void AddToSessions(KeySessions& sessions, int64_t t, Emit&& emit) {
  int64_t start = t, end = t, count = 1;
  std::vector<KeySessions::iterator> merged;
  for (auto it = sessions.upper_bound(t + kGap); it != sessions.begin();) {
    --it;
    if (it->second.end < t - kGap) break;
    merged.push_back(it);
    start = std::min(start, it->first);
    end = std::max(end, it->second.end);
    count += it->second.count;
  }
  if (!(start == t && end == t)) {
    for (auto it : merged) {
      emit(it->first, it->second.end, -1);
      sessions.erase(it);
    }
  }
  sessions[start] = Session{end, count};
  emit(start, end, count);
}

class HandMapSide final : public Side {
 public:
  explicit HandMapSide(Case c) : case_(c) {}
  void Process(size_t b) override {
    for (const RawRecord& r : TheInput().batches[b]) {
      if (case_ == Case::kSession) {
        AddToSessions(sessions_[std::string(r.key)], r.timestamp, [&](int64_t start, int64_t end, int64_t count) {
          out_.assign(r.key);
          AppendBig64(end, out_);
          AppendBig64(start, out_);
          Emit(out_, count);
          value_.clear();
          if (count >= 0) AppendBig64(count, value_);
        });
        continue;
      }
      ForEachWindow(case_, r.timestamp, [&](int64_t start) {
        key_.assign(r.key);
        AppendBig64(start, key_);
        const int64_t count = ++windows_[key_];
        out_.assign(key_);  // the output key: key + start, as TimeWindowedSerde writes it
        value_.clear();
        AppendBig64(count, value_);
        Emit(out_, count);
      });
    }
  }

 private:
  Case case_;
  absl::flat_hash_map<std::string, int64_t> windows_;
  absl::flat_hash_map<std::string, KeySessions> sessions_;
  std::string key_, out_, value_;
};

class HandRocksSide final : public Side {
 public:
  explicit HandRocksSide(Case c) : case_(c), dir_(MakeTempDir("", "sluice-window-rocks-")) {
    const rocksdb::ColumnFamilyOptions cf = Budget()->FamilyOptions();
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {{rocksdb::kDefaultColumnFamilyName, cf}};
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
    for (const RawRecord& r : TheInput().batches[b]) {
      if (case_ == Case::kSession) {
        Session(r);
        continue;
      }
      ForEachWindow(case_, r.timestamp, [&](int64_t start) {
        key_.assign(r.key);
        AppendBig64(start, key_);
        int64_t count = 1;
        rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), ToSlice(key_), &got_);
        if (s.ok()) {
          count += GetBig64(got_);
        } else if (!s.IsNotFound()) {
          Check(s, "get");
        }
        value_.clear();
        AppendBig64(count, value_);
        Check(db_->Put(write_, ToSlice(key_), ToSlice(value_)), "put");
        Emit(key_, count);
      });
    }
  }

 private:
  // [key][end][start] -> count, scanned from [key][t - gap].
  void Session(const RawRecord& r) {
    const int64_t t = r.timestamp;
    lo_.assign(r.key);
    AppendBig64(t - kGap, lo_);
    hi_.assign(r.key);
    hi_.push_back('\xff');
    const rocksdb::Slice upper(hi_);
    rocksdb::ReadOptions read;
    read.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
    int64_t start = t, end = t, count = 1;
    merged_.clear();
    for (it->Seek(ToSlice(lo_)); it->Valid(); it->Next()) {
      const std::string_view k(it->key().data(), it->key().size());
      if (k.size() != r.key.size() + 16) continue;
      const int64_t s_start = GetBig64(k.substr(r.key.size() + 8));
      if (s_start > t + kGap) continue;
      merged_.emplace_back(k);
      start = std::min(start, s_start);
      end = std::max(end, GetBig64(k.substr(r.key.size(), 8)));
      count += GetBig64(std::string_view(it->value().data(), it->value().size()));
    }
    Check(it->status(), "scanning");
    if (!(start == t && end == t)) {
      for (const std::string& k : merged_) {
        Check(db_->Delete(write_, ToSlice(k)), "delete");
        out_.assign(r.key);
        out_.append(k.substr(r.key.size()));  // [end][start], as SessionWindowedSerde writes
        Emit(out_, -1);
      }
    }
    key_.assign(r.key);
    AppendBig64(end, key_);
    AppendBig64(start, key_);
    value_.clear();
    AppendBig64(count, value_);
    Check(db_->Put(write_, ToSlice(key_), ToSlice(value_)), "put");
    Emit(key_, count);
  }

  Case case_;
  fs::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_;
  std::string key_, value_, got_, lo_, hi_, out_;
  std::vector<std::string> merged_;
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
  for (Side* side : {&a, &b}) {
    const Clock::time_point t0 = Clock::now();
    side->Finish();
    (side == &a ? ta : tb) += Clock::now() - t0;
  }
  const auto n = static_cast<double>(batches * kBatch);
  return {n / std::chrono::duration<double>(ta).count(), n / std::chrono::duration<double>(tb).count()};
}

// Every side must end with the same final count per window.
void CheckCase(Case c) {
  const auto n = static_cast<size_t>(g_flags.check_records);
  Finals engine_on, engine_off, map, rocks;
  EngineSide on(c, true), off(c, false);
  HandMapSide hand_map(c);
  HandRocksSide hand_rocks(c);
  on.finals = &engine_on;
  off.finals = &engine_off;
  hand_map.finals = &map;
  hand_rocks.finals = &rocks;
  TimePair(on, hand_map, n);
  TimePair(off, hand_rocks, n);
  int64_t total = 0;
  for (const auto& [k, v] : map) total += v;
  std::printf("check %-8s (%zu records): %zu windows, %lld counted; engine %zu/%zu windows\n", Name(c),
              n, map.size(), static_cast<long long>(total), engine_on.size(), engine_off.size());
  for (const auto& [name, got] : {std::pair<const char*, const Finals*>{"engine cache-on", &engine_on},
                                   {"engine cache-off", &engine_off}, {"hand-rocks", &rocks}}) {
    for (const auto& [k, v] : map) {
      auto it = got->find(k);
      if (it == got->end() || it->second != v) {
        std::fprintf(stderr, "window_bench: %s: %s window of key %s (%zu bytes): %lld, hand-map %lld\n",
                     Name(c), name, k.substr(0, 11).c_str(), k.size(),
                     it == got->end() ? -1LL : static_cast<long long>(it->second),
                     static_cast<long long>(v));
        break;
      }
    }
  }
  if (engine_on != map || engine_off != map || rocks != map || on.late() != 0 || off.late() != 0 ||
      map.empty()) {
    std::fprintf(stderr, "window_bench: %s: the engine and the hand-written loops disagree "
                         "(late %llu/%llu)\n", Name(c),
                 static_cast<unsigned long long>(on.late()), static_cast<unsigned long long>(off.late()));
    std::exit(1);
  }
}

bool ParseFlag(const char* arg) {
  auto i64 = [&](const char* name, int64_t& out) {
    const size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
    out = std::atoll(arg + n + 1);
    return true;
  };
  if (std::strncmp(arg, "--case=", 7) == 0) {
    g_flags.only = arg + 7;
    return true;
  }
  if (std::strncmp(arg, "--sides=", 8) == 0) {
    g_flags.sides = arg + 8;
    return g_flags.sides == "cache-on" || g_flags.sides == "cache-off";
  }
  if (std::strncmp(arg, "--zipf=", 7) == 0) {
    g_flags.zipf = std::atof(arg + 7);
    return true;
  }
  return i64("--records", g_flags.records) || i64("--keys", g_flags.keys) ||
         i64("--commit-records", g_flags.commit_records) ||
         i64("--check-records", g_flags.check_records) || i64("--reps", g_flags.reps) ||
         i64("--budget-mib", g_flags.budget_mib) || i64("--cache-mib", g_flags.cache_mib);
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  using namespace sluice::bench;
  ProgramName() = "window_bench";
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines as they come, also into a file
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i])) {
      std::fprintf(stderr, "window_bench: unknown flag %s (flags: --records --keys --zipf "
                           "--commit-records --check-records --reps --budget-mib --cache-mib --case --sides)\n", argv[i]);
      return 2;
    }
  }
  TheInput();
  const auto wanted = [](Case c) { return g_flags.only.empty() || g_flags.only == Name(c); };
  for (Case c : {Case::kTumbling, Case::kHopping, Case::kSession}) {
    if (wanted(c)) CheckCase(c);
  }
  std::printf("\n%lld records, %lld keys Zipf %.2f, commit every %lld, %lld reps\n",
              static_cast<long long>(g_flags.records), static_cast<long long>(g_flags.keys),
              g_flags.zipf, static_cast<long long>(g_flags.commit_records),
              static_cast<long long>(g_flags.reps));
  std::printf("%-9s %5s %12s %12s %7s   %12s %12s %7s   %s\n", "case", "rep", "cache-on",
              "hand-map", "ratio", "cache-off", "hand-rocks", "ratio", "target (cache on)");
  // A pair --sides left out prints as "-".
  auto rate = [](double r) { return r > 0 ? std::to_string(static_cast<long long>(r)) : std::string("-"); };
  auto ratio = [](double a, double b) {
    char out[16];
    std::snprintf(out, sizeof out, "%.3f", a / b);
    return b > 0 ? std::string(out) : std::string("-");
  };
  for (Case c : {Case::kTumbling, Case::kHopping, Case::kSession}) {
    if (!wanted(c)) continue;
    const double target = c == Case::kTumbling ? 500000 : 200000;
    for (int64_t rep = 0; rep < g_flags.reps; ++rep) {
      double on = 0, map = 0, off = 0, rocks = 0;
      if (g_flags.sides != "cache-off") {
        EngineSide engine(c, true);
        HandMapSide hand(c);
        std::tie(on, map) = TimePair(engine, hand, static_cast<size_t>(g_flags.records));
      }
      if (g_flags.sides != "cache-on") {
        EngineSide engine(c, false);
        HandRocksSide hand(c);
        std::tie(off, rocks) = TimePair(engine, hand, static_cast<size_t>(g_flags.records));
      }
      std::printf("%-9s %5lld %12s %12s %7s   %12s %12s %7s   >= %.0fk: %s\n", Name(c),
                  static_cast<long long>(rep + 1), rate(on).c_str(), rate(map).c_str(), ratio(on, map).c_str(),
                  rate(off).c_str(), rate(rocks).c_str(), ratio(off, rocks).c_str(), target / 1000,
                  on <= 0 ? "-" : on >= target ? "met" : "MISSED");
    }
  }
  return 0;
}
