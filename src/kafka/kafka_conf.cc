#include "src/kafka/kafka_conf.h"

#include "absl/strings/str_cat.h"
#include "src/kafka/kafka_status.h"

namespace sluice::internal {

absl::StatusOr<KafkaConf> KafkaConf::Create(const KafkaProperties& props,
                                            std::string_view prefix) {
  KafkaConf conf{ConfPtr(rd_kafka_conf_new()), std::string(prefix)};
  for (const auto& [key, value] : props) {
    if (absl::Status s = conf.Set(key, value); !s.ok()) return s;
  }
  return conf;
}

absl::StatusOr<KafkaConf> KafkaConf::Create(
    const std::map<std::string, std::string>& props, std::string_view prefix) {
  return Create(KafkaProperties(props.begin(), props.end()), prefix);
}

absl::Status KafkaConf::Set(std::string_view key, std::string_view value) {
  if (conf_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("librdkafka configuration already consumed; cannot set '",
                     prefix_, ToAbsl(key), "'"));
  }
  char errstr[512] = {0};
  const std::string k(key);
  const std::string v(value);
  if (rd_kafka_conf_set(conf_.get(), k.c_str(), v.c_str(), errstr,
                        sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid librdkafka property '", prefix_, ToAbsl(key), "': ", errstr));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> KafkaConf::Get(std::string_view key) const {
  if (conf_ == nullptr) {
    return absl::FailedPreconditionError(
        "librdkafka configuration already consumed");
  }
  const std::string k(key);
  size_t size = 0;
  if (rd_kafka_conf_get(conf_.get(), k.c_str(), nullptr, &size) !=
      RD_KAFKA_CONF_OK) {
    return absl::NotFoundError(absl::StrCat("unknown librdkafka property '",
                                            prefix_, ToAbsl(key), "'"));
  }
  std::string out(size, '\0');
  if (rd_kafka_conf_get(conf_.get(), k.c_str(), out.data(), &size) !=
      RD_KAFKA_CONF_OK) {
    return absl::NotFoundError(absl::StrCat("unknown librdkafka property '",
                                            prefix_, ToAbsl(key), "'"));
  }
  if (!out.empty() && out.back() == '\0') out.pop_back();  // size counts NUL
  return out;
}

absl::StatusOr<RdKafkaPtr> KafkaConf::NewClient(rd_kafka_type_t type,
                                                std::string_view what) {
  if (conf_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create Kafka ", ToAbsl(what),
                     ": librdkafka configuration already consumed"));
  }
  char errstr[512] = {0};
  // rd_kafka_new() takes ownership of the conf only when it succeeds.
  rd_kafka_t* rk = rd_kafka_new(type, conf_.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create Kafka ", ToAbsl(what), ": ", errstr));
  }
  conf_.release();
  return RdKafkaPtr(rk);
}

}  // namespace sluice::internal
