#include "src/kafka/admin.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sluice::internal {

namespace {

// Extra time to wait for a result beyond the broker-side timeouts, so the
// request's own timeout (with a proper message) fires first.
constexpr std::chrono::milliseconds kResultSlack{2000};

bool IsUnsupported(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
         err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION ||
         err == RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Admin>> Admin::Create(
    const KafkaProperties& props, std::string_view config_prefix) {
  absl::StatusOr<KafkaConf> conf = KafkaConf::Create(props, config_prefix);
  if (!conf.ok()) return conf.status();
  std::unique_ptr<Admin> admin(new Admin());
  rd_kafka_conf_set_error_cb(conf->get(), &Admin::ErrorCallbackTrampoline);
  rd_kafka_conf_set_opaque(conf->get(), admin.get());
  absl::StatusOr<RdKafkaPtr> rk =
      conf->NewClient(RD_KAFKA_PRODUCER, "admin client");
  if (!rk.ok()) return rk.status();
  admin->rk_ = std::move(*rk);
  return admin;
}

void Admin::ErrorCallbackTrampoline(rd_kafka_t* rk, int err, const char* reason,
                                    void* opaque) {
  static_cast<Admin*>(opaque)->errors_.Record(rk, err, reason);
}

absl::StatusOr<AdminOptionsPtr> Admin::Options(
    rd_kafka_admin_op_t op, std::chrono::milliseconds timeout) {
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(rk_.get(), op));
  char errstr[256] = {0};
  const int ms = static_cast<int>(timeout.count());
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), ms, errstr,
                                                sizeof(errstr)) ||
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), ms, errstr,
                                                  sizeof(errstr))) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid admin timeout ", ms, " ms: ", errstr));
  }
  return options;
}

absl::StatusOr<EventPtr> Admin::WaitResult(rd_kafka_queue_t* queue,
                                           std::chrono::milliseconds timeout,
                                           std::string_view what) {
  EventPtr ev(rd_kafka_queue_poll(
      queue, static_cast<int>((timeout + kResultSlack).count())));
  rd_kafka_poll(rk_.get(), 0);  // serve error callbacks of this client
  if (ev == nullptr) {
    return absl::DeadlineExceededError(absl::StrCat(
        ToAbsl(what), ": no answer within ", timeout.count(), " ms"));
  }
  const rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* detail = rd_kafka_event_error_string(ev.get());
    const std::string context =
        absl::StrCat(ToAbsl(what), detail != nullptr ? ": " : "",
                     detail != nullptr ? detail : "");
    if (IsUnsupported(err)) {
      return absl::UnimplementedError(
          absl::StrCat(context, " (", rd_kafka_err2name(err),
                       "; the broker does not support this admin API)"));
    }
    return KafkaError(err, context);
  }
  return ev;
}

absl::Status Admin::RequireController(std::chrono::milliseconds timeout,
                                      std::string_view what) {
  // A fresh brokers-only metadata request: tells a reachable cluster apart
  // from an unreachable one and updates the cached controller id.
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk_.get(), /*all_topics=*/0, nullptr, &raw,
                        static_cast<int>(timeout.count()));
  rd_kafka_poll(rk_.get(), 0);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(err,
                      absl::StrCat(ToAbsl(what), ": cannot reach the cluster"));
  }
  MetadataPtr md(raw);
  const int32_t controller = rd_kafka_controllerid(rk_.get(), 0);
  for (int i = 0; i < md->broker_cnt; ++i) {
    if (md->brokers[i].id == controller) return absl::OkStatus();
  }
  // librdkafka sends topic admin requests to the controller and would wait
  // for it until the timeout. librdkafka 2.0.2's mock cluster reports
  // ControllerId 0 while its brokers are 1..N (and it has no CreateTopics /
  // DeleteTopics handlers anyway), so this is how it is recognised.
  return absl::UnimplementedError(absl::StrCat(
      ToAbsl(what), ": the cluster's controller (id ", controller,
      ") is not one of its brokers, so topic admin requests cannot be served "
      "(librdkafka's mock cluster behaves like this; create topics through "
      "its own API instead)"));
}

namespace {

// Folds the per-topic results of CreateTopics/DeleteTopics into one status naming
// every failed topic; `benign` (already exists / unknown topic) counts as success.
absl::Status TopicResultsStatus(const rd_kafka_topic_result_t** results, size_t n,
                                rd_kafka_resp_err_t benign, std::string_view what) {
  std::vector<std::string> failures;
  rd_kafka_resp_err_t first_err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == benign) continue;
    if (first_err == RD_KAFKA_RESP_ERR_NO_ERROR) first_err = err;
    const char* msg = rd_kafka_topic_result_error_string(results[i]);
    failures.push_back(absl::StrCat(
        rd_kafka_topic_result_name(results[i]), " (", msg != nullptr ? msg : "",
        msg != nullptr ? ": " : "", rd_kafka_err2name(err), ")"));
  }
  if (failures.empty()) return absl::OkStatus();
  return absl::Status(KafkaErrorCode(first_err),
                      absl::StrCat(ToAbsl(what), absl::StrJoin(failures, ", ")));
}

}  // namespace

absl::Status Admin::CreateTopics(const std::vector<TopicSpec>& topics,
                                 std::chrono::milliseconds timeout) {
  if (topics.empty()) return absl::OkStatus();
  std::vector<std::string> all_names;
  for (const TopicSpec& spec : topics) {
    if (spec.name.empty() || (spec.partitions < 1 && spec.partitions != -1) ||
        (spec.replication < 1 && spec.replication != -1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid topic spec for '", spec.name, "': partitions ",
                       spec.partitions, ", replication ", spec.replication,
                       " (each must be >= 1, or -1 for the broker default)"));
    }
    all_names.push_back(spec.name);
  }
  if (absl::Status s = RequireController(
          timeout, absl::StrCat("cannot create topics ",
                                absl::StrJoin(all_names, ", ")));
      !s.ok()) {
    return s;
  }
  std::vector<NewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  std::vector<std::string> names;
  for (const TopicSpec& spec : topics) {
    char errstr[256] = {0};
    NewTopicPtr nt(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                         spec.replication, errstr,
                                         sizeof(errstr)));
    if (nt == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid topic spec for ", spec.name, ": ", errstr));
    }
    for (const auto& [key, value] : spec.configs) {
      if (absl::Status s = KafkaError(
              rd_kafka_NewTopic_set_config(nt.get(), key.c_str(),
                                           value.c_str()),
              absl::StrCat("invalid config '", key, "' for topic ", spec.name));
          !s.ok()) {
        return s;
      }
    }
    raw.push_back(nt.get());
    owned.push_back(std::move(nt));
    names.push_back(spec.name);
  }
  absl::StatusOr<AdminOptionsPtr> options =
      Options(RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout);
  if (!options.ok()) return options.status();
  QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_CreateTopics(rk_.get(), raw.data(), raw.size(), options->get(),
                        queue.get());
  absl::StatusOr<EventPtr> ev = WaitResult(
      queue.get(), timeout,
      absl::StrCat("cannot create topics ", absl::StrJoin(names, ", ")));
  if (!ev.ok()) return ev.status();

  const rd_kafka_CreateTopics_result_t* result =
      rd_kafka_event_CreateTopics_result(ev->get());
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(result, &n);
  return TopicResultsStatus(results, n, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
                            "cannot create topics: ");
}

absl::Status Admin::DeleteTopics(const std::vector<std::string>& topics,
                                 std::chrono::milliseconds timeout) {
  if (topics.empty()) return absl::OkStatus();
  if (absl::Status s = RequireController(
          timeout,
          absl::StrCat("cannot delete topics ", absl::StrJoin(topics, ", ")));
      !s.ok()) {
    return s;
  }
  std::vector<DeleteTopicPtr> owned;
  std::vector<rd_kafka_DeleteTopic_t*> raw;
  for (const std::string& name : topics) {
    owned.emplace_back(rd_kafka_DeleteTopic_new(name.c_str()));
    raw.push_back(owned.back().get());
  }
  absl::StatusOr<AdminOptionsPtr> options =
      Options(RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout);
  if (!options.ok()) return options.status();
  QueuePtr queue(rd_kafka_queue_new(rk_.get()));
  rd_kafka_DeleteTopics(rk_.get(), raw.data(), raw.size(), options->get(),
                        queue.get());
  absl::StatusOr<EventPtr> ev = WaitResult(
      queue.get(), timeout,
      absl::StrCat("cannot delete topics ", absl::StrJoin(topics, ", ")));
  if (!ev.ok()) return ev.status();

  const rd_kafka_DeleteTopics_result_t* result =
      rd_kafka_event_DeleteTopics_result(ev->get());
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_DeleteTopics_result_topics(result, &n);
  return TopicResultsStatus(results, n, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                            "cannot delete topics: ");
}

absl::StatusOr<std::map<std::string, int>> Admin::PartitionCounts(
    const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  if (absl::Status s =
          KafkaError(rd_kafka_metadata(rk_.get(), /*all_topics=*/1, nullptr,
                                       &raw, static_cast<int>(timeout.count())),
                     absl::StrCat("cannot fetch metadata for topics ",
                                  absl::StrJoin(topics, ", ")));
      !s.ok()) {
    rd_kafka_poll(rk_.get(), 0);
    return s;
  }
  rd_kafka_poll(rk_.get(), 0);
  MetadataPtr md(raw);
  std::map<std::string, int> counts;
  std::vector<std::string> missing;
  for (const std::string& name : topics) {
    const rd_kafka_metadata_topic_t* found = nullptr;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (name == md->topics[i].topic) {
        found = &md->topics[i];
        break;
      }
    }
    if (found == nullptr ||
        found->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      missing.push_back(name);
      continue;
    }
    if (found->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaError(found->err, absl::StrCat("metadata for topic ", name));
    }
    counts[name] = found->partition_cnt;
  }
  if (!missing.empty()) {
    return absl::NotFoundError(absl::StrCat(missing.size() == 1
                                                ? "topic does not exist: "
                                                : "topics do not exist: ",
                                            absl::StrJoin(missing, ", ")));
  }
  return counts;
}

}  // namespace sluice::internal
