// order-stock-saga: reserves stock for orders, all or nothing, confirms them when paid and
// releases them when a payment fails or the order is cancelled. See examples/README.md.
//
// Without --bootstrap-servers it starts an embedded broker and feeds it generated orders,
// stock and payments (with duplicates, reordering and a few malformed records). It runs
// until Ctrl-C, or with --exit-when-done until it has caught up; then it prints how the
// orders ended and checks the stock invariants from its inventory store.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sluice/serde_json.h>
#include <sluice/sluice.h>

#include "examples/order_stock_saga/generator.h"
#include "examples/order_stock_saga/saga.h"
#include "examples/order_stock_saga/topology.h"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

struct Options {
  std::string bootstrap_servers;
  std::string application_id = "order-stock-saga";
  std::string state_dir;
  int threads = 2;
  int partitions = 4;
  saga::Topics topics;
  std::optional<int64_t> orders;  // --generate
  int64_t products = 40;
  uint64_t seed = 42;
  int64_t commit_interval_ms = 1000;
  bool exit_when_done = false;
  std::map<std::string, std::string> extra;
  std::string print_topology;
};

[[noreturn]] void Usage(const std::string& error) {
  std::FILE* out = error.empty() ? stdout : stderr;
  if (!error.empty()) std::fprintf(stderr, "order-stock-saga: %s\n\n", error.c_str());
  std::fprintf(out,
               "usage: order-stock-saga [options]\n"
               "  --bootstrap-servers H:P   a Kafka cluster (default: an embedded broker, with\n"
               "                            generated input)\n"
               "  --application-id ID       consumer group and internal topic prefix (order-stock-saga)\n"
               "  --state-dir DIR           where the state stores live (embedded: a fresh\n"
               "                            temporary directory; else $TMPDIR/sluice-<application-id>)\n"
               "  --threads N               stream threads (2)\n"
               "  --partitions N            partitions of the topics the embedded broker creates (4)\n"
               "  --generate N              write N generated orders, with stock and payments\n"
               "                            (embedded default: 5000)\n"
               "  --products N              products the generated orders draw from (40)\n"
               "  --seed S                  generator seed (42)\n"
               "  --commit-interval-ms MS   (1000)\n"
               "  --exit-when-done          exit once the input is processed\n"
               "  --print-topology FORMAT   print the topology (text or dot) and exit\n"
               "  --config KEY=VALUE        any other App setting (repeatable)\n"
               "Topics: order-events, inventory-events, payment-events in; stock-events,\n"
               "order-status, inventory out; saga-item-results between the two sides; saga.dlq\n"
               "for bad input.\n");
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
    else if (arg == "--generate") o.orders = number(0, 1000000);
    else if (arg == "--products") o.products = number(1, 100000);
    else if (arg == "--seed") o.seed = static_cast<uint64_t>(number(0, INT64_MAX));
    else if (arg == "--commit-interval-ms") o.commit_interval_ms = number(1, 600000);
    else if (arg == "--exit-when-done") o.exit_when_done = true;
    else if (arg == "--print-topology") {
      o.print_topology = value();
      if (o.print_topology != "text" && o.print_topology != "dot") Usage("--print-topology takes text or dot");
    } else if (arg == "--config") {
      const std::string kv = value();
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) Usage("--config takes KEY=VALUE, not '" + kv + "'");
      o.extra[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (arg == "--help" || arg == "-h") Usage("");
    else Usage("unknown argument '" + arg + "'");
  }
  return o;
}

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "order-stock-saga: %s: %s\n", what.c_str(), std::string(s.message()).c_str());
  return 1;
}

absl::Status Write(sluice::TopicWriter& writer, const std::string& topic,
                   const std::vector<saga::SagaRecord>& records) {
  for (const saga::SagaRecord& r : records) {
    if (absl::Status s = writer.Write(topic, r.key, r.value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Every partition read to its end, and nothing produced for two commit intervals.
struct Quiet {
  uint64_t last_out = 0;
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  bool Check(const sluice::AppMetrics& m, std::chrono::milliseconds quiet) {
    const auto now = std::chrono::steady_clock::now();
    if (m.records_out != last_out) {
      last_out = m.records_out;
      since = now;
    }
    bool caught_up = !m.lag.empty();
    for (const sluice::PartitionLag& l : m.lag) {
      caught_up &= l.position >= 0 && l.end_offset >= 0 && l.lag == 0;
    }
    return caught_up && now - since >= quiet;
  }
};

// How the orders ended, and the stock invariants, from the stores.
int Summary(const sluice::App& app) {
  auto orders = app.Store<sluice::StringSerde, sluice::JsonSerde<saga::OrderSaga>>(saga::kOrderStore);
  auto products = app.Store<sluice::StringSerde, sluice::JsonSerde<saga::Product>>(saga::kProductStore);
  if (!orders.ok() || !products.ok()) {
    return Fail("reading the stores", orders.ok() ? products.status() : orders.status());
  }
  auto all_orders = orders->All();
  auto all_products = products->All();
  if (!all_orders.ok() || !all_products.ok()) {
    return Fail("reading the stores", all_orders.ok() ? all_products.status() : all_orders.status());
  }
  std::map<std::string, int> statuses;
  for (const auto& kv : *all_orders) ++statuses[kv.value.status.empty() ? "(not placed)" : kv.value.status];
  std::printf("\nOrders: ");
  for (const auto& [status, n] : statuses) std::printf("%s %d  ", status.c_str(), n);
  int64_t added = 0, available = 0, reserved = 0, confirmed = 0;
  int broken = 0;
  for (const auto& kv : *all_products) {
    const saga::Product& p = kv.value;
    added += p.added;
    available += p.available;
    reserved += p.reserved;
    confirmed += p.confirmed;
    if (p.available < 0 || p.available + p.reserved != p.added - p.confirmed) {
      ++broken;
      std::printf("\nINVARIANT BROKEN for %s: %s", kv.key.c_str(), p.InventoryRow().dump().c_str());
    }
  }
  std::printf("\nStock over %zu products: added %lld = available %lld + reserved %lld + confirmed %lld: %s\n",
              all_products->size(), static_cast<long long>(added), static_cast<long long>(available),
              static_cast<long long>(reserved), static_cast<long long>(confirmed),
              broken == 0 && added == available + reserved + confirmed ? "holds" : "BROKEN");
  if (!all_products->empty()) {
    std::printf("A row of inventory: %s\n", all_products->front().value.InventoryRow().dump().c_str());
  }
  return broken == 0 ? 0 : 1;
}

int Run(Options o) {
  if (!o.print_topology.empty()) {
    absl::StatusOr<sluice::Topology> topology = saga::BuildTopology(o.topics);
    if (!topology.ok()) return Fail("building the topology", topology.status());
    std::printf("%s", (o.print_topology == "dot" ? topology->ToDot() : topology->Describe()).c_str());
    return 0;
  }
  std::unique_ptr<sluice::EmbeddedBroker> broker;
  std::optional<fs::path> temporary_state;
  if (o.bootstrap_servers.empty()) {
    auto started = sluice::EmbeddedBroker::Start();
    if (!started.ok()) return Fail("starting the embedded broker", started.status());
    broker = std::move(*started);
    const saga::Topics& t = o.topics;
    for (const std::string& topic : {t.orders, t.inventory_events, t.payments, t.stock_events, t.order_status,
                                     t.inventory, t.item_results}) {
      if (absl::Status s = broker->CreateTopic(topic, o.partitions); !s.ok()) return Fail("creating " + topic, s);
    }
    if (absl::Status s = broker->CreateTopic(t.dlq, 1); !s.ok()) return Fail("creating " + t.dlq, s);
    o.bootstrap_servers = broker->bootstrap_servers();
    if (!o.orders) o.orders = 5000;
    std::printf("Embedded broker at %s (librdkafka's mock cluster: it keeps at most 100,000\n"
                "records or 5 MiB per partition; use --bootstrap-servers for a real cluster)\n",
                o.bootstrap_servers.c_str());
    if (o.state_dir.empty()) {
      temporary_state = fs::temp_directory_path() / ("sluice-saga-" + std::to_string(getpid()));
      o.state_dir = temporary_state->string();
    }
  }
  if (o.state_dir.empty()) o.state_dir = (fs::temp_directory_path() / ("sluice-" + o.application_id)).string();
  if (o.orders && *o.orders > 0) {
    saga::SagaInput in = saga::GenerateSagaInput(*o.orders, o.products, o.seed);
    std::printf("Writing %zu generated records (%lld orders over %lld products, %lld malformed)\n", in.size(),
                static_cast<long long>(*o.orders), static_cast<long long>(o.products),
                static_cast<long long>(in.malformed));
    auto writer = sluice::TopicWriter::Create(o.bootstrap_servers);
    if (!writer.ok()) return Fail("connecting the writer", writer.status());
    for (auto [topic, records] : {std::pair{o.topics.inventory_events, &in.inventory},
                                  std::pair{o.topics.orders, &in.orders}, std::pair{o.topics.payments, &in.payments}}) {
      if (absl::Status s = Write(**writer, topic, *records); !s.ok()) return Fail("writing to " + topic, s);
    }
    if (absl::Status s = (*writer)->Flush(60s); !s.ok()) return Fail("writing the input", s);
  }

  absl::StatusOr<sluice::Topology> topology = saga::BuildTopology(o.topics);
  if (!topology.ok()) return Fail("building the topology", topology.status());
  std::map<std::string, std::string> props = o.extra;
  props["application.id"] = o.application_id;
  props["bootstrap.servers"] = o.bootstrap_servers;
  props["state.dir"] = o.state_dir;
  props["num.stream.threads"] = std::to_string(o.threads);
  props["commit.interval.ms"] = std::to_string(o.commit_interval_ms);
  auto config = sluice::StreamsConfig::Create(saga::AppConfig(o.topics, std::move(props)));
  if (!config.ok()) return Fail("config", config.status());
  auto app = sluice::App::Create(*topology, *config, broker.get());
  if (!app.ok()) return Fail("creating the app", app.status());
  if (absl::Status s = (*app)->Start(); !s.ok()) return Fail("starting the app", s);
  std::printf("Running the saga with %d thread(s); state in %s\n", o.threads, o.state_dir.c_str());
  std::fflush(stdout);

  const bool tty = isatty(STDOUT_FILENO) != 0;
  Quiet quiet;
  const auto quiet_for = std::max<std::chrono::milliseconds>(1s, 2 * std::chrono::milliseconds(o.commit_interval_ms));
  auto last_line = std::chrono::steady_clock::now() - 1h;
  bool shown = false;
  int exit_code = 0;
  while (!g_stop) {
    std::this_thread::sleep_for(200ms);
    const sluice::AppState state = (*app)->state();
    if (state == sluice::AppState::kError) {
      exit_code = Fail("the app stopped", (*app)->error());
      break;
    }
    const sluice::AppMetrics m = (*app)->metrics();
    int64_t lag = 0;
    for (const sluice::PartitionLag& l : m.lag) lag += l.lag;
    const bool done = state == sluice::AppState::kRunning && quiet.Check(m, quiet_for);
    const auto now = std::chrono::steady_clock::now();
    if (tty || now - last_line >= 5s || (done && !shown)) {
      last_line = now;
      std::printf("%s%-11s records %9llu  %8.0f records/s  lag %7lld  dead-lettered %llu%s",
                  tty ? "\r" : "", std::string(sluice::ToString(state)).c_str(),
                  static_cast<unsigned long long>(m.records_in), m.process_rate, static_cast<long long>(lag),
                  static_cast<unsigned long long>(m.records_skipped), tty ? "   " : "\n");
      std::fflush(stdout);
    }
    if (done && !shown) {
      shown = true;
      if (tty) std::printf("\n");
      std::printf("Caught up.");
      exit_code = Summary(**app);
      std::fflush(stdout);
      if (o.exit_when_done) break;
    }
  }
  if (tty) std::printf("\n");
  std::printf("Stopping...\n");
  const bool closed = (*app)->Close(30s);
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
