// Wire compatibility with an independent client: python-kafka (Debian's python3-kafka)
// writes Java-format longs with murmur2 partitioning and headers; an App doubles the
// values; python-kafka reads them back. Checks Int64Serde's bytes, Java-compatible key
// partitioning on the way out, and header propagation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "sluice/sluice.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/process_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPython = "/usr/bin/python3";  // Debian's modules load here

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) out.append(buf, n);
  int status = pclose(pipe);
  if (status != 0) out = "FAILED(" + std::to_string(status) + "): " + out;
  return out;
}

TEST(Interop, PythonKafkaReadsWhatSluiceWrites) {
  if (RunCommand(std::string(kPython) + " -c 'import kafka' 2>&1").rfind("FAILED", 0) == 0) {
    GTEST_SKIP() << "python3-kafka is not installed";
  }
  const std::string dir = testing::TempDir("sluice-interop-test");
  testing::ChildProcess broker({SLUICE_BROKER_BIN, "--topic", "in:4", "--topic", "out:4",
                                "--bootstrap-file", dir + "/bootstrap"},
                               dir + "/broker.log");
  const std::string servers = testing::WaitForFile(dir + "/bootstrap", 30s);
  ASSERT_FALSE(servers.empty());
  const std::string script = std::string(SLUICE_SOURCE_DIR) + "/tests/engine/interop.py";
  constexpr int kRecords = 200;

  std::string produced = RunCommand(std::string(kPython) + " " + script + " produce " + servers +
                             " in " + std::to_string(kRecords) + " 2>&1");
  ASSERT_EQ(produced.rfind("FAILED", 0), std::string::npos) << produced;
  std::map<std::string, int> in_partition;
  std::istringstream lines(produced);
  for (std::string key; lines >> key;) lines >> in_partition[key];
  ASSERT_EQ(in_partition.size(), static_cast<size_t>(kRecords)) << produced;

  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").MapValues([](int64_t v) { return v * 2; }).To("out");
  auto props = testing::TestAppConfig("interop");
  props["bootstrap.servers"] = servers;
  auto app = App::Create(builder.Build().value(), StreamsConfig::Create(props).value()).value();
  ASSERT_TRUE(app->Start().ok());

  std::string consumed;
  for (int attempt = 0; attempt < 10; ++attempt) {
    consumed = RunCommand(std::string(kPython) + " " + script + " consume " + servers + " out " +
                   std::to_string(kRecords) + " 2>&1");
    if (std::count(consumed.begin(), consumed.end(), '\n') >= kRecords) break;
    std::this_thread::sleep_for(1s);
  }
  EXPECT_TRUE(app->Close(30s));
  std::istringstream out(consumed);
  int rows = 0;
  for (std::string key, trace; out >> key;) {
    int partition = -1;
    int64_t value = -1;
    out >> partition >> value >> trace;
    ASSERT_TRUE(in_partition.contains(key)) << consumed;
    const int i = std::stoi(key.substr(4));
    EXPECT_EQ(value, i * 14) << key;                          // Int64Serde: Java's bytes
    EXPECT_EQ(partition, in_partition[key]) << key;          // murmur2, as Java/python
    EXPECT_EQ(trace, std::to_string(i)) << key;              // headers travel with it
    ++rows;
  }
  EXPECT_EQ(rows, kRecords) << consumed;
}

}  // namespace
}  // namespace sluice
