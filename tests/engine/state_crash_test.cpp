// Exact state under at-least-once, proven by crashing: the broker (sluice-broker) and a
// stateful app (sluice-state-crash-app: count and sum per account, in two stores of one
// task) run as separate processes. The app is killed with SIGKILL at least 20 times, at
// random points of different phases (right after start, while restoring, while
// processing, right after a commit), and restarted, half the time with its state
// directory deleted (state comes back from the changelogs alone) and half the time with
// it kept (local state plus the changelog tail). Input keeps arriving while it runs.
// Afterwards the final state, read independently from the changelog topics and from the
// output topics with a plain librdkafka consumer, must equal a reference computed from
// the input, exactly; and every count:sum the app ever wrote must be a true prefix sum
// of its key's input (nothing applied twice or skipped, even transiently).
//
// SLUICE_CRASH_SEED=N replays a run's choices (kill phases and times, wipes, configs,
// input); the seed is printed. SLUICE_LOG_LEVEL=debug reaches the app's logs
// (one file per run in the test directory, kept when the test fails).
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sluice/serde.h"
#include "src/kafka/producer.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/process_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitForFile;
namespace fs = std::filesystem;

constexpr char kAppId[] = "state-crash";
constexpr int kPartitions = 4;
constexpr int kAccounts = 300;
constexpr int kInitialRecords = 6000;  // before the first start
constexpr int kMaxRecords = 40000;      // the broker keeps ~45,000 small records a partition
constexpr int kRecordsPerSecond = 250;  // while the app is killed and restarted
constexpr int kKills = 21;
constexpr int kSessionTimeoutMs = 3500;  // the mock's floor is just above 3000
const std::string kTotalsChangelog = std::string(kAppId) + "-totals-store-changelog";
const std::string kSumsChangelog = std::string(kAppId) + "-sum-store-changelog";

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Input {
  std::string key;
  int64_t amount;
};

// Deterministic input: accounts and amounts from the seed; a few amounts are large, so a
// double application can never hide in an overflow or a small-integer coincidence.
std::vector<Input> MakeInput(uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x5eed5eed5eedULL);
  std::vector<Input> input;
  input.reserve(kMaxRecords);
  for (int i = 0; i < kMaxRecords; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "acct-%03d", static_cast<int>(rng() % kAccounts));
    int64_t amount = static_cast<int64_t>(rng() % 200001) - 100000;
    if (rng() % 97 == 0) amount *= 1'000'003;
    input.push_back({key, amount});
  }
  return input;
}

// Per key, the prefix sums of its amounts in input order: prefix[key][c] is the sum after
// c records. Records of one key go to one partition, in the order produced.
std::map<std::string, std::vector<int64_t>> PrefixSums(const std::vector<Input>& input) {
  std::map<std::string, std::vector<int64_t>> prefix;
  for (const Input& in : input) {
    auto& p = prefix[in.key];
    if (p.empty()) p.push_back(0);
    p.push_back(p.back() + in.amount);
  }
  return prefix;
}

struct Broker {
  explicit Broker(const std::string& dir)
      : process({SLUICE_BROKER_BIN, "--topic", "amounts:4", "--topic", "totals:4", "--topic",
                 "sums:4", "--topic", kTotalsChangelog + ":4", "--topic", kSumsChangelog + ":4",
                 "--bootstrap-file", dir + "/bootstrap"},
                dir + "/broker.log") {
    servers = WaitForFile(dir + "/bootstrap", 30s);
  }
  ChildProcess process;
  std::string servers;
};

std::unique_ptr<internal::Producer> InputProducer(const std::string& servers) {
  // Idempotent, so a retry can never reorder one key's records.
  auto producer = internal::Producer::Create({{"bootstrap.servers", servers},
                                              {"partitioner", "murmur2_random"},
                                              {"enable.idempotence", "true"},
                                              {"linger.ms", "5"}});
  EXPECT_TRUE(producer.ok()) << producer.status();
  return producer.ok() ? std::move(*producer) : nullptr;
}

bool ProduceOne(internal::Producer& producer, const Input& in) {
  std::string value;
  Int64Serde().Serialize(in.amount, value);
  return producer
      .Produce("amounts", RD_KAFKA_PARTITION_UA, in.key.data(), in.key.size(), value.data(),
               value.size(), 0, nullptr)
      .ok();
}

struct Record {
  std::string key;
  std::optional<std::string> value;
  int32_t partition;
  int64_t offset;
};

rd_kafka_t* NewConsumer(const std::string& servers, const std::string& group) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (auto [k, v] : std::vector<std::pair<const char*, std::string>>{
           {"bootstrap.servers", servers}, {"group.id", group}, {"enable.auto.commit", "false"},
           {"enable.partition.eof", "true"}, {"auto.offset.reset", "earliest"}}) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << k << ": " << err;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    ADD_FAILURE() << err;
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

// Every record of `topic`, all partitions, from offset 0 to the high watermark. Fails if
// a partition's low watermark is not 0 (the embedded broker dropped old data), since the
// final state could then not be read completely.
std::vector<Record> ReadAll(const std::string& servers, const std::string& topic) {
  std::vector<Record> out;
  rd_kafka_t* rk = NewConsumer(servers, "state-crash-reader");
  if (rk == nullptr) return out;
  std::vector<int64_t> high(kPartitions, 0);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(kPartitions);
  for (int p = 0; p < kPartitions; ++p) {
    int64_t low = -1;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low,
                                                               &high[p], 10000);
    EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << topic << " [" << p << "]";
    EXPECT_EQ(low, 0) << topic << " [" << p << "]: the broker dropped old records";
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<int64_t> next(kPartitions, 0);
  const auto deadline = Clock::now() + 60s;
  auto done = [&] {
    for (int p = 0; p < kPartitions; ++p) {
      if (next[p] < high[p]) return false;
    }
    return true;
  };
  while (!done() && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Record r;
      r.key = m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : "";
      if (m->payload) r.value = std::string(static_cast<const char*>(m->payload), m->len);
      r.partition = m->partition;
      r.offset = m->offset;
      next[m->partition] = m->offset + 1;
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  EXPECT_TRUE(done()) << "could not read all of " << topic;
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

// The app's committed input offsets and the input's end offsets, per partition.
std::pair<std::vector<int64_t>, std::vector<int64_t>> Progress(const std::string& servers) {
  std::vector<int64_t> committed(kPartitions, -1), end(kPartitions, -1);
  rd_kafka_t* rk = NewConsumer(servers, kAppId);
  if (rk == nullptr) return {committed, end};
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(kPartitions);
  for (int p = 0; p < kPartitions; ++p) {
    rd_kafka_topic_partition_list_add(list, "amounts", p);
    int64_t low = -1;
    rd_kafka_query_watermark_offsets(rk, "amounts", p, &low, &end[p], 10000);
  }
  if (rd_kafka_committed(rk, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) committed[list->elems[i].partition] = list->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);  // never subscribed: leaves the app's group alone
  return {committed, end};
}

bool ParseTotal(const std::optional<std::string>& v, int64_t& count, int64_t& sum) {
  if (!v) return false;
  return std::sscanf(v->c_str(), "%" SCNd64 ":%" SCNd64, &count, &sum) == 2;
}

bool ParseSum(const std::optional<std::string>& v, int64_t& sum) {
  return v && Int64Serde().Deserialize(*v, sum).ok();
}

enum class Phase { kStart, kRestore, kProcessing, kAfterCommit };
const char* Name(Phase p) {
  switch (p) {
    case Phase::kStart: return "start";
    case Phase::kRestore: return "restore";
    case Phase::kProcessing: return "processing";
    case Phase::kAfterCommit: return "after-commit";
  }
  return "?";
}

struct RunInfo {
  int index;
  Phase phase;
  bool wiped;
  std::string config;
  std::string outcome;  // what the kill hit
  double seconds;
};

TEST(StateCrash, KillNineAndRestartKeepsCountsAndSumsExact) {
  const uint64_t seed = std::getenv("SLUICE_CRASH_SEED")
                            ? std::strtoull(std::getenv("SLUICE_CRASH_SEED"), nullptr, 10)
                            : std::random_device{}();
  std::printf("state crash test: seed=%" PRIu64 " (SLUICE_CRASH_SEED=%" PRIu64 " replays it)\n",
              seed, seed);
  std::fflush(stdout);
  const auto began = Clock::now();
  std::mt19937_64 rng(seed);
  const std::string dir = TempDir("sluice-state-crash-test");
  const std::string state_dir = dir + "/state";
  Broker broker(dir);
  ASSERT_FALSE(broker.servers.empty()) << ReadFile(dir + "/broker.log");

  std::vector<Input> input = MakeInput(seed);
  // The first records before the first start; then a steady stream, on its own thread,
  // for as long as the kills go on, so every run has input arriving while it processes.
  {
    auto producer = InputProducer(broker.servers);
    ASSERT_NE(producer, nullptr);
    for (int i = 0; i < kInitialRecords; ++i) ASSERT_TRUE(ProduceOne(*producer, input[i]));
    ASSERT_TRUE(producer->Flush(30s).ok());
  }
  std::atomic<bool> stop_producing{false};
  std::atomic<int> produced{kInitialRecords};
  std::thread producer_thread([&] {
    auto producer = InputProducer(broker.servers);
    if (producer == nullptr) return;
    const auto start = Clock::now();
    for (int i = kInitialRecords; i < kMaxRecords && !stop_producing; ++i) {
      EXPECT_TRUE(ProduceOne(*producer, input[i]));
      produced = i + 1;
      // Paced: record n of the stream goes out n / kRecordsPerSecond seconds in.
      const auto due = start + std::chrono::microseconds(
                                   int64_t{1'000'000} * (i + 1 - kInitialRecords) / kRecordsPerSecond);
      if (i % 10 == 9) std::this_thread::sleep_until(due);
    }
    EXPECT_TRUE(producer->Flush(30s).ok());
  });
  struct JoinOnExit {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~JoinOnExit() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } join_on_exit{stop_producing, producer_thread};

  // Every phase about kKills / 4 times, in a seeded order; a third of the kills right
  // after start, which are quick (each kill that follows a join costs the next start a group
  // rebalance: the mock waits for the dead member's session to time out).
  std::vector<Phase> phases;
  for (int i = 0; i < kKills; ++i) {
    phases.push_back(i < kKills / 3 ? Phase::kStart : static_cast<Phase>(1 + (i - kKills / 3) % 3));
  }
  std::shuffle(phases.begin(), phases.end(), rng);

  std::vector<RunInfo> runs;
  int wipes = 0;
  auto start_app = [&](int index, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {SLUICE_STATE_CRASH_APP_BIN, "--bootstrap-servers",
                                     broker.servers, "--application-id", kAppId,
                                     "--state-dir", state_dir, "--session-timeout-ms",
                                     std::to_string(kSessionTimeoutMs)};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ChildProcess>(args, dir + "/app-" + std::to_string(index) + ".log");
  };
  auto log_has = [&](int index, const std::string& what) {
    return ReadFile(dir + "/app-" + std::to_string(index) + ".log").find(what) != std::string::npos;
  };
  // Waits until the run's log has one of `what`; returns its index, or -1.
  auto wait_for = [&](int index, const std::vector<std::string>& what,
                      std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      const std::string log = ReadFile(dir + "/app-" + std::to_string(index) + ".log");
      for (size_t i = 0; i < what.size(); ++i) {
        if (log.find(what[i]) != std::string::npos) return static_cast<int>(i);
      }
      std::this_thread::sleep_for(5ms);
    }
    return -1;
  };
  auto wipe = [&] {
    std::error_code ec;
    fs::remove_all(state_dir, ec);
    EXPECT_FALSE(ec) << ec.message();
    ++wipes;
  };

  for (int r = 0; r < kKills; ++r) {
    const auto run_began = Clock::now();
    RunInfo run{r, phases[r], false, "", "", 0};
    // About half the restarts lose the state directory (another machine): restore from
    // the changelogs alone. The others keep it: local state plus the changelog tail. A
    // kill meant for the restore phase mostly follows a wipe, so there is much to restore.
    if (r > 0 && (run.phase == Phase::kRestore ? rng() % 4 != 0 : rng() % 2 == 0)) {
      wipe();
      run.wiped = true;
    }
    const int commit_ms = 100 + static_cast<int>(rng() % 201);
    const bool caching = rng() % 2 == 0;
    const std::string cache_bytes =
        std::to_string(std::vector<int>{4096, 65536, 1 << 20}[rng() % 3]);
    const std::string threads = std::to_string(1 + rng() % 2);
    std::vector<std::string> extra = {"--commit-interval-ms", std::to_string(commit_ms),
                                      "--caching", caching ? "on" : "off",
                                      "--cache-bytes", cache_bytes, "--threads", threads};
    const int commits_before_kill = 1 + static_cast<int>(rng() % 4);
    if (run.phase == Phase::kAfterCommit) {
      extra.insert(extra.end(), {"--kill-after-commits", std::to_string(commits_before_kill)});
    }
    run.config = "commit=" + std::to_string(commit_ms) + "ms caching=" +
                 (caching ? "on/" + cache_bytes : std::string("off")) + " threads=" + threads;
    const uint64_t u = rng();
    // Right after start: half before the app can have joined, half during the join.
    const auto start_delay = std::chrono::milliseconds(u % 2 ? u % 300 : 300 + u % 1700);
    const auto restore_delay = std::chrono::milliseconds(u % 60);
    const auto processing_delay = std::chrono::milliseconds(100 + u % 1000);

    auto app = start_app(r, extra);
    ASSERT_TRUE(app->started());
    switch (run.phase) {
      case Phase::kStart:
        std::this_thread::sleep_for(start_delay);
        run.outcome = (log_has(r, "state RUNNING") ? "running after " : "not running yet, ") +
                      std::to_string(start_delay.count()) + " ms";
        break;
      case Phase::kRestore: {
        const int seen = wait_for(r, {"restore-start", "commit "}, 20s);
        if (seen == 0) {
          std::this_thread::sleep_for(restore_delay);
          run.outcome = log_has(r, "restore-end") ? "restoring, some partitions done"
                                                  : "restoring";
        } else {
          run.outcome = seen == 1 ? "nothing to restore, processing" : "never restored";
        }
        break;
      }
      case Phase::kProcessing:
        if (wait_for(r, {"state RUNNING"}, 20s) < 0) {
          run.outcome = "never RUNNING";
          break;
        }
        std::this_thread::sleep_for(processing_delay);
        run.outcome = "processing, " + std::to_string(processing_delay.count()) +
                      " ms after RUNNING";
        break;
      case Phase::kAfterCommit:  // the app kills itself right after a commit
        if (app->Wait(20s) == -SIGKILL) {
          run.outcome = log_has(r, "self-kill")
                            ? "right after commit " + std::to_string(commits_before_kill)
                            : "killed?";
        } else {
          run.outcome = "no commit with input";
        }
        break;
    }
    const int status = app->Kill(SIGKILL);
    EXPECT_EQ(status, -SIGKILL) << "run " << r << ": the app exited by itself\n"
                                << ReadFile(dir + "/app-" + std::to_string(r) + ".log");
    run.seconds = Since(run_began);
    std::printf("run %2d: kill %-12s %-5s %-40s -> %s (%.1f s, %d records produced)\n", r,
                Name(run.phase), run.wiped ? "wiped" : "kept", run.config.c_str(),
                run.outcome.c_str(), run.seconds, produced.load());
    std::fflush(stdout);
    runs.push_back(run);
  }
  stop_producing = true;
  producer_thread.join();
  const int records = produced.load();
  input.resize(records);

  // The last run, from a wiped or a kept directory, goes until it is idle; then the
  // committed offsets must cover all input (else once more).
  bool final_wiped = rng() % 2 == 0;
  if (final_wiped) wipe();
  bool all_committed = false;
  for (int attempt = 0; attempt < 3 && !all_committed; ++attempt) {
    const int r = kKills + attempt;
    auto app = start_app(r, {"--commit-interval-ms", "200", "--caching", rng() % 2 ? "on" : "off",
                             "--exit-when-idle-ms", "2000"});
    EXPECT_EQ(app->Wait(90s), 0) << ReadFile(dir + "/app-" + std::to_string(r) + ".log");
    app->Kill(SIGKILL);
    auto [committed, end] = Progress(broker.servers);
    all_committed = committed == end;
    if (!all_committed) {
      std::string state;
      for (int p = 0; p < kPartitions; ++p) {
        state += " [" + std::to_string(p) + "] " + std::to_string(committed[p]) + "/" +
                 std::to_string(end[p]);
      }
      std::printf("final run %d did not commit all input:%s\n", r, state.c_str());
    }
  }
  ASSERT_TRUE(all_committed);
  std::printf("final run (%s): done at %.0f s\n", final_wiped ? "wiped" : "kept", Since(began));

  // The reference, computed from the input alone.
  const auto prefix = PrefixSums(input);
  std::map<std::string, std::pair<int64_t, int64_t>> want;  // count, sum
  for (const auto& [key, p] : prefix) want[key] = {static_cast<int64_t>(p.size()) - 1, p.back()};

  // The final state four ways: the latest record per key of each changelog and each
  // output topic. And every count:sum ever written must be a prefix of the key's input.
  struct Check {
    std::string topic;
    bool is_totals = false;
    std::map<std::string, std::optional<std::string>> latest;
    size_t records = 0;
    int mismatches = 0, missing = 0, extra = 0, not_prefix = 0;
  };
  std::vector<Check> checks(4);
  checks[0].topic = kTotalsChangelog;
  checks[1].topic = "totals";
  checks[2].topic = kSumsChangelog;
  checks[3].topic = "sums";
  checks[0].is_totals = checks[1].is_totals = true;
  int total_mismatches = 0, total_missing = 0, total_not_prefix = 0;
  for (Check& c : checks) {
    std::vector<Record> records = ReadAll(broker.servers, c.topic);
    c.records = records.size();
    for (const Record& rec : records) {
      c.latest[rec.key] = rec.value;
      int64_t count = 0, sum = 0;
      if (c.is_totals && ParseTotal(rec.value, count, sum)) {
        auto it = prefix.find(rec.key);
        if (it == prefix.end() || count < 1 || count >= static_cast<int64_t>(it->second.size()) ||
            it->second[count] != sum) {
          if (++c.not_prefix <= 10) {
            std::printf("  %s [%d] @%" PRId64 ": %s = %s is not a prefix of its input%s\n",
                        c.topic.c_str(), rec.partition, rec.offset, rec.key.c_str(),
                        rec.value->c_str(),
                        it == prefix.end() || count < 1 ||
                                count >= static_cast<int64_t>(it->second.size())
                            ? ""
                            : (" (prefix sum at that count: " + std::to_string(it->second[count]) +
                               ")").c_str());
          }
        }
      }
    }
    for (const auto& [key, value] : c.latest) {
      if (!want.contains(key)) ++c.extra;
    }
    for (const auto& [key, cs] : want) {
      auto it = c.latest.find(key);
      if (it == c.latest.end() || !it->second) {
        ++c.missing;
        continue;
      }
      int64_t count = -1, sum = 0;
      bool ok = c.is_totals ? ParseTotal(it->second, count, sum) && count == cs.first &&
                                  sum == cs.second
                            : ParseSum(it->second, sum) && sum == cs.second;
      if (!ok) {
        if (++c.mismatches <= 10) {
          std::string got = c.is_totals ? *it->second : std::to_string(sum);
          std::printf("  %s: %s = %s, want %" PRId64 ":%" PRId64 "\n", c.topic.c_str(),
                      key.c_str(), got.c_str(), cs.first, cs.second);
        }
      }
    }
    std::printf("  %-32s %6zu records, %zu keys: mismatches=%d missing=%d extra=%d%s\n",
                c.topic.c_str(), c.records, c.latest.size(), c.mismatches, c.missing, c.extra,
                c.is_totals ? (" not-a-prefix=" + std::to_string(c.not_prefix)).c_str() : "");
    EXPECT_EQ(c.mismatches, 0) << c.topic;
    EXPECT_EQ(c.missing, 0) << c.topic;
    EXPECT_EQ(c.extra, 0) << c.topic;
    EXPECT_EQ(c.not_prefix, 0) << c.topic;
    total_mismatches += c.mismatches + c.extra;
    total_missing += c.missing;
    total_not_prefix += c.not_prefix;
  }
  std::map<Phase, int> by_phase;
  for (const RunInfo& run : runs) ++by_phase[run.phase];
  std::printf(
      "state crash test: seed=%" PRIu64 " kills=%d (start=%d restore=%d processing=%d "
      "after-commit=%d) restarts: wiped=%d kept=%d, records=%d keys=%zu mismatches=%d missing=%d "
      "not-a-prefix=%d time=%.0fs\n",
      seed, kKills, by_phase[Phase::kStart], by_phase[Phase::kRestore],
      by_phase[Phase::kProcessing], by_phase[Phase::kAfterCommit], wipes, kKills - wipes,
      records, want.size(), total_mismatches, total_missing, total_not_prefix, Since(began));
  std::fflush(stdout);
  if (!::testing::Test::HasFailure()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  } else {
    std::printf("logs kept in %s (app-N.log per run, broker.log)\n", dir.c_str());
  }
}

}  // namespace
}  // namespace sluice
