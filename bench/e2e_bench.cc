// e2e_bench: an App against a hand-written librdkafka consume -> produce loop, end to
// end through the embedded broker, on the same pre-produced input in the same run.
//
// Workloads: `pass` (every record copied to the output topic) and `filter` (about half
// of the records dropped by a predicate on the value). Each workload runs once on the
// App and once on the hand-written loop, each with its own output topic and consumer
// group, both reading the same input topic from the beginning.
//
// The hand-written loop is what a user writes without Sluice: one consumer and one
// producer per thread; consume a batch of up to 1000 records, produce what passes,
// serve delivery reports, and every commit interval flush the producer and then
// commit the offsets consumed (at-least-once). It uses the App's producer settings
// (idempotence, linger.ms=5, murmur2_random) and the same consumer settings. Its
// partitions are assigned statically (partition p to loop p % threads) instead of by
// a group join: the join happens before the first record and is outside the timed
// window either way, and static assignment cannot rebalance (and duplicate) mid-run.
//
// Timing (see README.md): a sampler reads the records processed (App: metrics();
// hand: a counter bumped per batch) every millisecond, and the output topic's high
// watermarks every third sample, then back to back once all input is processed.
//   end-to-end = input records / (last output acknowledged - first batch processed)
//   steady     = input records processed per second from 0.5 s after the first batch
//                until the last input record was processed
// The group join of the mock (~3 s) and the consumers' cold start are before the
// first batch and so outside both.
//
//   e2e_bench [--records N] [--partitions N] [--threads N] [--value-bytes N]
//             [--commit-ms N] [--workloads pass,filter] [--repeat N]
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/kafka_util.h"
#include "sluice/sluice.h"

namespace sluice::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int64_t records = 480000;
  int partitions = 12;  // 40,000 records per partition: under the mock's 5 MiB cap
  int threads = 1;
  int value_bytes = 100;
  int64_t commit_ms = 1000;
  std::vector<std::string> workloads = {"pass", "filter"};
  int repeat = 1;
};

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "e2e_bench: %s\n", why.c_str());
  std::exit(1);
}

// The filter's predicate, used by the App and the hand-written loop alike: values start
// with a 6-digit price; keep the upper half.
bool KeepValue(std::string_view value) {
  int price = 0;
  if (value.size() < 6) return false;
  std::from_chars(value.data(), value.data() + 6, price);
  return price >= 500000;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- Input.

struct Input {
  int64_t records = 0;
  int64_t kept = 0;  // records the filter keeps
};

Input ProduceInput(const std::string& servers, const std::string& topic, const Options& o) {
  struct Acks {
    std::atomic<int64_t> failed{0};
  } acks;
  auto dr = [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err) static_cast<Acks*>(opaque)->failed.fetch_add(1);
  };
  KafkaPtr producer = NewClient(RD_KAFKA_PRODUCER,
                                {{"bootstrap.servers", servers}, {"linger.ms", "5"},
                                 {"enable.idempotence", "true"}},
                                dr, &acks);
  rd_kafka_topic_t* rkt = WarmTopic(producer.get(), topic);
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> price(0, 999999);
  Input input;
  std::string key, value;
  for (int64_t i = 0; i < o.records; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "user-%08lld", static_cast<long long>((i * 7919) % 10000019));
    key = buf;
    std::snprintf(buf, sizeof buf, "%06d;", price(rng));
    value = buf;
    while (static_cast<int>(value.size()) < o.value_bytes) {
      value.push_back(static_cast<char>('a' + value.size() % 26));
    }
    if (KeepValue(value)) ++input.kept;
    // Round-robin over partitions: each gets exactly records / partitions.
    const int32_t partition = static_cast<int32_t>(i % o.partitions);
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) Die(std::string("produce: ") + rd_kafka_err2str(err));
      rd_kafka_poll(producer.get(), 10);
    }
    ++input.records;
  }
  if (rd_kafka_flush(producer.get(), 60000) != RD_KAFKA_RESP_ERR_NO_ERROR || acks.failed > 0) {
    Die("producing the input failed");
  }
  rd_kafka_topic_destroy(rkt);
  // The mock drops old data silently past 5 MiB per partition: check nothing went.
  Watermarks w = QueryWatermarks(producer.get(), topic, o.partitions);
  if (w.low_min != 0 || w.high_sum != input.records) {
    Die("input topic trimmed by the embedded broker: low watermark " + std::to_string(w.low_min) +
        ", " + std::to_string(w.high_sum) + " records of " + std::to_string(input.records) +
        " (keep partitions at or below ~45,000 records of ~100 bytes)");
  }
  return input;
}

// ---- Measurement.

struct Result {
  std::string workload;
  std::string impl;
  int run = 0;
  int64_t records_in = 0;
  int64_t records_out = 0;
  double e2e_rate = 0;
  double steady_rate = 0;
  double steady_skip_s = 0;
  double first_output_ms = 0;  // first batch processed -> first output visible
  double process_s = 0;        // first batch -> last input record processed
  double e2e_s = 0;            // first batch -> last output acknowledged
  bool ok = false;
  std::string note;
};

struct Sample {
  Clock::time_point t;
  uint64_t processed;
};

// Samples progress until the output topic holds `expected_out` records.
Result Measure(const std::function<uint64_t()>& processed, rd_kafka_t* observer,
               const std::string& out_topic, int partitions, int64_t records_in,
               int64_t expected_out) {
  Result r;
  r.records_in = records_in;
  std::vector<Sample> samples;
  samples.reserve(1 << 16);
  std::optional<Clock::time_point> first, first_out, in_done, out_done;
  const auto give_up = Clock::now() + std::chrono::seconds(180);
  int tick = 0;
  while (!out_done) {
    if (Clock::now() > give_up) {
      r.note = "timed out waiting for the output";
      return r;
    }
    // Once all input is processed, only the output is left to wait for: query back to
    // back, so the end time is exact to about one query (~1 ms on loopback).
    if (!in_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const uint64_t n = processed();
    const auto now = Clock::now();
    if (!first && n > 0) first = now;
    if (first) samples.push_back({now, n});
    if (!in_done && static_cast<int64_t>(n) >= records_in) in_done = now;
    if (first && (++tick % 3 == 0 || in_done)) {
      const int64_t out = QueryWatermarks(observer, out_topic, partitions).high_sum;
      const auto seen = Clock::now();
      if (!first_out && out > 0) first_out = seen;
      if (out >= expected_out) out_done = seen;
    }
  }
  if (!in_done) in_done = out_done;  // output complete before the counter caught up
  r.process_s = Seconds(*in_done - *first);
  r.e2e_s = Seconds(*out_done - *first);
  r.e2e_rate = static_cast<double>(records_in) / r.e2e_s;
  r.first_output_ms = first_out ? 1000 * Seconds(*first_out - *first) : 0;
  // Steady state: skip 0.5 s of warm-up, or a quarter of a shorter run (on the mock,
  // 40,000 records per partition take well under a second).
  r.steady_skip_s = std::min(0.5, r.process_s / 4);
  const auto from = *first + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(r.steady_skip_s));
  auto a = std::find_if(samples.begin(), samples.end(), [&](const Sample& s) { return s.t >= from; });
  auto b = std::find_if(samples.begin(), samples.end(), [&](const Sample& s) {
    return static_cast<int64_t>(s.processed) >= records_in;
  });
  if (a != samples.end() && b != samples.end() && b->t > a->t) {
    r.steady_rate = static_cast<double>(b->processed - a->processed) / Seconds(b->t - a->t);
  }
  r.ok = true;
  return r;
}

Topology BuildTopology(const std::string& in, const std::string& out, bool filter) {
  StreamsBuilder builder;
  KStream<std::string, std::string> stream = builder.Stream<std::string, std::string>(in);
  if (filter) {
    stream = stream.Filter(
        [](const std::string&, const std::string& value) { return KeepValue(value); });
  }
  stream.To(out);
  absl::StatusOr<Topology> topology = builder.Build();
  if (!topology.ok()) Die(std::string(topology.status().message()));
  return *std::move(topology);
}

// Output topic and consumer group of one run: fresh for every run.
std::string RunName(const std::string& impl, const std::string& workload, int run) {
  return impl + "-" + workload + "-" + std::to_string(run);
}

Result RunApp(EmbeddedBroker& broker, rd_kafka_t* observer, const Options& o,
              const std::string& in, const std::string& workload, int run, const Input& input) {
  const bool filter = workload == "filter";
  const std::string out = "out-" + RunName("app", workload, run);
  const int64_t expected = filter ? input.kept : input.records;
  absl::StatusOr<StreamsConfig> config = StreamsConfig::Create({
      {"application.id", "bench-" + RunName("app", workload, run)},
      {"num.stream.threads", std::to_string(o.threads)},
      {"commit.interval.ms", std::to_string(o.commit_ms)},
      {"consumer.queued.min.messages", "1000000"},
      {"consumer.session.timeout.ms", "6000"},
      {"consumer.heartbeat.interval.ms", "500"},
  });
  if (!config.ok()) Die(std::string(config.status().message()));
  absl::StatusOr<std::unique_ptr<App>> app =
      App::Create(BuildTopology(in, out, filter), *config, &broker);
  if (!app.ok()) Die(std::string(app.status().message()));
  if (absl::Status s = (*app)->Start(); !s.ok()) Die(std::string(s.message()));
  App& a = **app;
  Result r = Measure([&a] { return a.metrics().records_in; }, observer, out, o.partitions,
                     input.records, expected);
  r.workload = workload;
  r.impl = "app";
  r.run = run;
  if (!a.Close(std::chrono::seconds(60))) r.note += " close timed out;";
  const AppMetrics m = a.metrics();
  const Watermarks w = QueryWatermarks(observer, out, o.partitions);
  r.records_out = w.high_sum;
  if (w.high_sum != expected || w.low_min != 0 || static_cast<int64_t>(m.records_in) != input.records ||
      static_cast<int64_t>(m.records_out) != expected) {
    r.ok = false;
    r.note += " WRONG COUNTS: output topic " + std::to_string(w.high_sum) + " (low " +
              std::to_string(w.low_min) + "), records_in " + std::to_string(m.records_in) +
              ", records_out " + std::to_string(m.records_out) + ", expected " +
              std::to_string(expected) + ";";
  }
  return r;
}

Result RunHand(const std::string& servers, rd_kafka_t* observer, const Options& o,
               const std::string& in, const std::string& workload, int run,
               const Input& input) {
  const bool filter = workload == "filter";
  const std::string out = "out-" + RunName("hand", workload, run);
  const int64_t expected = filter ? input.kept : input.records;
  std::vector<std::unique_ptr<HandLoop>> loops;
  for (int t = 0; t < o.threads; ++t) {
    std::vector<int32_t> partitions;
    for (int32_t p = t; p < o.partitions; p += o.threads) partitions.push_back(p);
    HandLoop::Transform transform = [filter](const rd_kafka_message_t& m, std::string_view* key,
                                             std::string_view* value) {
      *key = std::string_view(static_cast<const char*>(m.key), m.key_len);
      *value = std::string_view(static_cast<const char*>(m.payload), m.len);
      return !filter || KeepValue(*value);
    };
    loops.push_back(std::make_unique<HandLoop>(servers, in, out, "bench-" + RunName("hand", workload, run),
                                               partitions, transform, o.commit_ms, t));
  }
  for (auto& l : loops) l->Start();
  Result r = Measure(
      [&loops] {
        uint64_t n = 0;
        for (auto& l : loops) n += l->processed();
        return n;
      },
      observer, out, o.partitions, input.records, expected);
  r.workload = workload;
  r.impl = "hand";
  r.run = run;
  int64_t produced = 0, failed = 0, commit_errors = 0;
  uint64_t processed = 0;
  for (auto& l : loops) {
    l->Stop();
    produced += l->produced();
    failed += l->failed();
    commit_errors += l->commit_errors();
    processed += l->processed();
  }
  const Watermarks w = QueryWatermarks(observer, out, o.partitions);
  r.records_out = w.high_sum;
  if (commit_errors > 0) r.note += " " + std::to_string(commit_errors) + " commit errors;";
  if (w.high_sum != expected || w.low_min != 0 || produced != expected || failed != 0 ||
      static_cast<int64_t>(processed) != input.records) {
    r.ok = false;
    r.note += " WRONG COUNTS: output topic " + std::to_string(w.high_sum) + " (low " +
              std::to_string(w.low_min) + "), processed " + std::to_string(processed) +
              ", produced " + std::to_string(produced) + ", failed " + std::to_string(failed) +
              ", expected " + std::to_string(expected) + ";";
  }
  return r;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + arg);
      return argv[++i];
    };
    if (arg == "--records") {
      o.records = std::stoll(value());
    } else if (arg == "--partitions") {
      o.partitions = std::stoi(value());
    } else if (arg == "--threads") {
      o.threads = std::stoi(value());
    } else if (arg == "--value-bytes") {
      o.value_bytes = std::stoi(value());
    } else if (arg == "--commit-ms") {
      o.commit_ms = std::stoll(value());
    } else if (arg == "--repeat") {
      o.repeat = std::stoi(value());
    } else if (arg == "--workloads") {
      o.workloads.clear();
      std::string list = value();
      for (size_t start = 0; start <= list.size();) {
        size_t comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        o.workloads.push_back(list.substr(start, comma - start));
        start = comma + 1;
      }
    } else {
      Die("unknown argument " + arg +
          " (use --records N --partitions N --threads N --value-bytes N --commit-ms N "
          "--workloads pass,filter --repeat N)");
    }
  }
  if (o.records <= 0 || o.partitions <= 0 || o.partitions > 64 || o.threads <= 0 ||
      o.value_bytes < 8 || o.repeat <= 0) {
    Die("bad arguments");
  }
  for (const std::string& w : o.workloads) {
    if (w != "pass" && w != "filter") Die("unknown workload " + w);
  }
  // DESIGN.md: stay at or below ~45,000 records of ~100 bytes (13-byte keys) per
  // partition; the low-watermark check after producing is the real guard.
  const double per_partition_bytes =
      static_cast<double>(o.records) / o.partitions * (o.value_bytes + 13);
  if (per_partition_bytes > 45000.0 * 113) {
    Die("the embedded broker keeps at most 5 MiB per partition; use more partitions or fewer "
        "records (<= ~45,000 records of ~100 bytes per partition)");
  }
  return o;
}

void PrintTable(const std::vector<Result>& results, const Options& o) {
  std::printf("\ne2e_bench: %lld records, %d partitions, %d-byte values, %d stream thread(s), "
              "commit every %lld ms\n",
              static_cast<long long>(o.records), o.partitions, o.value_bytes, o.threads,
              static_cast<long long>(o.commit_ms));
  std::printf("%-8s %-6s %3s %10s %13s %13s %8s %10s %9s %9s  %s\n", "workload", "impl", "run", "out",
              "e2e rec/s", "steady rec/s", "skip s", "1st out ms", "in s", "e2e s", "check");
  for (const Result& r : results) {
    std::printf("%-8s %-6s %3d %10lld %13.0f %13.0f %8.2f %10.1f %9.3f %9.3f  %s%s\n",
                r.workload.c_str(), r.impl.c_str(), r.run, static_cast<long long>(r.records_out),
                r.e2e_rate, r.steady_rate, r.steady_skip_s, r.first_output_ms, r.process_s,
                r.e2e_s, r.ok ? "ok" : "FAILED",
                r.note.c_str());
  }
  auto median = [&](const std::string& w, const std::string& impl, double Result::*field) {
    std::vector<double> v;
    for (const Result& r : results) {
      if (r.workload == w && r.impl == impl) v.push_back(r.*field);
    }
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  std::printf("\nmedian of %d run(s), records/s per stream thread count %d\n", o.repeat, o.threads);
  std::printf("%-8s %13s %13s %8s %13s %13s %8s\n", "workload", "app e2e", "hand e2e", "ratio",
              "app steady", "hand steady", "ratio");
  for (const std::string& w : o.workloads) {
    const double app_e2e = median(w, "app", &Result::e2e_rate);
    const double hand_e2e = median(w, "hand", &Result::e2e_rate);
    const double app_steady = median(w, "app", &Result::steady_rate);
    const double hand_steady = median(w, "hand", &Result::steady_rate);
    std::printf("%-8s %13.0f %13.0f %8.3f %13.0f %13.0f %8.3f\n", w.c_str(), app_e2e, hand_e2e,
                hand_e2e > 0 ? app_e2e / hand_e2e : 0.0, app_steady, hand_steady,
                hand_steady > 0 ? app_steady / hand_steady : 0.0);
  }
}

int Main(int argc, char** argv) {
  ProgramName() = "e2e_bench";
  const Options o = ParseArgs(argc, argv);
  absl::StatusOr<std::unique_ptr<EmbeddedBroker>> broker = EmbeddedBroker::Start();
  if (!broker.ok()) Die(std::string(broker.status().message()));
  const std::string servers = (*broker)->bootstrap_servers();
  const std::string in = "bench-in";
  std::vector<std::string> topics = {in};
  for (int run = 1; run <= o.repeat; ++run) {
    for (const std::string& w : o.workloads) {
      topics.push_back("out-" + RunName("app", w, run));
      topics.push_back("out-" + RunName("hand", w, run));
    }
  }
  for (const std::string& t : topics) {
    if (absl::Status s = (*broker)->CreateTopic(t, o.partitions); !s.ok()) Die(std::string(s.message()));
  }
  const Input input = ProduceInput(servers, in, o);
  std::printf("input: %lld records in %d partitions, low watermark 0; the filter keeps %lld\n",
              static_cast<long long>(input.records), o.partitions,
              static_cast<long long>(input.kept));
  KafkaPtr observer = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", servers}});
  std::vector<Result> results;
  for (int run = 1; run <= o.repeat; ++run) {
    for (size_t wi = 0; wi < o.workloads.size(); ++wi) {
      const std::string& w = o.workloads[wi];
      // Alternate who goes first, from workload to workload and from run to run.
      const bool app_first = (run + wi) % 2 == 1;
      for (int k = 0; k < 2; ++k) {
        const bool app = (k == 0) == app_first;
        std::fprintf(stderr, "e2e_bench: run %d: %s on the %s\n", run, w.c_str(),
                     app ? "App" : "hand-written loop");
        results.push_back(app ? RunApp(**broker, observer.get(), o, in, w, run, input)
                              : RunHand(servers, observer.get(), o, in, w, run, input));
      }
    }
  }
  PrintTable(results, o);
  for (const Result& r : results) {
    if (!r.ok) return 1;
  }
  return 0;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) { return sluice::bench::Main(argc, argv); }
