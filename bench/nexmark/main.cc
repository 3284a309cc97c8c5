// sluice-nexmark: runs Nexmark queries on Sluice and, over the same events in the same
// run, their plain-C++ references, and reports events/s per worker thread, the ratio, and
// peak RSS. See bench/nexmark/README.md.
//
//   sluice-nexmark --query q5 --events 1000000
//   sluice-nexmark --query all --events 200000 --verify --json results.json
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <atomic>
#include <barrier>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/nexmark/codec.h"
#include "bench/nexmark/engine_runner.h"
#include "bench/nexmark/generator.h"
#include "bench/nexmark/harness.h"
#include "bench/nexmark/queries.h"
#include "nlohmann/json.hpp"
#include "src/partitioner.h"
#include "sluice/sluice.h"

namespace sluice::nexmark {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "sluice-nexmark: %s\n\n", error.c_str());
  std::string names;
  for (const Query& q : Queries()) names += " " + q.name;
  std::fprintf(stderr,
               "usage: sluice-nexmark --query NAME[,NAME...]|all [options]\n"
               "  --query Q          one of:%s\n"
               "  --events N         events to generate (default 1000000)\n"
               "  --mode M           engine: the tasks in this process, no Kafka (default);\n"
               "                     kafka: an App through a broker, beside a hand-written\n"
               "                     librdkafka loop for q0 and q2\n"
               "  --bootstrap-servers S  kafka mode: a real cluster (default: the embedded broker)\n"
               "  --threads N        worker threads (1)\n"
               "  --partitions N     partitions of the event topic and of repartition topics\n"
               "                     (default: --threads in engine mode, 8 in kafka mode)\n"
               "  --seed N           generator seed; 0 reproduces Beam's events (0)\n"
               "  --format F         event encoding: flatbuffers or json (flatbuffers)\n"
               "  --rate N           event time: generated events per second (10000, Beam's)\n"
               "  --batch N          engine mode: records per partition per batch (1000)\n"
               "  --commit-events N  engine mode: input records between commits (100000)\n"
               "  --runs N           engine mode: engine runs, each followed by a reference run; the\n"
               "                     medians count, and the median of their ratios (3)\n"
               "  --verify           also check that Sluice's results equal the reference's\n"
               "  --json FILE        write the results as JSON\n",
               names.c_str());
  std::exit(error.empty() ? 0 : 2);
}

int64_t ParseInt(const std::string& flag, const std::string& text, int64_t min) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < min) {
    Usage(flag + ": expected an integer >= " + std::to_string(min) + ", got '" + text + "'");
  }
  return v;
}

Flags Parse(int argc, char** argv) {
  Flags f;
  std::optional<int32_t> partitions;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") Usage("");
    if (arg == "--verify") {
      f.verify = true;
      continue;
    }
    if (i + 1 >= argc) Usage(arg + " needs a value");
    const std::string v = argv[++i];
    if (arg == "--query") {
      if (v == "all") {
        for (const Query& q : Queries()) f.queries.push_back(q.name);
      } else {
        size_t begin = 0;
        while (begin <= v.size()) {
          const size_t comma = v.find(',', begin);
          const std::string name = v.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
          if (FindQuery(name) == nullptr) Usage("--query: no query named '" + name + "'");
          f.queries.push_back(name);
          if (comma == std::string::npos) break;
          begin = comma + 1;
        }
      }
    } else if (arg == "--events") {
      f.events = ParseInt(arg, v, 1);
    } else if (arg == "--mode") {
      if (v != "engine" && v != "kafka") Usage("--mode: expected engine or kafka, got '" + v + "'");
      f.mode = v;
    } else if (arg == "--bootstrap-servers") {
      f.bootstrap_servers = v;
    } else if (arg == "--threads") {
      f.threads = static_cast<int>(ParseInt(arg, v, 1));
    } else if (arg == "--partitions") {
      partitions = static_cast<int32_t>(ParseInt(arg, v, 1));
    } else if (arg == "--seed") {
      f.seed = static_cast<uint64_t>(ParseInt(arg, v, 0));
    } else if (arg == "--format") {
      if (absl::Status s = ParseFormat(v, &f.format); !s.ok()) Usage(std::string(s.message()));
    } else if (arg == "--rate") {
      f.rate = ParseInt(arg, v, 1);
    } else if (arg == "--batch") {
      f.batch = ParseInt(arg, v, 1);
    } else if (arg == "--commit-events") {
      f.commit_events = ParseInt(arg, v, 1);
    } else if (arg == "--runs") {
      f.runs = static_cast<int>(ParseInt(arg, v, 1));
    } else if (arg == "--json") {
      f.json = v;
    } else {
      Usage("unknown option '" + arg + "'");
    }
  }
  if (f.queries.empty()) Usage("--query is required");
  if (f.mode == "engine" && !f.bootstrap_servers.empty()) Usage("--bootstrap-servers needs --mode kafka");
  f.partitions = partitions.value_or(f.mode == "kafka" ? 8 : f.threads);
  if (f.mode == "engine" && f.partitions < f.threads) {
    Usage("--partitions " + std::to_string(f.partitions) + " is fewer than --threads " +
          std::to_string(f.threads) + ": engine mode gives each thread partitions of its own");
  }
  return f;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One run of the engine over the input: its time, and what it wrote.
struct EngineRun {
  double seconds = 0;
  uint64_t outputs = 0;
  uint64_t late = 0;
  std::vector<OutRow> rows;  // only when asked to keep them
};

EngineRun RunEngineOnce(const Flags& f, const Query& query, const Input& in, const std::string& label,
                        bool keep_output) {
  EngineRun result;
  QueryOptions options;
  options.format = f.format;
  StreamsBuilder builder;
  query.build(builder, options);
  absl::StatusOr<Topology> topology = builder.Build();
  if (!topology.ok()) Fail("building " + query.name, topology.status());
  std::map<std::string, std::string> props = query.config;
  props["application.id"] = "nexmark-" + query.name;
  props["idle.window.close.ms"] = "1000";
  absl::StatusOr<StreamsConfig> config = StreamsConfig::Create(props);
  if (!config.ok()) Fail("configuring " + query.name, config.status());
  // One runner per worker thread, each owning the partitions p % threads (of every topic).
  Exchange exchange(f.threads);
  std::vector<std::unique_ptr<EngineRunner>> runners;
  for (int w = 0; w < f.threads; ++w) {
    EngineRunner::Options runner_options;
    runner_options.partitions = f.partitions;
    runner_options.commit_events = f.commit_events;
    runner_options.keep_output = keep_output;
    runner_options.worker = w;
    runner_options.exchange = f.threads > 1 ? &exchange : nullptr;
    auto runner = EngineRunner::Create(*topology, *config, runner_options);
    if (!runner.ok()) Fail("starting " + query.name, runner.status());
    runners.push_back(std::move(*runner));
  }

  const std::string& topic = options.input_topic;
  const size_t n = in.values.size();
  const size_t chunk = static_cast<size_t>(f.batch) * static_cast<size_t>(f.partitions);
  std::atomic<int64_t> processed{0};
  std::barrier sync(f.threads);
  auto check = [&](const absl::Status& s) {
    if (!s.ok()) Fail(query.name, s);
  };
  // Until no worker holds or is sent anything: each flushes, then all look at what is in
  // flight between them, together.
  auto settle = [&](EngineRunner& runner) {
    for (;;) {
      check(runner.Flush());
      sync.arrive_and_wait();
      const bool done = exchange.in_flight() == 0;
      sync.arrive_and_wait();
      if (done) return;
    }
  };
  const auto start = Clock::now();
  std::vector<Clock::time_point> ends(runners.size(), start);
  auto work = [&](EngineRunner& runner, Clock::time_point& end) {
    // Batches as a poll hands them over: the next events in generation order, split by
    // partition, of the partitions this worker owns.
    std::vector<std::vector<internal::RawRecord>> by_partition(static_cast<size_t>(f.partitions));
    std::vector<int64_t> offsets(static_cast<size_t>(f.partitions), 0);
    constexpr size_t kStepEvents = 16'000;
    const size_t chunks_per_step = std::max<size_t>(1, kStepEvents / chunk);
    size_t chunks = 0;
    for (size_t begin = 0; begin < n; begin += chunk) {
      for (auto& b : by_partition) b.clear();
      int64_t mine = 0;
      for (size_t i = begin; i < std::min(n, begin + chunk); ++i) {
        if (!runner.Owns(in.partitions[i])) continue;
        internal::RawRecord r;
        r.key = in.keys[i];
        r.value = in.values[i];
        r.timestamp = in.timestamps[i];
        const auto p = static_cast<size_t>(in.partitions[i]);
        r.offset = offsets[p]++;
        by_partition[p].push_back(r);
        ++mine;
      }
      for (size_t p = 0; p < by_partition.size(); ++p) {
        if (!by_partition[p].empty()) check(runner.Process(topic, static_cast<int32_t>(p), by_partition[p]));
      }
      processed += mine;
      // The workers keep in step, every kStepEvents events (1.6 s of event time at
      // Beam's rate, well inside the queries' 4 s grace), as a real run's tasks keep in
      // step through event time: a worker far ahead would hand the other records far
      // behind its stream time, which windows then drop as late.
      if (++chunks % chunks_per_step == 0) sync.arrive_and_wait();
    }
    // Input stops: windows close (idle close), and the last commit lets everything out.
    settle(runner);
    check(runner.Commit());
    check(runner.AdvanceWallClock(2 * 24 * 3600 * 1000));
    settle(runner);
    check(runner.Commit());
    end = Clock::now();
  };

  // Timed from the start to the last worker's end (not to when this thread, which shows
  // progress, looks).
  Progress progress(label, f.events);
  std::vector<std::thread> threads;
  for (size_t w = 0; w < runners.size(); ++w) threads.emplace_back(work, std::ref(*runners[w]), std::ref(ends[w]));
  while (processed.load() < static_cast<int64_t>(n)) {
    progress.Update(processed.load());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (std::thread& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(*std::max_element(ends.begin(), ends.end()) - start).count();
  progress.Done();
  for (const auto& runner : runners) {
    result.outputs += runner->output_records();
    result.late += runner->late_records();
    for (const EngineRunner::Output& o : runner->output()) result.rows.push_back(OutRow{o.key, o.value});
  }
  return result;  // the runners' stores and threads go with them
}

}  // namespace

Result RunEngine(const Flags& f, const Query& query, const Input& in) {
  Result result;
  result.query = query.name;
  result.events = static_cast<int64_t>(in.size());
  // The machines are shared, and their speed drifts over seconds: the engine runs --runs
  // times (3), each run from new stores and followed by the reference's, and the ratio is
  // the median of the runs' ratios (each engine run against the reference run beside it).
  // The reference runs alone: the engine's stores, threads and memory are gone first. The
  // first run's results are the ones checked.
  std::vector<double> sluice_seconds, reference_seconds, ratios;
  for (int run = 0; run < f.runs; ++run) {
    const std::string label = f.runs == 1 ? query.name : internal::Cat(query.name, " ", run + 1, "/", f.runs);
    EngineRun engine = RunEngineOnce(f, query, in, label, f.verify && run == 0);
    malloc_trim(0);
    if (run == 0) {
      result.peak_rss = PeakRssBytes();  // before the reference holds its events
      result.outputs = engine.outputs;
      if (engine.late > 0) {
        std::fprintf(stderr, "sluice-nexmark: %s: %llu records arrived after their window closed\n",
                     query.name.c_str(), static_cast<unsigned long long>(engine.late));
        result.note = std::to_string(engine.late) + " late records";
      }
    }
    ReferenceRun reference = RunReference(f, query, in);
    sluice_seconds.push_back(engine.seconds);
    reference_seconds.push_back(reference.seconds);
    ratios.push_back(reference.seconds / (f.threads * engine.seconds));
    if (run == 0 && f.verify) result.equal = SameResults(query, std::move(engine.rows), std::move(reference.rows));
  }
  result.sluice_seconds = Median(sluice_seconds);
  result.reference_seconds = Median(reference_seconds);
  result.ratio = Median(ratios);
  return result;
}

namespace {

std::string Rate(double events, double seconds) {
  const double r = seconds > 0 ? events / seconds : 0;
  char out[32];
  if (r >= 1e6) {
    std::snprintf(out, sizeof out, "%.2f M", r / 1e6);
  } else {
    std::snprintf(out, sizeof out, "%.0f k", r / 1e3);
  }
  return out;
}

std::string Optional(const std::optional<double>& seconds, int64_t events) {
  return seconds ? Rate(static_cast<double>(events), *seconds) : "-";
}

int Main(int argc, char** argv) {
  const Flags f = Parse(argc, argv);
  std::fprintf(stderr, "sluice-nexmark: generating %lld events (%s, seed %llu, %lld events/s of event time)...\n",
               static_cast<long long>(f.events), std::string(FormatName(f.format)).c_str(),
               static_cast<unsigned long long>(f.seed), static_cast<long long>(f.rate));
  const Input in = Generate(f);
  const bool kafka = f.mode == "kafka";
  std::printf("mode %s, %lld events (%.1f MiB encoded, %s), %d worker thread%s, %d partition%s\n",
              f.mode.c_str(), static_cast<long long>(f.events), static_cast<double>(in.bytes) / (1 << 20),
              std::string(FormatName(f.format)).c_str(), f.threads, f.threads == 1 ? "" : "s",
              f.partitions, f.partitions == 1 ? "" : "s");
  std::printf("%-5s %9s %12s %9s %7s %9s %9s %9s %s\n", "query", "events", "sluice/thr", "reference",
              "ratio", kafka ? "e2e/thr" : "", kafka ? "hand/thr" : "", "peak RSS", f.verify ? "equal" : "");
  nlohmann::json results = nlohmann::json::array();
  bool all_equal = true;
  for (const std::string& name : f.queries) {
    const Query& query = *FindQuery(name);
    const Result r = kafka ? RunKafka(f, query, in) : RunEngine(f, query, in);
    const double per_thread = static_cast<double>(r.events) / f.threads;
    std::printf("%-5s %9lld %12s %9s %7.3f %9s %9s %5lld MiB %s%s\n", name.c_str(),
                static_cast<long long>(r.events), Rate(per_thread, r.sluice_seconds).c_str(),
                Rate(static_cast<double>(r.events), r.reference_seconds).c_str(), r.ratio,
                kafka ? Optional(r.e2e_seconds, r.events / f.threads).c_str() : "",
                kafka ? Optional(r.hand_seconds, r.events / f.threads).c_str() : "",
                static_cast<long long>(r.peak_rss >> 20), r.equal ? (*r.equal ? "yes" : "NO") : "",
                r.note.empty() ? "" : ("  " + r.note).c_str());
    std::fflush(stdout);
    if (r.equal && !*r.equal) all_equal = false;
    nlohmann::json j = {{"query", name},
                        {"title", query.title},
                        {"mode", f.mode},
                        {"events", r.events},
                        {"threads", f.threads},
                        {"partitions", f.partitions},
                        {"format", FormatName(f.format)},
                        {"seed", f.seed},
                        {"sluice_seconds", r.sluice_seconds},
                        {"sluice_events_per_s_per_thread", per_thread / r.sluice_seconds},
                        {"reference_seconds", r.reference_seconds},
                        {"reference_events_per_s", static_cast<double>(r.events) / r.reference_seconds},
                        {"ratio", r.ratio},
                        {"peak_rss_bytes", r.peak_rss},
                        {"input_bytes", in.bytes},
                        {"outputs", r.outputs}};
    if (!kafka) j["engine_runs"] = f.runs;  // the seconds and the ratio are medians of the runs
    if (r.e2e_seconds) j["e2e_events_per_s_per_thread"] = per_thread / *r.e2e_seconds;
    if (r.hand_seconds) j["hand_events_per_s_per_thread"] = per_thread / *r.hand_seconds;
    if (r.equal) j["equal_to_reference"] = *r.equal;
    if (!r.note.empty()) j["note"] = r.note;
    results.push_back(std::move(j));
  }
  std::printf("(events/s per worker thread, except the reference's, which runs on one; ratio =\n"
              " Sluice per thread / reference, in this run; engine mode: medians of --runs runs, each\n"
              " followed by a reference run, and the median of their ratios; peak RSS is the\n"
              " process's, including the %.1f MiB of encoded input held in memory)\n",
              static_cast<double>(in.bytes) / (1 << 20));
  if (kafka) {
    std::printf("(kafka mode: sluice/thr until every event is processed, e2e/thr until the last output\n"
                " is written, windows closing after an idle second; hand/thr: the hand-written\n"
                " librdkafka loop, until every event is processed)\n");
  }
  if (!f.json.empty()) {
    std::ofstream out(f.json);
    out << results.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "sluice-nexmark: cannot write --json %s\n", f.json.c_str());
      return 1;
    }
  }
  if (!all_equal) {
    std::fprintf(stderr, "sluice-nexmark: some results differ from the reference\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace sluice::nexmark

int main(int argc, char** argv) { return sluice::nexmark::Main(argc, argv); }
