// Runs the sluice-broker program as a child process and talks to it.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/kafka/admin.h"
#include "src/kafka/consumer.h"
#include "src/kafka/producer.h"
#include "tests/kafka/kafka_test_util.h"

extern char** environ;

namespace sluice::internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A child process with its stdout and stderr captured through pipes.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, err[0]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(SLUICE_BROKER_BIN));
    for (const std::string& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, SLUICE_BROKER_BIN, &actions, nullptr, argv.data(),
                    environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }

  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }

  bool started() const { return pid_ > 0; }

  // Reads stdout until a line containing `needle` arrives; returns that line
  // or "" on timeout / EOF.
  std::string WaitForLine(const std::string& needle, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      size_t nl;
      while ((nl = out_buf_.find('\n')) != std::string::npos) {
        std::string line = out_buf_.substr(0, nl);
        out_buf_.erase(0, nl + 1);
        stdout_lines_.push_back(line);
        if (line.find(needle) != std::string::npos) return line;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd pfd{out_fd_, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return "";
      char buf[512];
      const ssize_t n = read(out_fd_, buf, sizeof(buf));
      if (n <= 0) return "";
      out_buf_.append(buf, static_cast<size_t>(n));
    }
  }

  // Everything on stderr until the child closes it.
  std::string ReadAllStderr() {
    std::string all;
    char buf[512];
    ssize_t n;
    while ((n = read(err_fd_, buf, sizeof(buf))) > 0) all.append(buf, n);
    return all;
  }

  // Waits for exit (up to `timeout`); returns the wait status or -1.
  int Wait(milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return -1;
  }

  void Signal(int sig) { kill(pid_, sig); }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_buf_;
  std::vector<std::string> stdout_lines_;
};

std::string AddressFrom(const std::string& line) {
  const std::string marker = "listening on ";
  const size_t at = line.find(marker);
  if (at == std::string::npos) return "";
  const size_t start = at + marker.size();
  return line.substr(start, line.find(' ', start) - start);
}

TEST(SluiceBrokerTest, ServesClientsAndStopsOnSigterm) {
  const std::string topic = testing::UniqueName("cli");
  Child child({"--topic", topic + ":2"});
  ASSERT_TRUE(child.started());
  const std::string line = child.WaitForLine("listening on", seconds(5));
  ASSERT_FALSE(line.empty()) << "no address printed";
  EXPECT_NE(line.find("(1 broker)"), std::string::npos) << line;
  const std::string servers = AddressFrom(line);
  ASSERT_EQ(servers.rfind("127.0.0.1:", 0), 0u) << line;
  EXPECT_FALSE(child.WaitForLine("created topic " + topic, seconds(2)).empty());

  // The pre-created topic has the requested partitions.
  auto admin =
      Admin::Create({{"bootstrap.servers", servers}, {"log_level", "3"}});
  ASSERT_TRUE(admin.ok());
  auto counts = (*admin)->PartitionCounts({topic}, seconds(5));
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->at(topic), 2);

  auto producer = Producer::Create(testing::ProducerProps(servers));
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE(
      (*producer)->Produce(topic, 1, "k", 1, "hello", 5, 0, nullptr).ok());
  ASSERT_TRUE((*producer)->Flush(seconds(5)).ok());
  auto consumer = Consumer::Create(
      testing::ConsumerProps(servers, testing::UniqueName("g")), nullptr);
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Subscribe({topic}).ok());
  MessagePtr got;
  testing::PollUntil([&] { got = (*consumer)->Poll(milliseconds(100)); },
                     [&] { return got != nullptr; }, seconds(8));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(testing::Str(got->payload, got->len), "hello");
  EXPECT_EQ(got->partition, 1);
  got.reset();
  ASSERT_TRUE((*consumer)->Close().ok());
  consumer->reset();
  producer->reset();
  admin->reset();

  child.Signal(SIGTERM);
  const int status = child.Wait(seconds(8));
  ASSERT_NE(status, -1) << "did not exit after SIGTERM";
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SluiceBrokerTest, WritesBootstrapFileAndStopsOnSigint) {
  std::string dir =
      (std::filesystem::temp_directory_path() / "sluice-broker-test-XXXXXX")
          .string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/bootstrap";
  Child child({"--brokers", "2", "--bootstrap-file", path});
  ASSERT_TRUE(child.started());
  const std::string line = child.WaitForLine("listening on", seconds(5));
  ASSERT_FALSE(line.empty());
  EXPECT_NE(line.find("(2 brokers)"), std::string::npos) << line;
  // The file is written right after the banner; give it a moment.
  std::string content;
  testing::PollUntil([&] { std::this_thread::sleep_for(milliseconds(10)); },
                     [&] {
                       std::ifstream in(path);
                       return static_cast<bool>(std::getline(in, content));
                     },
                     seconds(3));
  EXPECT_EQ(content, AddressFrom(line));
  EXPECT_NE(content.find(','), std::string::npos) << "two brokers listed";

  child.Signal(SIGINT);
  const int status = child.Wait(seconds(8));
  ASSERT_NE(status, -1);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::remove(path.c_str());
  rmdir(dir.c_str());
}

TEST(SluiceBrokerTest, KcatListsTopics) {
  if (std::system("command -v kcat >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "kcat not on PATH";
  }
  const std::string topic = testing::UniqueName("kcat");
  Child child({"--topic", topic + ":3"});
  ASSERT_TRUE(child.started());
  const std::string servers =
      AddressFrom(child.WaitForLine("listening on", seconds(5)));
  ASSERT_FALSE(servers.empty());
  const std::string cmd = "timeout 10 kcat -b " + servers + " -L -m 5 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << out;
  EXPECT_NE(out.find("topic \"" + topic + "\" with 3 partitions"),
            std::string::npos)
      << out;
  child.Signal(SIGTERM);
  const int status = child.Wait(seconds(8));
  ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(SluiceBrokerTest, BadArgumentsExitTwoNamingTheArgument) {
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"--bogus"}, "'--bogus'"},
      {{"--brokers", "zero"}, "'zero'"},
      {{"--topic", "t:x"}, "'t:x'"},
      {{"--topic", "t:1:2"}, "replication 2"},
      {{"--brokers"}, "--brokers needs a value"},
  };
  for (const Case& c : cases) {
    Child child(c.args);
    ASSERT_TRUE(child.started());
    const std::string err = child.ReadAllStderr();
    const int status = child.Wait(seconds(5));
    ASSERT_TRUE(status != -1 && WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2) << c.args[0];
    EXPECT_NE(err.find(c.expected), std::string::npos) << err;
    EXPECT_NE(err.find("usage: sluice-broker"), std::string::npos) << err;
  }
}

TEST(SluiceBrokerTest, HelpExitsZero) {
  Child child({"--help"});
  ASSERT_TRUE(child.started());
  EXPECT_FALSE(child.WaitForLine("usage: sluice-broker", seconds(5)).empty());
  const int status = child.Wait(seconds(5));
  ASSERT_TRUE(status != -1 && WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace sluice::internal
