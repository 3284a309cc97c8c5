// What sluice-nexmark's two modes share: the flags, the generated input, one query's
// result, and the terminal progress bar.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/nexmark/codec.h"
#include "bench/nexmark/queries.h"

namespace sluice::nexmark {

struct Flags {
  std::vector<std::string> queries;
  int64_t events = 1'000'000;
  std::string mode = "engine";  // or "kafka"
  int threads = 1;
  int32_t partitions = 1;
  uint64_t seed = 0;
  Format format = Format::kFlatBuffers;
  int64_t rate = 10'000;  // event time: events per second (Beam's default)
  int64_t batch = 1000;   // engine mode: records per partition per batch, as after a poll
  int64_t commit_events = 100'000;  // engine mode
  int runs = 3;                     // engine mode: runs, each beside a reference run
  bool verify = false;
  std::string json;
  std::string bootstrap_servers;  // kafka mode: a real cluster; empty: the embedded broker
};

// The generated events, encoded, in generation order, with their partitions.
struct Input {
  std::vector<std::string> keys, values;
  std::vector<int64_t> timestamps;
  std::vector<int32_t> partitions;
  int64_t bytes = 0;
  size_t size() const { return values.size(); }
  // Keeps the first `n` events.
  void Truncate(size_t n);
};
Input Generate(const Flags& f);

// The reference over `in`, timed: decodes every event with the run's codec, then computes;
// at least three runs, the median time counts.
struct ReferenceRun {
  std::vector<OutRow> rows;
  double seconds = 0;
};
ReferenceRun RunReference(const Flags& f, const Query& query, const Input& in);

struct Result {
  std::string query;
  int64_t events = 0;                    // the run's (kafka mode may run fewer than asked)
  double sluice_seconds = 0;             // engine: all of it; kafka: until all input is processed
  std::optional<double> e2e_seconds;     // kafka: until the last output is written
  double reference_seconds = 0;
  double ratio = 0;                      // Sluice per thread / reference; engine: the runs' median
  std::optional<double> hand_seconds;    // kafka, q0 and q2: the hand-written librdkafka loop
  int64_t peak_rss = 0;
  uint64_t outputs = 0;
  std::optional<bool> equal;             // --verify
  std::string note;
};

int64_t PeakRssBytes();

// Whether `actual` settles to the reference's rows; prints the first differences.
bool SameResults(const Query& query, std::vector<OutRow> actual, std::vector<OutRow> expected);

class Progress {
 public:
  Progress(std::string label, int64_t total);
  void Update(int64_t done);
  void Done();

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point last_{};
};

[[noreturn]] void Fail(const std::string& what, const absl::Status& s);

// Engine mode (main.cc) and Kafka mode (kafka_mode.cc).
Result RunEngine(const Flags& f, const Query& query, const Input& in);
Result RunKafka(const Flags& f, const Query& query, Input in);

}  // namespace sluice::nexmark
