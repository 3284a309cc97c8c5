// Separate processes: the broker (sluice-broker) and the app (sluice-test-app). The app
// is killed with SIGKILL at random points while input keeps arriving and is restarted;
// afterwards every input record must appear in the output (at-least-once), and nothing
// else. A second test checks the wire format with kcat, a client no one here wrote.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "tests/engine/engine_test_util.h"
#include "tests/engine/process_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitForFile;

struct Broker {
  explicit Broker(const std::string& dir)
      : process({SLUICE_BROKER_BIN, "--topic", "in:4", "--topic", "out:4", "--bootstrap-file",
                 dir + "/bootstrap"},
                dir + "/broker.log") {
    servers = WaitForFile(dir + "/bootstrap", 30s);
  }
  ChildProcess process;
  std::string servers;
};

std::unique_ptr<ChildProcess> StartApp(const std::string& servers, const std::string& dir) {
  return std::make_unique<ChildProcess>(
      std::vector<std::string>{SLUICE_TEST_APP_BIN, "--bootstrap-servers", servers,
                               "--application-id", "crash-app", "--in", "in", "--out", "out",
                               // A killed member holds its partitions until its session
                               // times out; keep that short so restarts resume quickly.
                               // (The mock cluster never completes a join with a session
                               // timeout under its ~3 s join delay.)
                               "--session-timeout-ms", "4000"},
      dir + "/app.log");
}

TEST(Crash, KillNineAndRestartLosesNoInput) {
  const std::string dir = TempDir("sluice-crash-test");
  Broker broker(dir);
  ASSERT_FALSE(broker.servers.empty()) << ReadFile(dir + "/broker.log");

  std::mt19937 rng(std::random_device{}());
  // Input keeps arriving, about 1000 records a second, until every kill is done.
  std::atomic<bool> stop_producing{false};
  std::atomic<int> produced{0};
  std::thread producer([&] {
    auto p = testing::MakeProducer(broker.servers);
    for (int i = 0; !stop_producing; ++i) {
      std::string key = "k" + std::to_string(i % 101), value = "v" + std::to_string(i);
      EXPECT_TRUE(p->Produce("in", RD_KAFKA_PARTITION_UA, key.data(), key.size(), value.data(),
                             value.size(), 0, nullptr).ok());
      produced = i + 1;
      if (i % 10 == 9) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(p->Flush(30s).ok());
  });
  struct JoinOnExit {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~JoinOnExit() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } join_on_exit{stop_producing, producer};

  auto count_running = [&] {
    const std::string log = ReadFile(dir + "/app.log");
    int running = 0;
    for (size_t at = log.find("state RUNNING"); at != std::string::npos;
         at = log.find("state RUNNING", at + 1)) {
      ++running;
    }
    return running;
  };
  constexpr int kKills = 3;
  for (int kill = 0; kill < kKills; ++kill) {
    const int before = count_running();
    auto app = StartApp(broker.servers, dir);
    ASSERT_TRUE(app->started());
    // Once it runs, kill it at a random point while records keep arriving.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (count_running() == before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_GT(count_running(), before) << ReadFile(dir + "/app.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 1500));
    EXPECT_EQ(app->Kill(SIGKILL), -SIGKILL);
  }
  stop_producing = true;
  producer.join();
  const int records = produced.load();

  auto app = StartApp(broker.servers, dir);
  std::set<std::string> seen;
  std::vector<testing::Rec> out;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (seen.size() < static_cast<size_t>(records) && std::chrono::steady_clock::now() < deadline) {
    out = testing::ReadTopic(broker.servers, "out", 4, SIZE_MAX, 3s);
    seen.clear();
    for (const auto& r : out) seen.insert(*r.value);
  }
  EXPECT_EQ(app->Kill(SIGTERM), 0) << ReadFile(dir + "/app.log");

  std::set<std::string> want;
  for (int i = 0; i < records; ++i) want.insert("v" + std::to_string(i) + "!");
  EXPECT_EQ(seen.size(), want.size());
  EXPECT_EQ(seen, want) << "app log:\n" << ReadFile(dir + "/app.log");
  EXPECT_GE(out.size(), static_cast<size_t>(records));  // duplicates allowed, loss not
  std::printf("%zu outputs for %d inputs: %zu replayed after the kills\n", out.size(), records,
              out.size() - seen.size());
  // Keys stay together: equal keys in one output partition.
  std::map<std::string, int32_t> partition_of;
  for (const auto& r : out) {
    auto [it, inserted] = partition_of.emplace(*r.key, r.partition);
    EXPECT_EQ(it->second, r.partition) << "key " << *r.key;
  }
}

TEST(Crash, KcatProducesTheInputAndReadsTheOutput) {
  if (std::system("command -v kcat >/dev/null 2>&1") != 0) GTEST_SKIP() << "kcat is not installed";
  const std::string dir = TempDir("sluice-kcat-test");
  Broker broker(dir);
  ASSERT_FALSE(broker.servers.empty());
  {
    std::ofstream input(dir + "/input.txt");
    for (int i = 0; i < 100; ++i) input << "key" << i << ":value " << i << "\n";
  }
  std::string produce = "kcat -b " + broker.servers + " -t in -P -K: -l " + dir + "/input.txt";
  ASSERT_EQ(std::system(produce.c_str()), 0);

  auto app = StartApp(broker.servers, dir);
  std::set<std::string> lines;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (lines.size() < 100 && std::chrono::steady_clock::now() < deadline) {
    std::string consume = "kcat -b " + broker.servers + " -t out -C -e -q -o beginning -f '%k=%s\\n' > " +
                          dir + "/output.txt 2>>" + dir + "/kcat.log";
    ASSERT_EQ(std::system(consume.c_str()), 0) << ReadFile(dir + "/kcat.log");
    lines.clear();
    std::istringstream in(ReadFile(dir + "/output.txt"));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.insert(line);
    }
    if (lines.size() < 100) std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(app->Kill(SIGTERM), 0) << ReadFile(dir + "/app.log");
  ASSERT_EQ(lines.size(), 100u) << ReadFile(dir + "/app.log");
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(lines.contains("key" + std::to_string(i) + "=value " + std::to_string(i) + "!"));
  }
}

}  // namespace
}  // namespace sluice
