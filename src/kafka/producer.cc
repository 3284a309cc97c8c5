#include "src/kafka/producer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"

namespace sluice::internal {

const char Producer::kTrackOffset = 0;

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(
    const KafkaProperties& props, ProducerOptions options) {
  absl::StatusOr<KafkaConf> conf =
      KafkaConf::Create(props, options.config_prefix);
  if (!conf.ok()) return conf.status();
  std::unique_ptr<Producer> producer(new Producer(std::move(options)));
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Producer::DeliveryCallback);
  rd_kafka_conf_set_error_cb(conf->get(), &Producer::ErrorCallbackTrampoline);
  rd_kafka_conf_set_opaque(conf->get(), producer.get());
  absl::StatusOr<RdKafkaPtr> rk =
      conf->NewClient(RD_KAFKA_PRODUCER, "producer");
  if (!rk.ok()) return rk.status();
  producer->rk_ = std::move(*rk);
  return producer;
}

Producer::~Producer() {
  if (rk_ == nullptr) return;
  if (rd_kafka_flush(rk_.get(), 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr,
                 "sluice: producer %s destroyed with %d record(s) in flight\n",
                 rd_kafka_name(rk_.get()), rd_kafka_outq_len(rk_.get()));
  }
  topics_.clear();  // topic handles before the client
  rk_.reset();
}

void Producer::DeliveryCallback(rd_kafka_t* rk, const rd_kafka_message_t* msg,
                                void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->acked_.fetch_add(1, std::memory_order_relaxed);
    if (msg->_private == &kTrackOffset) {
      int64_t& end = self->tracked_ends_[{msg->rkt, msg->partition}];
      end = std::max(end, msg->offset + 1);
    }
    return;
  }
  self->failed_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(self->mu_);
  if (self->delivery_error_.ok()) {
    self->delivery_error_ =
        KafkaError(msg->err, absl::StrCat("delivery to topic ",
                                          rd_kafka_topic_name(msg->rkt), " [",
                                          msg->partition, "] failed"));
  }
}

void Producer::ErrorCallbackTrampoline(rd_kafka_t* rk, int err,
                                       const char* reason, void* opaque) {
  static_cast<Producer*>(opaque)->errors_.Record(rk, err, reason);
}

absl::StatusOr<rd_kafka_topic_t*> Producer::Topic(std::string_view topic) {
  // Consecutive records mostly go to the same topic: skip the hash lookup then.
  if (last_topic_ != nullptr && topic == last_topic_name_) return last_topic_;
  auto it = topics_.find(ToAbsl(topic));
  if (it != topics_.end()) {
    last_topic_name_.assign(it->first);
    last_topic_ = it->second.get();
    return last_topic_;
  }
  std::string name(topic);
  TopicPtr rkt(rd_kafka_topic_new(rk_.get(), name.c_str(), nullptr));
  if (rkt == nullptr) {
    return KafkaError(
        rd_kafka_last_error(),
        absl::StrCat("cannot create handle for topic ", ToAbsl(topic)));
  }
  rd_kafka_topic_t* raw = rkt.get();
  topics_.emplace(std::move(name), std::move(rkt));
  return raw;
}

absl::Status Producer::Produce(std::string_view topic, int32_t partition,
                               const void* key, size_t key_len,
                               const void* value, size_t value_len,
                               int64_t timestamp_ms,
                               const rd_kafka_headers_t* headers,
                               bool track_offset) {
  absl::StatusOr<rd_kafka_topic_t*> rkt = Topic(topic);
  if (!rkt.ok()) return rkt.status();
  // librdkafka takes ownership of the headers only when the call succeeds.
  HeadersPtr copy(headers != nullptr ? rd_kafka_headers_copy(headers)
                                     : nullptr);
  // librdkafka turns a null payload into Kafka null; an empty one must keep a
  // non-null pointer to stay an empty (present) value.
  static const char kEmpty[1] = {0};
  if (value == nullptr) value_len = 0;
  if (key == nullptr) key_len = 0;
  // Set on the first QUEUE_FULL only: the common path reads no clock.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_RKT(*rkt), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key == nullptr || key_len > 0 ? key : kEmpty, key_len),
        RD_KAFKA_V_VALUE(
            const_cast<void*>(value == nullptr || value_len > 0 ? value
                                                                : kEmpty),
            value_len),
        RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_HEADERS(copy.get()),
        RD_KAFKA_V_OPAQUE(track_offset ? const_cast<char*>(&kTrackOffset) : nullptr),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      copy.release();  // now owned by the message
      // One writing thread: a plain store, no locked read-modify-write per record.
      produced_.store(produced_.load(std::memory_order_relaxed) + 1,
                      std::memory_order_relaxed);
      // Delivery reports are served by Poll() (once per batch in the engine) and
      // Flush(), not per record.
      return absl::OkStatus();
    }
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return KafkaError(err, absl::StrCat("cannot produce to topic ",
                                          ToAbsl(topic), " [", partition, "]"));
    }
    const auto now = std::chrono::steady_clock::now();
    if (!deadline) deadline = now + queue_full_timeout_;
    if (now >= *deadline) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot produce to topic ", ToAbsl(topic),
                       ": local producer queue still "
                       "full after ",
                       queue_full_timeout_.count(), " ms (",
                       rd_kafka_outq_len(rk_.get()), " records waiting)"));
    }
    // Delivery reports free queue space; serving them is the only way out.
    rd_kafka_poll(rk_.get(), 10);
  }
}

int64_t Producer::TrackedEnd(std::string_view topic, int32_t partition) {
  absl::StatusOr<rd_kafka_topic_t*> rkt = Topic(topic);
  if (!rkt.ok()) return -1;
  auto it = tracked_ends_.find({*rkt, partition});
  return it == tracked_ends_.end() ? -1 : it->second;
}

void Producer::Poll(std::chrono::milliseconds timeout) {
  rd_kafka_poll(rk_.get(), static_cast<int>(timeout.count()));
}

absl::Status Producer::Flush(std::chrono::milliseconds timeout) {
  const rd_kafka_resp_err_t err =
      rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count()));
  if (absl::Status fatal = errors_.FatalError(); !fatal.ok()) return fatal;
  if (absl::Status delivery = DeliveryError(); !delivery.ok()) return delivery;
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    return absl::DeadlineExceededError(absl::StrCat(
        "producer flush timed out after ", timeout.count(), " ms with ",
        rd_kafka_outq_len(rk_.get()), " record(s) not yet acknowledged"));
  }
  return KafkaError(err, "producer flush failed");
}

void Producer::ClearDeliveryError() {
  std::lock_guard<std::mutex> lock(mu_);
  delivery_error_ = absl::OkStatus();
}

absl::Status Producer::DeliveryError() const {
  std::lock_guard<std::mutex> lock(mu_);
  return delivery_error_;
}

absl::StatusOr<int> Producer::PartitionCount(
    std::string_view topic, std::chrono::milliseconds timeout) {
  if (auto it = partition_counts_.find(ToAbsl(topic));
      it != partition_counts_.end()) {
    return it->second;
  }
  absl::StatusOr<rd_kafka_topic_t*> rkt = Topic(topic);
  if (!rkt.ok()) return rkt.status();
  const rd_kafka_metadata_t* raw = nullptr;
  if (absl::Status s = KafkaError(
          rd_kafka_metadata(rk_.get(), 0, *rkt, &raw,
                            static_cast<int>(timeout.count())),
          absl::StrCat("cannot fetch metadata for topic ", ToAbsl(topic)));
      !s.ok()) {
    return s;
  }
  MetadataPtr md(raw);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaError(t.err,
                        absl::StrCat("metadata for topic ", ToAbsl(topic)));
    }
    partition_counts_.emplace(std::string(topic), t.partition_cnt);
    return t.partition_cnt;
  }
  return absl::NotFoundError(
      absl::StrCat("topic ", ToAbsl(topic), " does not exist"));
}

}  // namespace sluice::internal
