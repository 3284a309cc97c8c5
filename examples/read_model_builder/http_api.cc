#include "examples/read_model_builder/http_api.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>

#include <sluice/serde_json.h>

#include "examples/read_model_builder/read_model.h"
#include "examples/read_model_builder/topology.h"

namespace read_model {

namespace {

using nlohmann::json;

template <class Json>
void Reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void Error(httplib::Response& res, int status, const std::string& message) {
  Reply(res, status, json{{"error", message}});
}

// A failed query: a restoring or moved partition is 503, anything else 500.
void QueryError(httplib::Response& res, const absl::Status& s) {
  Error(res, s.code() == absl::StatusCode::kUnavailable ? 503 : 500, std::string(s.message()));
}

using OrderStore = sluice::ReadOnlyKeyValueStore<sluice::StringSerde, sluice::JsonSerde<OrderState>>;
using CustomerStore = sluice::ReadOnlyKeyValueStore<sluice::StringSerde, sluice::JsonSerde<CustomerState>>;

}  // namespace

struct HttpApi::Impl {
  const sluice::App& app;
  httplib::Server server;
  int port = 0;
  std::thread thread;

  explicit Impl(const sluice::App& a) : app(a) {}

  void Routes() {
    server.Get(R"(/orders/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      GetOrder(req.matches[1], res);
    });
    server.Get("/orders", [this](const httplib::Request& req, httplib::Response& res) { ListOrders(req, res); });
    server.Get(R"(/customers/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      GetCustomer(req.matches[1], res);
    });
    server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      const sluice::AppState state = app.state();
      Reply(res, state == sluice::AppState::kRunning ? 200 : 503,
            json{{"state", std::string(sluice::ToString(state))}});
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(Metrics(), "text/plain; version=0.0.4");
    });
  }

  void GetOrder(const std::string& id, httplib::Response& res) {
    absl::StatusOr<OrderStore> store = app.Store<sluice::StringSerde, sluice::JsonSerde<OrderState>>(kOrderStore);
    if (!store.ok()) return QueryError(res, store.status());
    absl::StatusOr<std::optional<OrderState>> order = store->Get(id);
    if (!order.ok()) return QueryError(res, order.status());
    if (!order->has_value()) return Error(res, 404, "no order '" + id + "'");
    Reply(res, 200, OrderSummary(**order));
  }

  void ListOrders(const httplib::Request& req, httplib::Response& res) {
    const std::string status = req.get_param_value("status");
    static const char* kStatuses[] = {"PLACED", "PAID", "PACKED", "SHIPPED", "CANCELLED"};
    if (!status.empty() && std::none_of(std::begin(kStatuses), std::end(kStatuses),
                                        [&](const char* s) { return status == s; })) {
      return Error(res, 400, "unknown status '" + status + "' (PLACED, PAID, PACKED, SHIPPED, CANCELLED)");
    }
    size_t limit = 100;
    if (req.has_param("limit")) {
      const std::string text = req.get_param_value("limit");
      char* end = nullptr;
      const long long n = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || n < 1 || n > 10000) {
        return Error(res, 400, "limit must be a number from 1 to 10000, not '" + text + "'");
      }
      limit = static_cast<size_t>(n);
    }
    absl::StatusOr<OrderStore> store = app.Store<sluice::StringSerde, sluice::JsonSerde<OrderState>>(kOrderStore);
    if (!store.ok()) return QueryError(res, store.status());
    auto all = store->All();
    if (!all.ok()) return QueryError(res, all.status());
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const auto& kv : *all) {
      if (rows.size() >= limit) break;
      if (status.empty() || kv.value.Status() == status) rows.push_back(OrderSummary(kv.value));
    }
    Reply(res, 200, rows);
  }

  void GetCustomer(const std::string& id, httplib::Response& res) {
    absl::StatusOr<CustomerStore> store =
        app.Store<sluice::StringSerde, sluice::JsonSerde<CustomerState>>(kCustomerStore);
    if (!store.ok()) return QueryError(res, store.status());
    absl::StatusOr<std::optional<CustomerState>> customer = store->Get(id);
    if (!customer.ok()) return QueryError(res, customer.status());
    if (!customer->has_value()) return Error(res, 404, "no customer '" + id + "'");
    Reply(res, 200, CustomerSummary(id, **customer));
  }

  std::string Metrics() const {
    const sluice::AppMetrics m = app.metrics();
    std::string out;
    auto metric = [&out](const char* name, const char* type, const char* help) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    auto line = [&out](const std::string& name, double value) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " %.17g\n", value);
      out += name + buf;
    };
    metric("sluice_records_processed_total", "counter", "Records consumed and processed.");
    line("sluice_records_processed_total", static_cast<double>(m.records_in));
    metric("sluice_records_skipped_total", "counter", "Records sent to the dead-letter queue (bad input).");
    line("sluice_records_skipped_total", static_cast<double>(m.records_skipped));
    metric("sluice_records_produced_total", "counter", "Records written to output topics.");
    line("sluice_records_produced_total", static_cast<double>(m.records_out));
    metric("sluice_process_rate", "gauge", "Records processed per second over the last second.");
    line("sluice_process_rate", m.process_rate);
    metric("sluice_commits_total", "counter", "Commits.");
    line("sluice_commits_total", static_cast<double>(m.commits));
    metric("sluice_commit_latency_avg_ms", "gauge", "Average commit latency.");
    line("sluice_commit_latency_avg_ms", m.commit_latency_avg_ms);
    metric("sluice_commit_latency_max_ms", "gauge", "Largest commit latency.");
    line("sluice_commit_latency_max_ms", m.commit_latency_max_ms);
    metric("sluice_consumer_lag", "gauge", "Records not yet processed, per input partition.");
    for (const sluice::PartitionLag& p : m.lag) {
      line("sluice_consumer_lag{topic=\"" + p.topic + "\",partition=\"" + std::to_string(p.partition) + "\"}",
           static_cast<double>(p.lag));
    }
    metric("sluice_store_entries", "gauge", "Approximate entries per state store.");
    for (const char* name : {kOrderStore, kCustomerStore}) {
      // Counting entries reads no value: any value serde will do.
      auto store = app.Store<sluice::StringSerde, sluice::StringSerde>(name);
      if (!store.ok()) continue;
      absl::StatusOr<uint64_t> n = store->ApproximateNumEntries();
      if (n.ok()) line(std::string("sluice_store_entries{store=\"") + name + "\"}", static_cast<double>(*n));
    }
    return out;
  }
};

absl::StatusOr<std::unique_ptr<HttpApi>> HttpApi::Start(const sluice::App& app, const std::string& host,
                                                        int port) {
  auto impl = std::make_unique<Impl>(app);
  impl->Routes();
  if (port == 0) {
    impl->port = impl->server.bind_to_any_port(host);
    if (impl->port < 0) return absl::UnavailableError("HTTP: cannot bind a free port on " + host);
  } else {
    if (!impl->server.bind_to_port(host, port)) {
      return absl::UnavailableError("HTTP: cannot bind " + host + ":" + std::to_string(port) +
                                    " (in use? pass --http-port 0 for a free one)");
    }
    impl->port = port;
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  return std::unique_ptr<HttpApi>(new HttpApi(std::move(impl)));
}

HttpApi::HttpApi(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpApi::~HttpApi() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int HttpApi::port() const { return impl_->port; }

}  // namespace read_model
