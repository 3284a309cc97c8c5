// read-model-builder: builds the CQRS read models `order-summary` and `customer-summary`
// from the order event stream, serves them over HTTP, and sets bad events aside in a
// dead-letter topic. See examples/README.md.
//
// Without --bootstrap-servers it starts an embedded broker and writes generated events
// (with duplicates, reordering and a few malformed records) first. It runs until Ctrl-C,
// or with --exit-when-done until it has caught up with its input.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sluice/serde_json.h>
#include <sluice/sluice.h>

#include "examples/read_model_builder/generator.h"
#include "examples/read_model_builder/http_api.h"
#include "examples/read_model_builder/read_model.h"
#include "examples/read_model_builder/topology.h"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

struct Options {
  std::string bootstrap_servers;
  std::string application_id = "read-model-builder";
  std::string state_dir;
  int threads = 2;
  int partitions = 8;  // of the topics the embedded broker creates
  read_model::Topics topics;
  std::string http_host = "127.0.0.1";
  int http_port = 8080;
  std::optional<int64_t> generate;
  uint64_t seed = 42;
  int64_t rate = 0;  // generated events per second; 0: as fast as the broker takes them
  std::string processing_guarantee = "at_least_once";
  int64_t commit_interval_ms = 1000;
  bool exit_when_done = false;
  std::map<std::string, std::string> extra;  // --config KEY=VALUE
  std::string print_topology;                 // --print-topology text|dot
};

[[noreturn]] void Usage(const std::string& error) {
  std::FILE* out = error.empty() ? stdout : stderr;
  if (!error.empty()) std::fprintf(stderr, "read-model-builder: %s\n\n", error.c_str());
  std::fprintf(out,
               "usage: read-model-builder [options]\n"
               "  --bootstrap-servers H:P   a Kafka cluster (default: an embedded broker, with\n"
               "                            generated events)\n"
               "  --application-id ID       consumer group and internal topic prefix (read-model-builder)\n"
               "  --state-dir DIR           where the state stores live (embedded: a fresh\n"
               "                            temporary directory; else $TMPDIR/sluice-<application-id>)\n"
               "  --threads N               stream threads (2)\n"
               "  --partitions N            partitions of the topics the embedded broker creates (8)\n"
               "  --input-topic T           order events (order-events)\n"
               "  --dlq-topic T             dead-letter topic (order-events.dlq)\n"
               "  --http-host H             address to serve HTTP on (127.0.0.1)\n"
               "  --http-port P             HTTP port; 0 picks a free one (8080)\n"
               "  --generate N              write N generated events while it runs (embedded\n"
               "                            default: 50000)\n"
               "  --rate R                  generated events per second (embedded default: 10000;\n"
               "                            0: as fast as possible)\n"
               "  --seed S                  generator seed (42)\n"
               "  --processing-guarantee G  at_least_once (the default; exactly_once_v2 is refused\n"
               "                            until Sluice has transactions)\n"
               "  --commit-interval-ms MS   how often state is committed and queryable (1000)\n"
               "  --exit-when-done          exit once the input is processed (for scripts)\n"
               "  --print-topology FORMAT   print the topology (text or dot) and exit\n"
               "  --config KEY=VALUE        any other App setting, e.g. security.protocol=SSL or\n"
               "                            consumer.session.timeout.ms=10000 (repeatable)\n");
  std::exit(error.empty() ? 0 : 2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(arg + " needs a value");
      return argv[++i];
    };
    auto number = [&](int64_t min, int64_t max) -> int64_t {
      const std::string v = value();
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < min || n > max) {
        Usage(arg + " takes a number from " + std::to_string(min) + " to " + std::to_string(max) +
              ", not '" + v + "'");
      }
      return n;
    };
    if (arg == "--bootstrap-servers") o.bootstrap_servers = value();
    else if (arg == "--application-id") o.application_id = value();
    else if (arg == "--state-dir") o.state_dir = value();
    else if (arg == "--threads") o.threads = static_cast<int>(number(1, 64));
    else if (arg == "--partitions") o.partitions = static_cast<int>(number(1, 256));
    else if (arg == "--input-topic") o.topics.input = value();
    else if (arg == "--dlq-topic") o.topics.dlq = value();
    else if (arg == "--http-host") o.http_host = value();
    else if (arg == "--http-port") o.http_port = static_cast<int>(number(0, 65535));
    else if (arg == "--generate") o.generate = number(0, 100000000);
    else if (arg == "--seed") o.seed = static_cast<uint64_t>(number(0, INT64_MAX));
    else if (arg == "--rate") o.rate = number(0, 10000000);
    else if (arg == "--processing-guarantee") o.processing_guarantee = value();
    else if (arg == "--commit-interval-ms") o.commit_interval_ms = number(1, 600000);
    else if (arg == "--exit-when-done") o.exit_when_done = true;
    else if (arg == "--print-topology") {
      o.print_topology = value();
      if (o.print_topology != "text" && o.print_topology != "dot") {
        Usage("--print-topology takes text or dot, not '" + o.print_topology + "'");
      }
    }
    else if (arg == "--config") {
      const std::string kv = value();
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) Usage("--config takes KEY=VALUE, not '" + kv + "'");
      o.extra[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    else if (arg == "--help" || arg == "-h") Usage("");
    else Usage("unknown argument '" + arg + "'");
  }
  return o;
}

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "read-model-builder: %s: %s\n", what.c_str(), std::string(s.message()).c_str());
  return 1;
}

// Writes `records` to the input topic, `rate` per second (0: unpaced), counting them in
// `written`, until done or `g_stop`.
absl::Status WriteEvents(const std::string& servers, const std::string& topic,
                         const std::vector<read_model::GeneratedRecord>& records, int64_t rate,
                         std::atomic<int64_t>& written) {
  absl::StatusOr<std::unique_ptr<sluice::TopicWriter>> writer = sluice::TopicWriter::Create(servers);
  if (!writer.ok()) return writer.status();
  const auto start = std::chrono::steady_clock::now();
  constexpr int64_t kChunk = 500;
  for (size_t i = 0; i < records.size() && !g_stop; ++i) {
    if (absl::Status s = (*writer)->Write(topic, records[i].key, records[i].value); !s.ok()) return s;
    if ((i + 1) % kChunk == 0 || i + 1 == records.size()) {
      if (absl::Status s = (*writer)->Flush(60s); !s.ok()) return s;
      written = static_cast<int64_t>(i + 1);
      if (rate > 0) {
        std::this_thread::sleep_until(start + std::chrono::microseconds((i + 1) * 1000000 / rate));
      }
    }
  }
  return absl::OkStatus();
}

// Where the App is: events consumed (the sum of its positions in the input partitions,
// which started empty or were generated by this run), the input's lag, and whether every
// partition it reads (the input and the repartitioned orders) has no lag.
struct Progress {
  int64_t consumed = 0;
  int64_t lag = 0;
  bool lag_known = true;  // every input partition has a position and an end offset
  bool all_caught_up = true;
  int partitions = 0;
};

Progress CurrentProgress(const sluice::AppMetrics& m, const std::string& input) {
  Progress p;
  for (const sluice::PartitionLag& l : m.lag) {
    const bool known = l.end_offset >= 0 && l.position >= 0;
    if (!known || l.lag != 0) p.all_caught_up = false;
    if (l.topic != input) continue;
    ++p.partitions;
    p.lag += l.lag;
    if (l.position >= 0) p.consumed += l.position;
    if (!known) p.lag_known = false;
  }
  if (p.partitions == 0) p.lag_known = p.all_caught_up = false;
  return p;
}

// A few rows of each read model, and how to ask for more.
void ShowSample(const sluice::App& app, int port) {
  auto orders = app.Store<sluice::StringSerde, sluice::JsonSerde<read_model::OrderState>>(read_model::kOrderStore);
  std::string an_order, a_customer;
  if (orders.ok()) {
    auto all = orders->All();
    if (all.ok()) {
      std::printf("\nSome rows of order-summary (%zu orders):\n", all->size());
      for (size_t i = 0; i < all->size() && i < 3; ++i) {
        std::printf("  %s\n", read_model::OrderSummary((*all)[i].value).dump().c_str());
        if (an_order.empty()) an_order = (*all)[i].key;
        if (a_customer.empty() && (*all)[i].value.placed) a_customer = (*all)[i].value.placed->customer_id;
      }
    }
  }
  auto customers =
      app.Store<sluice::StringSerde, sluice::JsonSerde<read_model::CustomerState>>(read_model::kCustomerStore);
  if (customers.ok() && !a_customer.empty()) {
    auto c = customers->Get(a_customer);
    if (c.ok() && c->has_value()) {
      std::printf("A row of customer-summary:\n  %s\n",
                  read_model::CustomerSummary(a_customer, **c).dump().c_str());
    }
  }
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  std::printf("\nQuery the read models (Ctrl-C to stop):\n"
              "  curl %s/orders/%s\n  curl %s/customers/%s\n  curl '%s/orders?status=SHIPPED&limit=5'\n"
              "  curl %s/health\n  curl %s/metrics\n\n",
              base.c_str(), an_order.c_str(), base.c_str(), a_customer.c_str(), base.c_str(),
              base.c_str(), base.c_str());
}

int Run(Options o) {
  if (!o.print_topology.empty()) {
    absl::StatusOr<sluice::Topology> topology = read_model::BuildTopology(o.topics);
    if (!topology.ok()) return Fail("building the topology", topology.status());
    std::printf("%s", (o.print_topology == "dot" ? topology->ToDot() : topology->Describe()).c_str());
    return 0;
  }
  std::unique_ptr<sluice::EmbeddedBroker> broker;
  std::optional<fs::path> temporary_state;
  if (o.bootstrap_servers.empty()) {
    absl::StatusOr<std::unique_ptr<sluice::EmbeddedBroker>> started = sluice::EmbeddedBroker::Start();
    if (!started.ok()) return Fail("starting the embedded broker", started.status());
    broker = std::move(*started);
    for (const std::string& topic : {o.topics.input, o.topics.order_summary, o.topics.customer_summary}) {
      if (absl::Status s = broker->CreateTopic(topic, o.partitions); !s.ok()) return Fail("creating " + topic, s);
    }
    if (absl::Status s = broker->CreateTopic(o.topics.dlq, 1); !s.ok()) return Fail("creating " + o.topics.dlq, s);
    o.bootstrap_servers = broker->bootstrap_servers();
    if (!o.generate) {
      o.generate = 50000;
      if (o.rate == 0) o.rate = 10000;
    }
    std::printf("Embedded broker at %s (librdkafka's mock cluster: it keeps at most 100,000\n"
                "records or 5 MiB per partition; use --bootstrap-servers for a real cluster)\n",
                o.bootstrap_servers.c_str());
    std::fflush(stdout);
    if (o.state_dir.empty()) {
      temporary_state = fs::temp_directory_path() / ("sluice-read-model-" + std::to_string(getpid()));
      o.state_dir = temporary_state->string();
    }
  }
  if (o.state_dir.empty()) o.state_dir = (fs::temp_directory_path() / ("sluice-" + o.application_id)).string();
  int64_t expected = 0;
  read_model::Generated generated;
  if (o.generate && *o.generate > 0) {
    generated = read_model::GenerateOrderEvents(*o.generate, o.seed);
    expected = static_cast<int64_t>(generated.records.size());
    if (broker) {
      // The embedded broker silently drops a partition's oldest records past 5 MiB.
      size_t bytes = 0;
      for (const read_model::GeneratedRecord& r : generated.records) bytes += r.key.size() + r.value.size() + 70;
      const double per_partition_mib = static_cast<double>(bytes) / o.partitions / (1 << 20);
      if (per_partition_mib > 4) {
        std::fprintf(stderr,
                     "read-model-builder: --generate %lld is about %.1f MiB per partition of '%s'; the "
                     "embedded broker keeps 5 MiB per partition (and the read model topics hold more), "
                     "so use fewer events or more --partitions\n",
                     static_cast<long long>(*o.generate), per_partition_mib, o.topics.input.c_str());
        return 2;
      }
    }
    std::printf("Generating %lld events for '%s'%s: %lld orders, %lld duplicates, %lld malformed\n",
                static_cast<long long>(expected), o.topics.input.c_str(),
                o.rate > 0 ? (" at " + std::to_string(o.rate) + " events/s").c_str() : "",
                static_cast<long long>(generated.orders), static_cast<long long>(generated.duplicates),
                static_cast<long long>(generated.malformed));
  }

  absl::StatusOr<sluice::Topology> topology = read_model::BuildTopology(o.topics);
  if (!topology.ok()) return Fail("building the topology", topology.status());
  std::map<std::string, std::string> props = o.extra;
  props["application.id"] = o.application_id;
  props["bootstrap.servers"] = o.bootstrap_servers;
  props["state.dir"] = o.state_dir;
  props["num.stream.threads"] = std::to_string(o.threads);
  props["processing.guarantee"] = o.processing_guarantee;
  props["commit.interval.ms"] = std::to_string(o.commit_interval_ms);
  absl::StatusOr<sluice::StreamsConfig> config =
      sluice::StreamsConfig::Create(read_model::AppConfig(o.topics, std::move(props)));
  if (!config.ok()) return Fail("config", config.status());
  absl::StatusOr<std::unique_ptr<sluice::App>> app = sluice::App::Create(*topology, *config, broker.get());
  if (!app.ok()) return Fail("creating the app", app.status());
  if (absl::Status s = (*app)->Start(); !s.ok()) return Fail("starting the app", s);
  absl::StatusOr<std::unique_ptr<read_model::HttpApi>> http =
      read_model::HttpApi::Start(**app, o.http_host, o.http_port);
  if (!http.ok()) {
    (*app)->Close(30s);
    return Fail("starting HTTP", http.status());
  }
  const int port = (*http)->port();
  std::atomic<int64_t> written{0};
  absl::Status write_status;
  std::thread writer;
  if (expected > 0) {
    writer = std::thread([&] {
      write_status = WriteEvents(o.bootstrap_servers, o.topics.input, generated.records, o.rate, written);
    });
  }
  std::printf("Reading '%s' with %d thread(s); state in %s\nHTTP API at http://%s:%d "
              "(/orders/{id}, /customers/{id}, /orders?status=S, /health, /metrics)\n",
              o.topics.input.c_str(), o.threads, o.state_dir.c_str(), o.http_host.c_str(), port);
  std::fflush(stdout);

  const bool tty = isatty(STDOUT_FILENO) != 0;
  bool shown = false;
  int exit_code = 0;
  auto last_line = std::chrono::steady_clock::now() - 1h;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> rate_window;
  int64_t consumed = 0;  // as last seen (the lag metrics go with the partitions on close)
  uint64_t last_out = 0;
  auto last_out_change = std::chrono::steady_clock::now();
  while (!g_stop) {
    std::this_thread::sleep_for(200ms);
    const sluice::AppState state = (*app)->state();
    if (state == sluice::AppState::kError) {
      if (tty) std::printf("\n");
      exit_code = Fail("the app stopped", (*app)->error());
      break;
    }
    const sluice::AppMetrics m = (*app)->metrics();
    const Progress p = CurrentProgress(m, o.topics.input);
    if (p.partitions > 0) consumed = p.consumed;
    const auto now = std::chrono::steady_clock::now();
    // Done: everything read, and nothing produced for two commit intervals (so the
    // caches were let down and the customer side read what the order side wrote).
    if (m.records_out != last_out) {
      last_out = m.records_out;
      last_out_change = now;
    }
    const auto quiet = std::max<std::chrono::milliseconds>(1s, 2 * std::chrono::milliseconds(o.commit_interval_ms));
    const bool done = state == sluice::AppState::kRunning && p.all_caught_up &&
                      p.consumed >= expected && now - last_out_change >= quiet;
    // Events per second over the last second or so.
    rate_window.emplace_back(now, p.consumed);
    while (rate_window.size() > 2 && now - rate_window.front().first > 1s) rate_window.pop_front();
    const double seconds = std::chrono::duration<double>(now - rate_window.front().first).count();
    const double rate = seconds > 0 ? (p.consumed - rate_window.front().second) / seconds : 0;
    if (tty || now - last_line >= 5s || (done && !shown)) {
      last_line = now;
      const std::string of = expected > 0 ? "/" + std::to_string(expected) : "";
      std::printf("%s%-11s events %9lld%s  %8.0f events/s  lag %7s  dead-lettered %llu%s",
                  tty ? "\r" : "", std::string(sluice::ToString(state)).c_str(),
                  static_cast<long long>(p.consumed), of.c_str(), rate,
                  p.lag_known ? std::to_string(p.lag).c_str() : "?",
                  static_cast<unsigned long long>(m.records_skipped), tty ? "   " : "\n");
      std::fflush(stdout);
    }
    if (done && !shown) {
      shown = true;
      if (tty) std::printf("\n");
      std::printf("Caught up with '%s'.\n", o.topics.input.c_str());
      ShowSample(**app, port);
      std::fflush(stdout);
      if (o.exit_when_done) break;
    }
  }
  if (tty) std::printf("\n");
  std::printf("Stopping...\n");
  g_stop = true;
  if (writer.joinable()) writer.join();
  if (!write_status.ok()) {
    Fail("writing generated events to '" + o.topics.input + "'", write_status);
    exit_code = 1;
  }
  http->reset();
  const bool closed = (*app)->Close(30s);
  const sluice::AppMetrics m = (*app)->metrics();
  std::printf("Processed %lld events, %llu dead-lettered to '%s'%s\n",
              static_cast<long long>(consumed),
              static_cast<unsigned long long>(m.records_skipped), o.topics.dlq.c_str(),
              closed ? "" : " (the app did not close within 30 s)");
  app->reset();
  if (temporary_state) fs::remove_all(*temporary_state);
  return exit_code != 0 ? exit_code : (closed ? 0 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  Options options = ParseArgs(argc, argv);
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return Run(std::move(options));
}
