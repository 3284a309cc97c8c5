#include "bench/nexmark/harness.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <cstdio>
#include <cstdlib>

#include "bench/nexmark/generator.h"
#include "sluice/serde.h"
#include "src/partitioner.h"

namespace sluice::nexmark {

void Input::Truncate(size_t n) {
  if (n >= size()) return;
  for (size_t i = n; i < size(); ++i) bytes -= static_cast<int64_t>(keys[i].size() + values[i].size());
  keys.resize(n);
  values.resize(n);
  timestamps.resize(n);
  partitions.resize(n);
}

Input Generate(const Flags& f) {
  GeneratorConfig config;
  config.seed = f.seed;
  config.max_events = f.events;
  config.inter_event_delay_us = std::max<int64_t>(1, 1'000'000 / f.rate);
  Generator g(config);
  EventSerde serde(f.format);
  Int64Serde keys;
  Input in;
  in.keys.reserve(static_cast<size_t>(f.events));
  in.values.reserve(static_cast<size_t>(f.events));
  while (g.HasNext()) {
    const Event e = g.Next();
    std::string& key = in.keys.emplace_back();
    keys.Serialize(e.key(), key);
    serde.Serialize(e, in.values.emplace_back());
    in.timestamps.push_back(e.date_time());
    in.partitions.push_back(internal::DefaultPartition(key, f.partitions));
    in.bytes += static_cast<int64_t>(key.size() + in.values.back().size());
  }
  return in;
}

ReferenceRun RunReference(const Flags& f, const Query& query, const Input& in) {
  // The machines are shared and noisy: the reference runs at least three times, and on
  // until its runs add up to a second (at most nine); its median time counts. Each run
  // decodes the events anew, as the engine does.
  constexpr size_t kMinRuns = 3, kMaxRuns = 9;
  constexpr double kMinTotalSeconds = 1.0;
  ReferenceRun run;
  std::vector<double> seconds;
  double total = 0;
  while (seconds.size() < kMinRuns || (total < kMinTotalSeconds && seconds.size() < kMaxRuns)) {
    run.rows = {};
    const auto start = std::chrono::steady_clock::now();
    std::vector<Event> events(in.size());
    EventSerde serde(f.format);
    for (size_t e = 0; e < in.size(); ++e) {
      if (absl::Status s = serde.Deserialize(in.values[e], events[e]); !s.ok()) Fail("reference", s);
    }
    ReferenceInput ref_in;
    ref_in.events = &events;
    // q12: processing time. The reference puts every event in the window of time 0; the
    // engine's wall clock stands still while it runs (kafka mode: not compared).
    ref_in.processing_times.assign(in.size(), 0);
    run.rows = query.reference(ref_in);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    total += seconds.back();
  }
  std::sort(seconds.begin(), seconds.end());
  run.seconds = seconds[seconds.size() / 2];
  return run;
}

bool SameResults(const Query& query, std::vector<OutRow> actual, std::vector<OutRow> expected) {
  actual = Settle(query.output, std::move(actual));
  expected = Settle(query.output, std::move(expected));
  if (actual == expected) return true;
  std::vector<OutRow> missing, extra;
  std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(), std::back_inserter(missing));
  std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(), std::back_inserter(extra));
  std::fprintf(stderr, "sluice-nexmark: %s: %zu results of %zu missing, %zu unexpected\n", query.name.c_str(),
               missing.size(), expected.size(), extra.size());
  for (size_t i = 0; i < std::min<size_t>(missing.size(), 5); ++i) {
    std::fprintf(stderr, "  missing:    %s\n", query.describe(missing[i]).c_str());
  }
  for (size_t i = 0; i < std::min<size_t>(extra.size(), 5); ++i) {
    std::fprintf(stderr, "  unexpected: %s\n", query.describe(extra[i]).c_str());
  }
  return false;
}

int64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO) != 0) {}

void Progress::Update(int64_t done) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  constexpr int kWidth = 30;
  const int64_t total = std::max<int64_t>(total_, 1);
  const int filled = static_cast<int>(kWidth * std::min(done, total) / total);
  std::fprintf(stderr, "\r  %-6s [%s%s] %3d%% %lld/%lld events", label_.c_str(),
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(kWidth - filled), '.').c_str(),
               static_cast<int>(100 * std::min(done, total) / total), static_cast<long long>(done),
               static_cast<long long>(total_));
  std::fflush(stderr);
}

void Progress::Done() {
  if (tty_) std::fprintf(stderr, "\r%*s\r", 79, "");
}

void Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "sluice-nexmark: %s: %s\n", what.c_str(), std::string(s.message()).c_str());
  std::exit(1);
}

}  // namespace sluice::nexmark
