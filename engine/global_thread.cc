#include "engine/global_thread.h"

#include "sluice/internal/str.h"
#include "src/log.h"

namespace sluice::internal {

absl::StatusOr<std::unique_ptr<GlobalThread>> GlobalThread::Create(
    GlobalStores& stores, Settings settings, std::map<std::string, int32_t> partitions) {
  std::unique_ptr<GlobalThread> t(new GlobalThread(stores, std::move(settings)));
  t->partitions_ = std::move(partitions);
  KafkaProperties props = t->settings_.consumer_properties;
  props.emplace_back("enable.auto.commit", "false");
  props.emplace_back("enable.auto.offset.store", "false");
  props.emplace_back("enable.partition.eof", "true");
  // A position outside the topic (retention deleted it, or the topic was re-created):
  // read what is there.
  props.emplace_back("auto.offset.reset", "earliest");
  absl::StatusOr<KafkaConf> conf = KafkaConf::Create(props, "consumer.");
  if (!conf.ok()) return conf.status();
  absl::StatusOr<RdKafkaPtr> rk = conf->NewClient(RD_KAFKA_CONSUMER, "global consumer");
  if (!rk.ok()) return rk.status();
  t->rk_ = std::move(*rk);
  PartitionListPtr list(rd_kafka_topic_partition_list_new(8));
  for (const auto& [topic, count] : t->partitions_) {
    for (int32_t p = 0; p < count; ++p) {
      auto it = stores.positions().find({topic, p});
      const int64_t start = it == stores.positions().end() ? RD_KAFKA_OFFSET_BEGINNING : it->second;
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = start;
      t->next_[{topic, p}] = it == stores.positions().end() ? 0 : it->second;
    }
  }
  if (rd_kafka_resp_err_t err = rd_kafka_assign(t->rk_.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(Cat("global consumer: cannot assign the global topics' partitions: ",
                                   rd_kafka_err2str(err)));
  }
  return t;
}

GlobalThread::~GlobalThread() {
  Stop();
  if (rk_ != nullptr) rd_kafka_assign(rk_.get(), nullptr);
}

absl::StatusOr<bool> GlobalThread::PollOnce(std::chrono::milliseconds timeout) {
  MessagePtr m(rd_kafka_consumer_poll(rk_.get(), static_cast<int>(timeout.count())));
  if (m == nullptr) return false;
  const std::string topic = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "";
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    int64_t& next = next_[{topic, m->partition}];
    next = std::max(next, m->offset);
    return true;
  }
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (rd_kafka_fatal_error(rk_.get(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      return absl::UnavailableError(Cat("global consumer: topic '", topic, "' partition ",
                                        m->partition, ": ", rd_kafka_message_errstr(m.get())));
    }
    Log(LogLevel::kWarn, "global consumer: ", topic, " [", m->partition, "]: ",
        rd_kafka_message_errstr(m.get()));
    return true;
  }
  RawRecord r;
  if (m->key != nullptr) r.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
  r.timestamp = rd_kafka_message_timestamp(m.get(), nullptr);
  r.offset = m->offset;
  uint64_t skipped = 0;
  absl::Status s = stores_.Apply(topic, m->partition, {&r, 1}, settings_.policy, &skipped);
  skipped_ += skipped;
  if (!s.ok()) return s;
  next_[{topic, m->partition}] = m->offset + 1;
  return true;
}

absl::Status GlobalThread::Bootstrap() {
  const auto started = std::chrono::steady_clock::now();
  std::map<std::pair<std::string, int32_t>, int64_t> end;
  for (const auto& [tp, next] : next_) {
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk_.get(), tp.first.c_str(), tp.second, &low, &high,
        static_cast<int>(settings_.api_timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(Cat("cannot read the offsets of global topic '", tp.first,
                                        "' partition ", tp.second, ": ", rd_kafka_err2str(err)));
    }
    end[tp] = high;
  }
  auto remaining = [&] {
    int64_t n = 0;
    for (const auto& [tp, high] : end) n += std::max<int64_t>(0, high - next_[tp]);
    return n;
  };
  Log(LogLevel::kInfo, "bootstrapping ", stores_.specs().size(), " global store(s): ", remaining(),
      " records to read");
  auto last_progress = std::chrono::steady_clock::now();
  size_t since_commit = 0;
  while (remaining() > 0) {
    if (settings_.stopping && settings_.stopping()) {
      return absl::CancelledError("the App closed while the global stores were bootstrapping");
    }
    absl::StatusOr<bool> polled = PollOnce(std::chrono::milliseconds(100));
    if (!polled.ok()) return polled.status();
    if (*polled) {
      last_progress = std::chrono::steady_clock::now();
      if (++since_commit >= 10000) {
        if (absl::Status s = stores_.Commit(); !s.ok()) return s;
        since_commit = 0;
      }
    } else if (std::chrono::steady_clock::now() - last_progress > settings_.api_timeout) {
      return absl::DeadlineExceededError(Cat("bootstrapping the global stores: no record arrived for ",
                                             settings_.api_timeout.count(), " ms with ", remaining(),
                                             " records still to read"));
    }
  }
  if (absl::Status s = stores_.Commit(); !s.ok()) return s;
  Log(LogLevel::kInfo, "global stores bootstrapped in ",
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count(),
      " ms");
  return absl::OkStatus();
}

void GlobalThread::Start() {
  thread_ = std::thread([this] { Run(); });
}

void GlobalThread::Run() {
  auto last_commit = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    absl::StatusOr<bool> polled = PollOnce(std::chrono::milliseconds(100));
    absl::Status status = polled.status();
    if (status.ok() && std::chrono::steady_clock::now() - last_commit >= settings_.commit_interval) {
      status = stores_.Commit();
      last_commit = std::chrono::steady_clock::now();
    }
    if (!status.ok()) {
      if (settings_.on_error) settings_.on_error(status);
      return;
    }
  }
}

void GlobalThread::Stop() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
    if (absl::Status s = stores_.Commit(); !s.ok()) {
      Log(LogLevel::kWarn, "committing the global stores at shutdown: ", s.message());
    }
  }
}

}  // namespace sluice::internal
