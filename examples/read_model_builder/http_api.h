// The read models over HTTP (cpp-httplib), answered from the App's state stores by
// interactive queries:
//   GET /orders/{id}                  200 with the order-summary row, or 404
//   GET /orders?status=S&limit=N      the rows with status S (PLACED, PAID, PACKED,
//                                     SHIPPED, CANCELLED), by orderId, at most N (100)
//   GET /customers/{id}               200 with the customer-summary row, or 404
//   GET /health                       200 while the App is RUNNING, else 503
//   GET /metrics                      Prometheus text: records, lag, commits, store sizes
// A store that is restoring answers 503.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sluice/sluice.h"

namespace read_model {

class HttpApi {
 public:
  // Serves `app` on `host`:`port` (0 picks a free port) until destroyed.
  static absl::StatusOr<std::unique_ptr<HttpApi>> Start(const sluice::App& app, const std::string& host,
                                                        int port);
  ~HttpApi();
  int port() const;

 private:
  struct Impl;
  explicit HttpApi(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace read_model
