// Building librdkafka configuration objects from Sluice's key/value properties.

#ifndef SLUICE_SRC_KAFKA_KAFKA_CONF_H_
#define SLUICE_SRC_KAFKA_KAFKA_CONF_H_

#include <librdkafka/rdkafka.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/kafka/handles.h"

namespace sluice::internal {

// librdkafka properties in the order they are applied (later keys win).
using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

// Owns one rd_kafka_conf_t until it is handed to rd_kafka_new(); a value type
// used by whichever thread builds a client.
//
//   absl::StatusOr<KafkaConf> conf =
//       KafkaConf::Create({{"bootstrap.servers", "127.0.0.1:9092"}},
//       "consumer.");
//   // A bad key fails with: invalid librdkafka property 'consumer.foo':
//   //   No such configuration property: "foo"
class KafkaConf {
 public:
  // Applies `props` in order. `prefix` is only used in error messages, so they
  // name the user-facing key (e.g. "producer." + "linger.ms").
  [[nodiscard]] static absl::StatusOr<KafkaConf> Create(
      const KafkaProperties& props, std::string_view prefix = "");
  [[nodiscard]] static absl::StatusOr<KafkaConf> Create(
      const std::map<std::string, std::string>& props,
      std::string_view prefix = "");

  KafkaConf(KafkaConf&&) = default;
  KafkaConf& operator=(KafkaConf&&) = default;

  // Sets one property; the error names `prefix` + key.
  [[nodiscard]] absl::Status Set(std::string_view key, std::string_view value);

  // The current value of `key`, or NotFound.
  [[nodiscard]] absl::StatusOr<std::string> Get(std::string_view key) const;

  // The raw object, still owned by this KafkaConf.
  rd_kafka_conf_t* get() const { return conf_.get(); }

  // Gives up ownership, e.g. right before a successful rd_kafka_new().
  rd_kafka_conf_t* release() { return conf_.release(); }

  // Creates an rd_kafka_t of `type` from this configuration. On success the
  // configuration is consumed (this object becomes empty); on failure it is
  // kept and the error names `what` (e.g. "consumer").
  [[nodiscard]] absl::StatusOr<RdKafkaPtr> NewClient(rd_kafka_type_t type,
                                                     std::string_view what);

 private:
  KafkaConf(ConfPtr conf, std::string prefix)
      : conf_(std::move(conf)), prefix_(std::move(prefix)) {}

  ConfPtr conf_;
  std::string prefix_;
};

}  // namespace sluice::internal

#endif  // SLUICE_SRC_KAFKA_KAFKA_CONF_H_
