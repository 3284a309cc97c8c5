// sluice-state-crash-app: a stateful App in its own process, for the state crash test
// (tests/engine/state_crash_test.cpp). Reads "amounts" (String account id -> Int64
// amount) and keeps two stores of the same grouped stream, so one task commits two
// stores in one RocksDB batch:
//
//   totals-store  Aggregate: "count:sum" per account, updates to the topic "totals"
//   sum-store     Reduce:    the sum per account (Int64), updates to the topic "sums"
//
// Runs until SIGTERM/SIGINT (clean close, exit 0), SIGKILL, or, with
// --exit-when-idle-ms N, until it has been RUNNING with nothing restoring, no lag and no
// new input for N ms (clean close, exit 0). With --kill-after-commits N it sends itself
// SIGKILL right after its N-th commit that followed processed input, to crash just past
// a commit boundary.
//
// Progress lines on stdout (flushed), which the test reads: "state X",
// "restore-start STORE P START END", "restore-end STORE P TOTAL", "commit N in=M",
// "idle-exit in=M".
//
//   sluice-state-crash-app --bootstrap-servers HOST:PORT --application-id ID
//       --state-dir DIR [--threads N] [--commit-interval-ms N] [--caching on|off]
//       [--cache-bytes N] [--session-timeout-ms N] [--exit-when-idle-ms N]
//       [--kill-after-commits N]
#include <signal.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "sluice/sluice.h"

namespace {

std::mutex out_mu;

void Say(const char* format, ...) {
  std::lock_guard<std::mutex> lock(out_mu);
  va_list args;
  va_start(args, format);
  std::vfprintf(stdout, format, args);
  va_end(args);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// "count:sum"
std::string Format(int64_t count, int64_t sum) {
  return std::to_string(count) + ":" + std::to_string(sum);
}
bool Parse(const std::string& s, int64_t& count, int64_t& sum) {
  const size_t colon = s.find(':');
  if (colon == std::string::npos) return false;
  auto a = std::from_chars(s.data(), s.data() + colon, count);
  auto b = std::from_chars(s.data() + colon + 1, s.data() + s.size(), sum);
  return a.ec == std::errc() && b.ec == std::errc() && b.ptr == s.data() + s.size();
}

struct RestoreTracker : sluice::StateRestoreListener {
  void OnRestoreStart(const std::string& store, const std::string&, int32_t partition,
                      int64_t start, int64_t end) override {
    ++active;
    Say("restore-start %s %d %lld %lld", store.c_str(), partition, static_cast<long long>(start),
        static_cast<long long>(end));
  }
  void OnRestoreEnd(const std::string& store, const std::string&, int32_t partition,
                    uint64_t total) override {
    --active;
    Say("restore-end %s %d %llu", store.c_str(), partition, static_cast<unsigned long long>(total));
  }
  std::atomic<int> active{0};
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args = {
      {"--threads", "2"},           {"--commit-interval-ms", "200"},
      {"--caching", "on"},          {"--cache-bytes", "65536"},
      {"--session-timeout-ms", "3500"}, {"--exit-when-idle-ms", "0"},
      {"--kill-after-commits", "0"}};
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  for (const char* required : {"--bootstrap-servers", "--application-id", "--state-dir"}) {
    if (!args.contains(required)) {
      std::cerr << "sluice-state-crash-app: missing " << required << "\n";
      return 2;
    }
  }
  const bool caching = args["--caching"] == "on";
  const long idle_ms = std::stol(args["--exit-when-idle-ms"]);
  const long kill_after_commits = std::stol(args["--kill-after-commits"]);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  using sluice::Int64Serde;
  using sluice::Materialized;
  using sluice::StringSerde;
  auto totals_store = Materialized<StringSerde, StringSerde>::As("totals-store");
  auto sum_store = Materialized<StringSerde, Int64Serde>::As("sum-store");
  if (!caching) {
    totals_store = totals_store.WithCachingDisabled();
    sum_store = sum_store.WithCachingDisabled();
  }
  sluice::StreamsBuilder builder;
  auto grouped = builder.Stream("amounts", sluice::Consumed<StringSerde, Int64Serde>())
                     .GroupByKey();
  grouped
      .Aggregate([] { return Format(0, 0); },
                 [](const std::string& key, const int64_t& amount, std::string total) {
                   int64_t count = 0, sum = 0;
                   if (!Parse(total, count, sum)) {
                     Say("corrupt aggregate for %s: '%s'", key.c_str(), total.c_str());
                     std::abort();
                   }
                   return Format(count + 1, sum + amount);
                 },
                 totals_store)
      .ToStream()
      .To("totals", sluice::Produced<StringSerde, StringSerde>());
  grouped.Reduce([](const int64_t& sum, const int64_t& amount) { return sum + amount; }, sum_store)
      .ToStream()
      .To("sums", sluice::Produced<StringSerde, Int64Serde>());
  auto topology = builder.Build();
  auto config = sluice::StreamsConfig::Create({
      {"application.id", args["--application-id"]},
      {"bootstrap.servers", args["--bootstrap-servers"]},
      {"state.dir", args["--state-dir"]},
      {"num.stream.threads", args["--threads"]},
      {"commit.interval.ms", args["--commit-interval-ms"]},
      {"cache.max.bytes.buffering", args["--cache-bytes"]},
      {"default.api.timeout.ms", "10000"},
      {"consumer.session.timeout.ms", args["--session-timeout-ms"]},
      {"consumer.heartbeat.interval.ms", "300"},
      {"consumer.topic.metadata.refresh.interval.ms", "1000"},
  });
  if (!topology.ok() || !config.ok()) {
    std::cerr << "sluice-state-crash-app: "
              << (topology.ok() ? config.status() : topology.status()) << "\n";
    return 2;
  }
  auto app = sluice::App::Create(*topology, *config);
  if (!app.ok()) {
    std::cerr << "sluice-state-crash-app: " << app.status() << "\n";
    return 2;
  }
  auto restores = std::make_shared<RestoreTracker>();
  (*app)->SetStateRestoreListener(restores);
  (*app)->SetStateListener([](sluice::AppState now, sluice::AppState) {
    Say("state %s", std::string(sluice::ToString(now)).c_str());
  });
  if (absl::Status s = (*app)->Start(); !s.ok()) {
    std::cerr << "sluice-state-crash-app: " << s << "\n";
    return 1;
  }

  // The main thread watches: signals, commits (for --kill-after-commits) and idleness.
  const auto close = [&] {
    bool closed = (*app)->Close(std::chrono::seconds(30));
    return closed && (*app)->state() == sluice::AppState::kNotRunning ? 0 : 1;
  };
  uint64_t last_commits = 0, last_in = 0, in_at_last_commit = 0;
  long commits_after_input = 0;
  auto quiet_since = std::chrono::steady_clock::now();
  const timespec tick{0, 2'000'000};  // 2 ms
  for (;;) {
    siginfo_t info;
    if (sigtimedwait(&signals, &info, &tick) > 0) return close();
    sluice::AppMetrics m = (*app)->metrics();
    if (m.commits != last_commits) {
      last_commits = m.commits;
      if (m.records_in != in_at_last_commit) {
        in_at_last_commit = m.records_in;
        ++commits_after_input;
        if (kill_after_commits > 0 && commits_after_input >= kill_after_commits) {
          Say("self-kill after commit %llu in=%llu", static_cast<unsigned long long>(m.commits),
              static_cast<unsigned long long>(m.records_in));
          ::kill(::getpid(), SIGKILL);
        }
      }
      Say("commit %llu in=%llu", static_cast<unsigned long long>(m.commits),
          static_cast<unsigned long long>(m.records_in));
    }
    const auto now = std::chrono::steady_clock::now();
    int64_t lag = 0;
    for (const auto& l : m.lag) lag += l.lag;
    const bool quiet = (*app)->state() == sluice::AppState::kRunning && restores->active == 0 &&
                       lag == 0 && !m.lag.empty() && m.records_in == last_in;
    last_in = m.records_in;
    if (!quiet) quiet_since = now;
    if (idle_ms > 0 && now - quiet_since >= std::chrono::milliseconds(idle_ms)) {
      Say("idle-exit in=%llu", static_cast<unsigned long long>(m.records_in));
      return close();
    }
    if ((*app)->state() == sluice::AppState::kError) {
      Say("app error: %s", std::string((*app)->error().message()).c_str());
      return 1;
    }
  }
}
