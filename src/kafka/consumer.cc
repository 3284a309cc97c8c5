#include "src/kafka/consumer.h"

#include <cassert>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sluice::internal {

std::string DescribePartitions(const rd_kafka_topic_partition_list_t* list,
                               bool errors_only) {
  std::string out;
  if (list == nullptr) return out;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    if (errors_only && p.err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    if (!out.empty()) out += ", ";
    absl::StrAppend(&out, p.topic, " [", p.partition, "]");
    if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      absl::StrAppend(&out, " (", rd_kafka_err2str(p.err), ")");
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(
    const KafkaProperties& props, RebalanceListener* listener) {
  ConsumerOptions options;
  options.listener = listener;
  return Create(props, std::move(options));
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(
    const KafkaProperties& props, ConsumerOptions options) {
  absl::StatusOr<KafkaConf> conf =
      KafkaConf::Create(props, options.config_prefix);
  if (!conf.ok()) return conf.status();
  absl::StatusOr<std::string> group = conf->Get("group.id");
  if (!group.ok() || group->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing librdkafka property '", options.config_prefix,
                     "group.id': a group consumer needs one"));
  }
  std::unique_ptr<Consumer> consumer(
      new Consumer(options.listener, std::move(options.on_error)));
  // The wrapper always installs its own rebalance callback: it is what makes
  // "listener first, then (incremental_)assign" hold for both protocols.
  rd_kafka_conf_set_rebalance_cb(conf->get(), &Consumer::RebalanceCallback);
  rd_kafka_conf_set_error_cb(conf->get(), &Consumer::ErrorCallbackTrampoline);
  rd_kafka_conf_set_opaque(conf->get(), consumer.get());
  absl::StatusOr<RdKafkaPtr> rk =
      conf->NewClient(RD_KAFKA_CONSUMER, "consumer");
  if (!rk.ok()) return rk.status();
  consumer->rk_ = std::move(*rk);
  // Route the main queue (errors, logs, stats) into the consumer queue so a
  // single Poll() serves everything that is not a forwarded partition.
  if (absl::Status s =
          KafkaError(rd_kafka_poll_set_consumer(consumer->handle()),
                     "cannot redirect main queue to consumer");
      !s.ok()) {
    return s;
  }
  return consumer;
}

Consumer::~Consumer() {
  if (rk_ != nullptr) {
    absl::Status s = Close();
    if (!s.ok()) {
      std::fprintf(stderr, "sluice: %s\n", s.ToString().c_str());
    }
  }
}

void Consumer::CheckOwnerThread() {
#ifndef NDEBUG
  const std::thread::id self = std::this_thread::get_id();
  if (owner_ == std::thread::id()) owner_ = self;
  assert(owner_ == self && "Consumer used from more than one owner thread");
#endif
}

absl::Status Consumer::Subscribe(const std::vector<std::string>& topics) {
  CheckOwnerThread();
  if (topics.empty()) {
    return absl::InvalidArgumentError(
        "cannot subscribe to an empty topic list");
  }
  PartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  std::string names;
  for (const std::string& t : topics) {
    rd_kafka_topic_partition_list_add(list.get(), t.c_str(),
                                      RD_KAFKA_PARTITION_UA);
    absl::StrAppend(&names, names.empty() ? "" : ", ", t);
  }
  return KafkaError(rd_kafka_subscribe(rk_.get(), list.get()),
                    absl::StrCat("cannot subscribe to ", names));
}

MessagePtr Consumer::Poll(std::chrono::milliseconds timeout) {
  CheckOwnerThread();
  MessagePtr msg(
      rd_kafka_consumer_poll(rk_.get(), static_cast<int>(timeout.count())));
  if (msg == nullptr) return nullptr;
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) return msg;
  if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    // Consumer errors (e.g. a subscribed topic that does not exist) arrive as
    // error messages; they are not data, so report them out of band.
    std::string where;
    if (msg->rkt != nullptr) {
      where = absl::StrCat(" on ", rd_kafka_topic_name(msg->rkt), " [",
                           msg->partition, "]");
    }
    const char* text = rd_kafka_message_errstr(msg.get());
    errors_.Record(rk_.get(), msg->err,
                   absl::StrCat(text != nullptr ? text : "", where).c_str());
  }
  return nullptr;
}

void Consumer::RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t* partitions,
                                 void* opaque) {
  static_cast<Consumer*>(opaque)->OnRebalance(err, partitions);
}

void Consumer::ErrorCallbackTrampoline(rd_kafka_t* rk, int err,
                                       const char* reason, void* opaque) {
  static_cast<Consumer*>(opaque)->errors_.Record(rk, err, reason);
}

void Consumer::OnRebalance(rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions) {
  ++rebalance_count_;
  rd_kafka_t* rk = rk_.get();
  const bool cooperative =
      std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  absl::Status status;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (listener_ != nullptr) listener_->OnAssigned(partitions);
    if (cooperative) {
      ErrorPtr e(rd_kafka_incremental_assign(rk, partitions));
      status =
          KafkaError(e.get(), absl::StrCat("incremental assign of ",
                                           DescribePartitions(partitions)));
    } else {
      status = KafkaError(
          rd_kafka_assign(rk, partitions),
          absl::StrCat("assign of ", DescribePartitions(partitions)));
    }
  } else {
    // REVOKE_PARTITIONS, or a rebalance error: in both cases give up what we
    // hold. A rebalance error means the assignment is no longer valid, and
    // librdkafka then wants the full assignment cleared (assign(NULL)) even
    // under the cooperative protocol.
    const bool failed = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS;
    const bool lost = failed || rd_kafka_assignment_lost(rk) != 0;
    if (listener_ != nullptr) listener_->OnRevoked(partitions, lost);
    if (cooperative && !failed) {
      ErrorPtr e(rd_kafka_incremental_unassign(rk, partitions));
      status =
          KafkaError(e.get(), absl::StrCat("incremental unassign of ",
                                           DescribePartitions(partitions)));
    } else {
      status = KafkaError(rd_kafka_assign(rk, nullptr), "unassign");
    }
    if (failed) errors_.Record(rk, err, "rebalance failed");
  }
  if (!status.ok()) {
    errors_.Record(rk, RD_KAFKA_RESP_ERR__STATE, status.ToString().c_str());
  }
}

namespace {

struct CommitResult {
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string failed;  // partitions with errors
};

void OnCommitted(rd_kafka_t*, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* result = static_cast<CommitResult*>(opaque);
  result->err = err;
  result->failed = DescribePartitions(offsets, /*errors_only=*/true);
}

}  // namespace

absl::Status Consumer::CommitSync(
    const rd_kafka_topic_partition_list_t* offsets) {
  // Any thread: rd_kafka_commit_queue is thread-safe (stream threads commit).
  CommitResult result;
  // With a null queue librdkafka creates a temporary one and serves the
  // callback inside this call, which also gives us per-partition errors.
  const rd_kafka_resp_err_t err =
      rd_kafka_commit_queue(rk_.get(), offsets, nullptr, &OnCommitted, &result);
  rd_kafka_resp_err_t final_err =
      err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : result.err;
  if (final_err == RD_KAFKA_RESP_ERR__NO_OFFSET) return absl::OkStatus();
  if (final_err == RD_KAFKA_RESP_ERR_NO_ERROR && result.failed.empty()) {
    return absl::OkStatus();
  }
  if (final_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    final_err = RD_KAFKA_RESP_ERR__FAIL;
  }
  std::string what = "offset commit failed";
  if (!result.failed.empty()) {
    absl::StrAppend(&what, " for ", result.failed);
  } else if (offsets != nullptr) {
    absl::StrAppend(&what, " for ", DescribePartitions(offsets));
  }
  return KafkaError(final_err, what);
}

absl::StatusOr<PartitionListPtr> Consumer::Committed(
    const rd_kafka_topic_partition_list_t* partitions,
    std::chrono::milliseconds timeout) {
  CheckOwnerThread();
  PartitionListPtr out = CopyPartitionList(partitions);
  if (out == nullptr) {
    return absl::InvalidArgumentError("Committed() needs a partition list");
  }
  if (absl::Status s =
          KafkaError(rd_kafka_committed(rk_.get(), out.get(),
                                        static_cast<int>(timeout.count())),
                     absl::StrCat("cannot fetch committed offsets of ",
                                  DescribePartitions(partitions)));
      !s.ok()) {
    return s;
  }
  const std::string failed = DescribePartitions(out.get(), true);
  if (!failed.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot fetch committed offsets of ", failed));
  }
  return out;
}

absl::StatusOr<PartitionListPtr> Consumer::Position(
    const rd_kafka_topic_partition_list_t* partitions) {
  CheckOwnerThread();
  PartitionListPtr out = CopyPartitionList(partitions);
  if (out == nullptr) {
    return absl::InvalidArgumentError("Position() needs a partition list");
  }
  if (absl::Status s = KafkaError(rd_kafka_position(rk_.get(), out.get()),
                                  absl::StrCat("cannot read positions of ",
                                               DescribePartitions(partitions)));
      !s.ok()) {
    return s;
  }
  return out;
}

absl::StatusOr<PartitionListPtr> Consumer::Assignment() {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (absl::Status s = KafkaError(rd_kafka_assignment(rk_.get(), &list),
                                  "cannot read the assignment");
      !s.ok()) {
    return s;
  }
  return PartitionListPtr(list);
}

GroupMetadataPtr Consumer::GroupMetadata() const {
  return GroupMetadataPtr(rd_kafka_consumer_group_metadata(rk_.get()));
}

absl::StatusOr<QueuePtr> Consumer::PartitionQueue(std::string_view topic,
                                                  int32_t partition) {
  const std::string t(topic);
  QueuePtr q(rd_kafka_queue_get_partition(rk_.get(), t.c_str(), partition));
  if (q == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "no partition queue for ", ToAbsl(topic), " [", partition, "]"));
  }
  return q;
}

QueuePtr Consumer::NewQueue() {
  return QueuePtr(rd_kafka_queue_new(rk_.get()));
}

absl::Status Consumer::Close() {
  if (closed_) return close_status_;
  closed_ = true;
  // Serves the final revoke (listener included) on this thread.
  close_status_ =
      KafkaError(rd_kafka_consumer_close(rk_.get()),
                 absl::StrCat("closing consumer ", rd_kafka_name(rk_.get())));
  return close_status_;
}

}  // namespace sluice::internal
