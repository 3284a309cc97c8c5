#include "src/kafka/kafka_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace sluice::internal {

absl::StatusCode KafkaErrorCode(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return absl::StatusCode::kOk;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return absl::StatusCode::kDeadlineExceeded;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__NOENT:
    case RD_KAFKA_RESP_ERR__UNKNOWN_GROUP:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
      return absl::StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
    case RD_KAFKA_RESP_ERR__EXISTING_SUBSCRIPTION:
      return absl::StatusCode::kAlreadyExists;
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
      return absl::StatusCode::kUnimplemented;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
      return absl::StatusCode::kUnavailable;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
      return absl::StatusCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      return absl::StatusCode::kOutOfRange;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
      return absl::StatusCode::kResourceExhausted;
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
      return absl::StatusCode::kAborted;
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR_INVALID_TXN_STATE:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
      return absl::StatusCode::kFailedPrecondition;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::Status KafkaError(rd_kafka_resp_err_t err, std::string_view context) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::Status(KafkaErrorCode(err),
                      absl::StrCat(ToAbsl(context), ": ", rd_kafka_err2str(err),
                                   " (", rd_kafka_err2name(err), ")"));
}

absl::Status KafkaError(const rd_kafka_error_t* error,
                        std::string_view context) {
  if (error == nullptr) return absl::OkStatus();
  const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
  return absl::Status(
      KafkaErrorCode(err),
      absl::StrCat(ToAbsl(context), ": ", rd_kafka_error_string(error), " (",
                   rd_kafka_error_name(error), ")"));
}

void ClientErrorState::Record(rd_kafka_t* rk, int err, const char* reason) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  bool fatal = false;
  std::string detail = reason != nullptr ? reason : "";
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char errstr[512] = {0};
    code = rd_kafka_fatal_error(rk, errstr, sizeof(errstr));
    detail = errstr;
    fatal = true;
  }
  absl::Status status(
      fatal ? absl::StatusCode::kFailedPrecondition : KafkaErrorCode(code),
      absl::StrCat(fatal ? "fatal " : "", "Kafka client error ",
                   rd_kafka_err2name(code), " in ", rd_kafka_name(rk), ": ",
                   detail));
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = status;
    last_time_ = std::chrono::steady_clock::now();
    if (fatal && fatal_.ok()) fatal_ = status;
  }
  if (callback_) callback_(status, fatal);
}

absl::Status ClientErrorState::LastError() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

std::optional<std::chrono::steady_clock::time_point>
ClientErrorState::LastErrorTime() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (last_.ok()) return std::nullopt;
  return last_time_;
}

absl::Status ClientErrorState::FatalError() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fatal_;
}

void ClientErrorState::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  last_ = fatal_;
}

}  // namespace sluice::internal
