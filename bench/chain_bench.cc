// chain_bench: what the engine costs on a stateless chain, against a hand-written loop
// doing the same work on the same data, in the same binary and run.
//
// The chain is what a user would write over a stream of prices keyed by
// "store/sku" (string keys of 17 bytes, int64 prices in cents):
//
//   Map        key "st-0042/sku-01234" -> "st-0042", price -> price with 8% tax
//   Filter     keep prices >= kMinCents (drops about 30%)
//   MapValues  int64 cents -> "123.45" (a short string)
//
// Two levels, each engine vs hand-written, batches of 1000 records (max.poll.records):
//
//   BM_Operators_{Engine,Hand}: typed records in memory. The engine side builds the
//     chain with the DSL, instantiates its nodes through their factories (the code a
//     task runs) and feeds typed batches to the Map node; a Foreach at the end of the
//     chain checksums. The hand side calls the same three user functions in one loop.
//   BM_Task_{Engine,Hand}: raw byte records, as they come out of librdkafka. The engine
//     side is a real Task (source deserialization -> chain -> sink serialization) whose
//     RecordCollector checksums what it is sent. The hand side deserializes with the
//     same serdes, calls the same functions and serializes into reused buffers.
//
// Both sides of a level produce the same records in the same order; main() checks the
// checksums are equal before timing, and prints engine/hand ratios after.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "engine/task.h"
#include "sluice/sluice.h"

namespace sluice::bench {
namespace {

using internal::Batch;
using internal::BatchContext;
using internal::Input;
using internal::NodeInstance;
using internal::OutRecord;
using internal::RawRecord;
using internal::Record;

constexpr size_t kBatchSize = 1000;  // max.poll.records default
constexpr size_t kNumBatches = 16;   // distinct input batches, cycled
constexpr int64_t kMinCents = 3000;

// ---- The user's functions: the same objects run in the engine and in the hand loops.

const auto kToStore = [](const std::string& key, int64_t cents) {
  const size_t slash = key.find('/');
  return KeyValue<std::string, int64_t>{key.substr(0, slash), cents * 108 / 100};
};
const auto kKeep = [](const std::string&, int64_t cents) { return cents >= kMinCents; };
const auto kFormat = [](int64_t cents) {
  char buf[32];
  char* end = std::to_chars(buf, buf + 24, cents / 100).ptr;
  const int64_t frac = cents % 100;
  *end++ = '.';
  *end++ = static_cast<char>('0' + frac / 10);
  *end++ = static_cast<char>('0' + frac % 10);
  return std::string(buf, end);
};

// Order-dependent checksum of the records that reach the end of the chain.
struct Checksum {
  uint64_t count = 0;
  uint64_t hash = 0;

  // Cheap on purpose (no library call): both sides pay it, and a costly checksum would
  // hide the engine's overhead in the ratio.
  void Add(std::string_view key, std::string_view value) {
    hash = (hash ^ Bits(key)) * 0x100000001b3ULL;
    hash = (hash ^ Bits(value)) * 0x100000001b3ULL;
    ++count;
  }
  static uint64_t Bits(std::string_view s) {
    if (s.empty()) return 0;
    return s.size() | static_cast<uint64_t>(static_cast<unsigned char>(s.front())) << 16 |
           static_cast<uint64_t>(static_cast<unsigned char>(s[s.size() / 2])) << 24 |
           static_cast<uint64_t>(static_cast<unsigned char>(s.back())) << 32;
  }
  bool operator==(const Checksum&) const = default;
};

// ---- Input data, shared by every benchmark.

struct Data {
  // Typed records for the operator level, kNumBatches x kBatchSize.
  std::vector<std::vector<Record<std::string, int64_t>>> typed;
  std::vector<std::vector<Record<std::string, int64_t>*>> typed_ptrs;
  // Raw bytes for the task level: keys as strings, values as 8-byte big-endian longs.
  std::vector<std::string> key_bytes;
  std::vector<std::string> value_bytes;
  std::vector<std::vector<RawRecord>> raw;

  Data() {
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<int> store(0, 199);
    std::uniform_int_distribution<int> sku(0, 99999);
    std::uniform_int_distribution<int64_t> cents(100, 9999);
    const size_t n = kNumBatches * kBatchSize;
    key_bytes.reserve(n);
    value_bytes.reserve(n);
    typed.resize(kNumBatches);
    typed_ptrs.resize(kNumBatches);
    raw.resize(kNumBatches);
    Int64Serde int64;
    for (size_t b = 0; b < kNumBatches; ++b) {
      typed[b].resize(kBatchSize);
      for (size_t i = 0; i < kBatchSize; ++i) {
        char key[32];
        std::snprintf(key, sizeof key, "st-%04d/sku-%05d", store(rng), sku(rng));
        const int64_t price = cents(rng);
        Record<std::string, int64_t>& r = typed[b][i];
        r.key = key;
        r.value = price;
        r.timestamp = 1700000000000 + static_cast<int64_t>(b * kBatchSize + i);
        r.offset = static_cast<int64_t>(b * kBatchSize + i);
        r.seq = static_cast<uint32_t>(i);
        key_bytes.emplace_back(key);
        value_bytes.emplace_back();
        int64.Serialize(price, value_bytes.back());
      }
      for (auto& r : typed[b]) typed_ptrs[b].push_back(&r);
    }
    // Views into key_bytes/value_bytes, which no longer reallocate.
    for (size_t b = 0; b < kNumBatches; ++b) {
      for (size_t i = 0; i < kBatchSize; ++i) {
        const size_t k = b * kBatchSize + i;
        RawRecord r;
        r.key = key_bytes[k];
        r.value = value_bytes[k];
        r.timestamp = typed[b][i].timestamp;
        r.offset = static_cast<int64_t>(k);
        raw[b].push_back(r);
      }
    }
  }
};

const Data& TheData() {
  static const Data* data = new Data();
  return *data;
}

// ---- Engine plumbing: the services a task offers its nodes, with a collector that
// checksums instead of producing.

class ChecksumCollector final : public internal::RecordCollector {
 public:
  absl::Status Send(const OutRecord& record) override {
    sum.Add(record.key, record.value);
    return absl::OkStatus();
  }
  absl::StatusOr<int32_t> PartitionCount(std::string_view) override { return 1; }
  int64_t ChangelogEnd(std::string_view, int32_t) override { return -1; }
  Checksum sum;
};

class BenchServices final : public internal::TaskServices {
 public:
  internal::RecordCollector& collector() override { return collector_; }
  internal::DeserializationErrorPolicy deserialization_policy() const override {
    return internal::DeserializationErrorPolicy::kFail;
  }
  void RecordSkipped(const BatchContext&, int64_t, const absl::Status&) override {}
  void RecordLate(const BatchContext&, int64_t, int64_t, std::string_view) override {}
  std::string ResolveTopic(std::string_view name, bool) const override {
    return std::string(name);
  }
  int32_t partition() const override { return 0; }
  const std::string& application_id() const override { return app_id_; }
  int64_t stream_time() const override { return -1; }
  int64_t wall_clock_time() const override { return 0; }
  void RequestCommit() override {}
  internal::KeyValueBytesStore* GetStore(std::string_view) override { return nullptr; }

 private:
  ChecksumCollector collector_;
  std::string app_id_ = "bench";
};

Topology MustBuild(StreamsBuilder& builder) {
  absl::StatusOr<Topology> topology = builder.Build();
  if (!topology.ok()) {
    std::fprintf(stderr, "chain_bench: building the topology: %s\n",
                 std::string(topology.status().message()).c_str());
    std::abort();
  }
  return *std::move(topology);
}

// Level (a): the DSL chain's node instances, fed typed batches at the node after the
// source. The nodes come from the topology's own factories and are wired as the
// topology says, as ProcessorGraph does; only the source is left out.
class OperatorChain {
 public:
  explicit OperatorChain(Checksum* sum) {
    StreamsBuilder builder;
    builder.Stream<std::string, int64_t>("prices")
        .Map(kToStore)
        .Filter(kKeep)
        .MapValues(kFormat)
        .Foreach([sum](const std::string& key, const std::string& value) {
          sum->Add(key, value);
        });
    topology_ = std::make_unique<Topology>(MustBuild(builder));
    const internal::CompiledTopology& compiled = topology_->compiled();
    std::map<int, NodeInstance*> by_id;
    for (int id : compiled.subtopologies.at(0).nodes) {
      const internal::GraphNode& node = compiled.nodes[id];
      if (node.kind == internal::NodeKind::kSource) continue;
      std::unique_ptr<NodeInstance> instance = node.factory(services_);
      for (int parent : node.parents) {
        if (compiled.nodes[parent].kind == internal::NodeKind::kSource) {
          entry_ = dynamic_cast<Input<std::string, int64_t>*>(instance.get());
        } else if (absl::Status s = by_id.at(parent)->AddChild(instance.get()); !s.ok()) {
          std::fprintf(stderr, "chain_bench: wiring: %s\n", std::string(s.message()).c_str());
          std::abort();
        }
      }
      by_id[id] = instance.get();
      nodes_.push_back(std::move(instance));
    }
    if (entry_ == nullptr) std::abort();
  }

  // A batch read by another consumer too (movable=false), as after a fan-out; the
  // movable path is what the task level exercises.
  void Process(const std::vector<Record<std::string, int64_t>*>& records) {
    entry_->Process(Batch<std::string, int64_t>{records, false, &context_});
  }

 private:
  BenchServices services_;
  std::unique_ptr<Topology> topology_;
  std::vector<std::unique_ptr<NodeInstance>> nodes_;
  Input<std::string, int64_t>* entry_ = nullptr;
  BatchContext context_{.topic = "prices", .partition = 0, .task_partition = 0, .raw = {}};
};

void HandOperators(const std::vector<Record<std::string, int64_t>*>& records, Checksum& sum) {
  for (const Record<std::string, int64_t>* r : records) {
    KeyValue<std::string, int64_t> kv = kToStore(r->key, r->value);
    if (!kKeep(kv.key, kv.value)) continue;
    const std::string value = kFormat(kv.value);
    sum.Add(kv.key, value);
  }
}

// Level (b): a real Task over the same chain with a source and a sink.
class TaskChain {
 public:
  TaskChain() {
    StreamsBuilder builder;
    builder.Stream("prices", Consumed<StringSerde, Int64Serde>())
        .Map(kToStore)
        .Filter(kKeep)
        .MapValues(kFormat)
        .To("store-prices", Produced<StringSerde, StringSerde>());
    topology_ = std::make_unique<Topology>(MustBuild(builder));
    internal::Task::Options options;
    options.application_id = "chain-bench";
    absl::StatusOr<std::unique_ptr<internal::Task>> task =
        internal::Task::Create(internal::TaskId{0, 0}, topology_->compiled(), collector_,
                               options, &metrics_);
    if (!task.ok()) {
      std::fprintf(stderr, "chain_bench: %s\n", std::string(task.status().message()).c_str());
      std::abort();
    }
    task_ = std::move(*task);
  }

  void Process(std::vector<RawRecord>& records) {
    absl::Status s = task_->Process("prices", 0, records);
    if (!s.ok()) {
      std::fprintf(stderr, "chain_bench: %s\n", std::string(s.message()).c_str());
      std::abort();
    }
  }

  ChecksumCollector collector_;

 private:
  std::unique_ptr<Topology> topology_;
  internal::TaskMetrics metrics_;
  std::unique_ptr<internal::Task> task_;
};

// Deserialize, work, serialize: what a librdkafka loop does between poll and produce.
class HandTask {
 public:
  void Process(const std::vector<RawRecord>& records, Checksum& sum) {
    for (const RawRecord& raw : records) {
      if (!key_serde_.Deserialize(raw.key, key_).ok() ||
          !value_serde_.Deserialize(raw.value, value_).ok()) {
        std::abort();
      }
      KeyValue<std::string, int64_t> kv = kToStore(key_, value_);
      if (!kKeep(kv.key, kv.value)) continue;
      const std::string formatted = kFormat(kv.value);
      out_key_serde_.Serialize(kv.key, key_buf_);
      out_value_serde_.Serialize(formatted, value_buf_);
      sum.Add(key_buf_, value_buf_);
    }
  }

 private:
  StringSerde key_serde_;
  Int64Serde value_serde_;
  StringSerde out_key_serde_;
  StringSerde out_value_serde_;
  std::string key_;
  int64_t value_ = 0;
  std::string key_buf_;
  std::string value_buf_;
};

// A task skips records below its position (stale after a rebalance), so every pass
// over the cycled input gets fresh offsets. Both task-level sides pay for this.
void Renumber(std::vector<RawRecord>& records, int64_t& next_offset) {
  for (RawRecord& r : records) r.offset = next_offset++;
}

// ---- Benchmarks. One iteration = one batch of kBatchSize records.

void BM_Operators_Engine(benchmark::State& state) {
  const Data& data = TheData();
  auto sum = std::make_unique<Checksum>();
  OperatorChain chain(sum.get());
  size_t b = 0;
  for (auto _ : state) {
    chain.Process(data.typed_ptrs[b]);
    b = (b + 1) % kNumBatches;
    benchmark::DoNotOptimize(sum->hash);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatchSize));
  state.counters["kept"] = static_cast<double>(sum->count) /
                           static_cast<double>(state.iterations() * kBatchSize);
}

void BM_Operators_Hand(benchmark::State& state) {
  const Data& data = TheData();
  auto sum = std::make_unique<Checksum>();
  size_t b = 0;
  for (auto _ : state) {
    HandOperators(data.typed_ptrs[b], *sum);
    b = (b + 1) % kNumBatches;
    benchmark::DoNotOptimize(sum->hash);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatchSize));
  state.counters["kept"] = static_cast<double>(sum->count) /
                           static_cast<double>(state.iterations() * kBatchSize);
}

void BM_Task_Engine(benchmark::State& state) {
  std::vector<std::vector<RawRecord>> raw = TheData().raw;
  TaskChain chain;
  int64_t offset = 0;
  size_t b = 0;
  for (auto _ : state) {
    Renumber(raw[b], offset);
    chain.Process(raw[b]);
    b = (b + 1) % kNumBatches;
    benchmark::DoNotOptimize(chain.collector_.sum.hash);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatchSize));
  state.counters["kept"] = static_cast<double>(chain.collector_.sum.count) /
                           static_cast<double>(state.iterations() * kBatchSize);
}

void BM_Task_Hand(benchmark::State& state) {
  std::vector<std::vector<RawRecord>> raw = TheData().raw;
  HandTask hand;
  auto sum = std::make_unique<Checksum>();
  int64_t offset = 0;
  size_t b = 0;
  for (auto _ : state) {
    Renumber(raw[b], offset);
    hand.Process(raw[b], *sum);
    b = (b + 1) % kNumBatches;
    benchmark::DoNotOptimize(sum->hash);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatchSize));
  state.counters["kept"] = static_cast<double>(sum->count) /
                           static_cast<double>(state.iterations() * kBatchSize);
}

BENCHMARK(BM_Operators_Engine);
BENCHMARK(BM_Operators_Hand);
BENCHMARK(BM_Task_Engine);
BENCHMARK(BM_Task_Hand);

// ---- Same work, checked once: every side over every input batch, equal checksums.

bool CheckSameWork() {
  const Data& data = TheData();
  Checksum engine_ops, hand_ops, hand_task;
  {
    OperatorChain chain(&engine_ops);
    for (const auto& batch : data.typed_ptrs) chain.Process(batch);
    for (const auto& batch : data.typed_ptrs) HandOperators(batch, hand_ops);
  }
  TaskChain task;
  HandTask hand;
  std::vector<std::vector<RawRecord>> raw = data.raw;
  for (auto& batch : raw) task.Process(batch);
  for (auto& batch : raw) hand.Process(batch, hand_task);
  const Checksum& engine_task = task.collector_.sum;
  std::printf("same-work check: operators engine %llu records / %016llx, hand %llu / %016llx; "
              "task engine %llu / %016llx, hand %llu / %016llx\n",
              static_cast<unsigned long long>(engine_ops.count),
              static_cast<unsigned long long>(engine_ops.hash),
              static_cast<unsigned long long>(hand_ops.count),
              static_cast<unsigned long long>(hand_ops.hash),
              static_cast<unsigned long long>(engine_task.count),
              static_cast<unsigned long long>(engine_task.hash),
              static_cast<unsigned long long>(hand_task.count),
              static_cast<unsigned long long>(hand_task.hash));
  const bool same = engine_ops == hand_ops && engine_task == hand_task &&
                    engine_ops == engine_task && engine_ops.count > 0 &&
                    engine_ops.count < kNumBatches * kBatchSize;
  if (!same) std::fprintf(stderr, "chain_bench: engine and hand-written loops differ\n");
  return same;
}

// Prints the usual console output, and keeps items/s per benchmark (the median when
// repetitions are asked for) for the ratio table.
class RatioReporter final : public benchmark::ConsoleReporter {
 public:
  // Colour only on a terminal (a reporter passed in does not follow --benchmark_color).
  RatioReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      const std::string name = run.run_name.function_name;
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") {
          rates_[name] = it->second.value;
          from_median_[name] = true;
        }
      } else if (!from_median_[name]) {
        rates_[name] = it->second.value;  // the last repetition, until a median comes
      }
    }
  }

  void PrintRatios() const {
    std::printf("\n%-10s %16s %16s %8s\n", "level", "engine rec/s", "hand rec/s", "ratio");
    for (const char* level : {"Operators", "Task"}) {
      auto engine = rates_.find(std::string("BM_") + level + "_Engine");
      auto hand = rates_.find(std::string("BM_") + level + "_Hand");
      if (engine == rates_.end() || hand == rates_.end()) continue;
      std::printf("%-10s %16.0f %16.0f %8.3f\n", level, engine->second, hand->second,
                  engine->second / hand->second);
    }
  }

 private:
  std::map<std::string, double> rates_;
  std::map<std::string, bool> from_median_;
};

// For instruction counts that do not depend on timing: `valgrind --tool=callgrind
// chain_bench --count-batches=N` runs each side over N batches in its own function
// (CountOperatorsEngine, ...) and exits; callgrind_annotate --inclusive=yes gives each
// function's instructions, i.e. per N * kBatchSize records. See README.md.
[[gnu::noinline]] uint64_t CountOperatorsEngine(int batches) {
  Checksum sum;
  OperatorChain chain(&sum);
  for (int i = 0; i < batches; ++i) chain.Process(TheData().typed_ptrs[i % kNumBatches]);
  return sum.hash;
}
[[gnu::noinline]] uint64_t CountOperatorsHand(int batches) {
  Checksum sum;
  for (int i = 0; i < batches; ++i) HandOperators(TheData().typed_ptrs[i % kNumBatches], sum);
  return sum.hash;
}
[[gnu::noinline]] uint64_t CountTaskEngine(int batches) {
  std::vector<std::vector<RawRecord>> raw = TheData().raw;
  TaskChain chain;
  int64_t offset = 0;
  for (int i = 0; i < batches; ++i) {
    Renumber(raw[i % kNumBatches], offset);
    chain.Process(raw[i % kNumBatches]);
  }
  return chain.collector_.sum.hash;
}
[[gnu::noinline]] uint64_t CountTaskHand(int batches) {
  std::vector<std::vector<RawRecord>> raw = TheData().raw;
  HandTask hand;
  Checksum sum;
  int64_t offset = 0;
  for (int i = 0; i < batches; ++i) {
    Renumber(raw[i % kNumBatches], offset);
    hand.Process(raw[i % kNumBatches], sum);
  }
  return sum.hash;
}

int CountBatches(int batches) {
  TheData();  // built outside the counted functions
  const uint64_t a = CountOperatorsEngine(batches), b = CountOperatorsHand(batches);
  const uint64_t c = CountTaskEngine(batches), d = CountTaskHand(batches);
  std::printf("counted %d batches of %zu records per side; checksums %s\n", batches, kBatchSize,
              a == b && b == c && c == d ? "equal" : "DIFFER");
  return a == b && b == c && c == d ? 0 : 1;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--count-batches=", 16) == 0) {
      return sluice::bench::CountBatches(std::atoi(argv[i] + 16));
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!sluice::bench::CheckSameWork()) return 1;
  sluice::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
