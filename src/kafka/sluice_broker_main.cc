// sluice-broker: runs an embedded Kafka broker (librdkafka's mock cluster) in
// the foreground, so other processes (Sluice apps, kcat, crash tests) can use
// it. Stops cleanly on SIGINT or SIGTERM and exits 0.
//
// Usage: see kUsage below. Topics given with --topic are created before the
// address is printed; a topic referenced later without being created is
// auto-created with 4 partitions by the mock (see embedded_broker.h).

#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sluice/embedded_broker.h"

namespace {

constexpr char kUsage[] =
    "usage: sluice-broker [--brokers N] [--topic "
    "NAME[:PARTITIONS[:REPLICATION]]]...\n"
    "                     [--bootstrap-file PATH] [--help]\n"
    "\n"
    "Runs an embedded Kafka broker (librdkafka mock cluster) on 127.0.0.1\n"
    "until SIGINT or SIGTERM.\n"
    "\n"
    "  --brokers N            number of brokers, ids 1..N (default 1)\n"
    "  --topic NAME[:P[:R]]   create topic NAME with P partitions (default 1)\n"
    "                         and replication R (default 1, at most N; the\n"
    "                         mock replicates to min(3, N) brokers anyway);\n"
    "                         repeatable\n"
    "  --bootstrap-file PATH  once ready, write the bootstrap servers string\n"
    "                         to PATH (atomically: temp file + rename)\n"
    "  --help                 print this help and exit\n"
    "\n"
    "Topics not created here are auto-created with 4 partitions on first use.\n"
    "The mock keeps at most 5 MiB (or 100,000 batches) per partition and\n"
    "silently drops older data; it has no CreateTopics admin API.\n";

struct TopicArg {
  std::string name;
  int partitions = 1;
  int replication = 1;
};

struct Args {
  int brokers = 1;
  std::vector<TopicArg> topics;
  std::string bootstrap_file;
  bool help = false;
};

bool ParseInt(std::string_view text, int min, int* out) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value < min) return false;
  *out = value;
  return true;
}

// Returns an error message naming the bad argument, or "" on success.
std::string ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) return nullptr;
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      args->help = true;
    } else if (arg == "--brokers") {
      const char* v = value();
      if (v == nullptr) return "--brokers needs a value";
      if (!ParseInt(v, 1, &args->brokers)) {
        return absl::StrCat("--brokers: expected an integer >= 1, got '", v,
                            "'");
      }
    } else if (arg == "--topic") {
      const char* v = value();
      if (v == nullptr) return "--topic needs a value";
      std::vector<absl::string_view> parts = absl::StrSplit(v, ':');
      TopicArg topic;
      topic.name = std::string(parts[0]);
      auto as_std = [](absl::string_view s) {
        return std::string_view(s.data(), s.size());
      };
      if (topic.name.empty() || parts.size() > 3 ||
          (parts.size() >= 2 &&
           !ParseInt(as_std(parts[1]), 1, &topic.partitions)) ||
          (parts.size() == 3 &&
           !ParseInt(as_std(parts[2]), 1, &topic.replication))) {
        return absl::StrCat(
            "--topic: expected NAME[:PARTITIONS[:REPLICATION]] with positive "
            "integers, got '",
            v, "'");
      }
      args->topics.push_back(std::move(topic));
    } else if (arg == "--bootstrap-file") {
      const char* v = value();
      if (v == nullptr || *v == '\0') return "--bootstrap-file needs a path";
      args->bootstrap_file = v;
    } else {
      return absl::StrCat("unknown argument '", std::string(arg), "'");
    }
  }
  for (const TopicArg& t : args->topics) {
    if (t.replication > args->brokers) {
      return absl::StrCat("--topic ", t.name, ": replication ", t.replication,
                          " exceeds --brokers ", args->brokers);
    }
  }
  return "";
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& content) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content << "\n";
    out.flush();
    if (!out) {
      return absl::UnavailableError(
          absl::StrCat("cannot write bootstrap file ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", tmp, " to bootstrap file ", path));
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (std::string error = ParseArgs(argc, argv, &args); !error.empty()) {
    std::cerr << "sluice-broker: " << error << "\n\n" << kUsage;
    return 2;
  }
  if (args.help) {
    std::cout << kUsage;
    return 0;
  }

  // Block the stop signals before any librdkafka thread exists, so every
  // thread inherits the mask and sigwait() below is the only receiver.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) {
    std::cerr << "sluice-broker: cannot block SIGINT/SIGTERM\n";
    return 1;
  }

  absl::StatusOr<std::unique_ptr<sluice::EmbeddedBroker>> broker =
      sluice::EmbeddedBroker::Start(args.brokers);
  if (!broker.ok()) {
    std::cerr << "sluice-broker: " << broker.status().message() << "\n";
    return 1;
  }
  for (const TopicArg& t : args.topics) {
    if (absl::Status s =
            (*broker)->CreateTopic(t.name, t.partitions, t.replication);
        !s.ok()) {
      std::cerr << "sluice-broker: " << s.message() << "\n";
      return 1;
    }
  }
  const std::string servers = (*broker)->bootstrap_servers();
  std::cout << "sluice-broker: listening on " << servers << " (" << args.brokers
            << (args.brokers == 1 ? " broker)" : " brokers)") << "\n";
  for (const TopicArg& t : args.topics) {
    std::cout << "sluice-broker: created topic " << t.name << " ("
              << t.partitions << " partition" << (t.partitions == 1 ? "" : "s")
              << ", replication " << t.replication << ")\n";
  }
  std::cout.flush();
  if (!args.bootstrap_file.empty()) {
    if (absl::Status s = WriteFileAtomically(args.bootstrap_file, servers);
        !s.ok()) {
      std::cerr << "sluice-broker: " << s.message() << "\n";
      return 1;
    }
  }

  int signal_number = 0;
  if (sigwait(&stop_signals, &signal_number) != 0) {
    std::cerr << "sluice-broker: sigwait failed\n";
    return 1;
  }
  std::cout << "sluice-broker: received "
            << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
            << ", shutting down\n";
  std::cout.flush();
  broker->reset();
  return 0;
}
