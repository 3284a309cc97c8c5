// Conversion of librdkafka error codes into absl::Status, and the error state
// every Sluice Kafka client keeps for errors librdkafka reports out of band.

#ifndef SLUICE_SRC_KAFKA_KAFKA_STATUS_H_
#define SLUICE_SRC_KAFKA_KAFKA_STATUS_H_

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sluice::internal {

// Debian's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW 0, so
// absl::string_view is its own type and absl::StrCat does not take
// std::string_view; wrap such arguments with this.
inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// The absl code that best describes `err`: timeouts -> DEADLINE_EXCEEDED,
// unknown topic/partition -> NOT_FOUND, unsupported API -> UNIMPLEMENTED,
// transport / broker availability -> UNAVAILABLE, fencing -> ABORTED, etc.
absl::StatusCode KafkaErrorCode(rd_kafka_resp_err_t err);

// "<context>: <librdkafka description> (<ERROR_NAME>)", or OK for NO_ERROR.
[[nodiscard]] absl::Status KafkaError(rd_kafka_resp_err_t err,
                                      std::string_view context);

// Same for an rd_kafka_error_t (null means OK). Does not take ownership.
[[nodiscard]] absl::Status KafkaError(const rd_kafka_error_t* error,
                                      std::string_view context);

// Called with every error librdkafka reports through its error callback.
// `fatal` is true when the client instance is unusable (idempotence or
// transaction violations); runs on the thread that polls the client.
using ErrorCallback =
    std::function<void(const absl::Status& error, bool fatal)>;

// Keeps the last out-of-band error of one rd_kafka_t (from its error_cb), so
// that an owner can notice e.g. unreachable bootstrap servers; Record runs on
// the polling thread, the getters may be called from any thread.
class ClientErrorState {
 public:
  explicit ClientErrorState(ErrorCallback callback = nullptr)
      : callback_(std::move(callback)) {}

  // Records an error_cb invocation. For RD_KAFKA_RESP_ERR__FATAL the real
  // underlying error is fetched with rd_kafka_fatal_error().
  void Record(rd_kafka_t* rk, int err, const char* reason);

  // The last recorded error, or OK if none since construction / Clear().
  absl::Status LastError() const;
  // When LastError() was recorded; nullopt if it is OK.
  std::optional<std::chrono::steady_clock::time_point> LastErrorTime() const;
  // The first fatal error, or OK. Never cleared: the client must be rebuilt.
  absl::Status FatalError() const;
  // Forgets the last non-fatal error (e.g. once the client made progress).
  void Clear();

 private:
  const ErrorCallback callback_;
  mutable std::mutex mu_;
  absl::Status last_;                                // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point last_time_;  // GUARDED_BY(mu_)
  absl::Status fatal_;                               // GUARDED_BY(mu_)
};

}  // namespace sluice::internal

#endif  // SLUICE_SRC_KAFKA_KAFKA_STATUS_H_
