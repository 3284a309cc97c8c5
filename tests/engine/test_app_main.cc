// sluice-test-app: an App in its own process, for crash and black-box tests. Reads
// String records from --in, appends "!" to every value, writes them to --out, and runs
// until SIGTERM or SIGINT (then closes cleanly and exits 0).
//
//   sluice-test-app --bootstrap-servers HOST:PORT --application-id ID --in T --out T
//                   [--threads N] [--commit-interval-ms N] [--session-timeout-ms N]
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "sluice/sluice.h"

int main(int argc, char** argv) {
  std::map<std::string, std::string> args = {{"--threads", "2"}, {"--commit-interval-ms", "100"}, {"--session-timeout-ms", "6000"}};
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  for (const char* required : {"--bootstrap-servers", "--application-id", "--in", "--out"}) {
    if (!args.contains(required)) {
      std::cerr << "sluice-test-app: missing " << required << "\n";
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  sluice::StreamsBuilder builder;
  builder.Stream<std::string, std::string>(args["--in"])
      .MapValues([](const std::string& v) { return v + "!"; })
      .To(args["--out"]);
  auto topology = builder.Build();
  auto config = sluice::StreamsConfig::Create({
      {"application.id", args["--application-id"]},
      {"bootstrap.servers", args["--bootstrap-servers"]},
      {"num.stream.threads", args["--threads"]},
      {"commit.interval.ms", args["--commit-interval-ms"]},
      {"consumer.session.timeout.ms", args["--session-timeout-ms"]},
      {"consumer.heartbeat.interval.ms", "300"},
  });
  if (!topology.ok() || !config.ok()) {
    std::cerr << "sluice-test-app: " << (topology.ok() ? config.status() : topology.status()) << "\n";
    return 2;
  }
  auto app = sluice::App::Create(*topology, *config);
  if (!app.ok()) {
    std::cerr << "sluice-test-app: " << app.status() << "\n";
    return 2;
  }
  (*app)->SetStateListener([](sluice::AppState now, sluice::AppState) {
    std::printf("state %s\n", std::string(sluice::ToString(now)).c_str());
    std::fflush(stdout);
  });
  if (absl::Status s = (*app)->Start(); !s.ok()) {
    std::cerr << "sluice-test-app: " << s << "\n";
    return 1;
  }
  int signal = 0;
  sigwait(&signals, &signal);
  bool closed = (*app)->Close(std::chrono::seconds(30));
  return closed && (*app)->state() == sluice::AppState::kNotRunning ? 0 : 1;
}
