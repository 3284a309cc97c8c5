#include "engine/restorer.h"

#include "src/log.h"

namespace sluice::internal {
namespace {

constexpr auto kProgressLogInterval = std::chrono::seconds(5);

std::string_view Header(rd_kafka_message_t* m, std::string_view name) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, name.data(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return {};
  }
  return std::string_view(static_cast<const char*>(value), size);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Restorer>> Restorer::Create(Settings settings) {
  std::unique_ptr<Restorer> r(new Restorer(std::move(settings)));
  KafkaProperties props = r->settings_.consumer_properties;
  props.emplace_back("enable.partition.eof", "true");
  // Restoration reads data that is already there: a fetch that long-polls would hold up
  // the next partition's start and the offset queries queued behind it on the connection.
  props.emplace_back("fetch.wait.max.ms", "10");
  // A checkpoint past the changelog's end must be noticed, not silently reset.
  props.emplace_back("auto.offset.reset", "error");
  absl::StatusOr<KafkaConf> conf = KafkaConf::Create(props, "consumer.");
  if (!conf.ok()) return conf.status();
  absl::StatusOr<RdKafkaPtr> rk = conf->NewClient(RD_KAFKA_CONSUMER, "restore consumer");
  if (!rk.ok()) return rk.status();
  r->rk_ = std::move(*rk);
  r->queue_.reset(rd_kafka_queue_new(r->rk_.get()));
  return r;
}

Restorer::~Restorer() {
  for (auto& [key, p] : partitions_) rd_kafka_consume_stop(p.topic, p.partition);
  partitions_.clear();
  queue_.reset();
  topics_.clear();
  rk_.reset();
}

absl::StatusOr<rd_kafka_topic_t*> Restorer::Topic(const std::string& name) {
  auto it = topics_.find(name);
  if (it != topics_.end()) return it->second.get();
  TopicPtr rkt(rd_kafka_topic_new(rk_.get(), name.c_str(), nullptr));
  if (rkt == nullptr) {
    return absl::InternalError(Cat("restore consumer: cannot open topic '", name, "': ",
                                   rd_kafka_err2str(rd_kafka_last_error())));
  }
  return topics_.emplace(name, std::move(rkt)).first->second.get();
}

absl::StatusOr<bool> Restorer::Add(Task* task) {
  TaskState* state = task->state();
  if (state == nullptr) return true;
  const int32_t partition = task->id().partition;
  bool started = false;
  for (TaskState::Store* store : state->stores()) {
    if (store->changelog_topic.empty()) continue;
    absl::StatusOr<rd_kafka_topic_t*> rkt = Topic(store->changelog_topic);
    if (!rkt.ok()) return rkt.status();
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk_.get(), store->changelog_topic.c_str(), partition, &low, &high,
        static_cast<int>(settings_.api_timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(Cat("task ", task->id().ToString(), ": cannot read the offsets of changelog '",
                                        store->changelog_topic, "' partition ", partition,
                                        " to restore store '", store->spec.name, "': ",
                                        rd_kafka_err2str(err)));
    }
    int64_t start = store->checkpoint;
    if (start >= 0 && (start > high || start < low)) {
      Log(LogLevel::kWarn, "store '", store->spec.name, "' partition ", partition,
          ": its checkpoint (offset ", start, ") is outside changelog '", store->changelog_topic,
          "' (offsets ", low, "..", high, "; truncated or re-created); wiping the store and "
          "restoring it from the beginning");
      if (absl::Status s = state->ResetStore(*store); !s.ok()) return s;
      start = -1;
    }
    if (start < 0) {
      if (low > 0) {
        Log(LogLevel::kWarn, "changelog '", store->changelog_topic, "' partition ", partition,
            " starts at offset ", low, ", not 0: records below it were deleted (retention, or "
            "the embedded broker's per-partition cap), so store '", store->spec.name,
            "' can only be restored from what is left");
      }
      start = low;
      if (absl::Status s = state->BeginFullRestore(*store, high - low); !s.ok()) return s;
    }
    if (start >= high) continue;
    Partition p;
    p.task = task;
    p.store = store;
    p.topic = *rkt;
    p.partition = partition;
    p.start = p.position = start;
    p.end = high;
    p.began = p.last_log = std::chrono::steady_clock::now();
    Log(LogLevel::kInfo, "task ", task->id().ToString(), ": restoring store '", store->spec.name,
        "' from changelog '", store->changelog_topic, "' partition ", partition, ", offsets ",
        start, "..", high, " (", high - start, " records at most)");
    if (settings_.listener) {
      settings_.listener->OnRestoreStart(store->spec.name, store->changelog_topic, partition,
                                         start, high);
    }
    auto [it, inserted] = partitions_.insert_or_assign(Key{*rkt, partition}, p);
    if (absl::Status s = Start(it->second); !s.ok()) {
      partitions_.erase(it);
      return s;
    }
    started = true;
  }
  return !started;
}

absl::Status Restorer::Start(Partition& p) {
  if (rd_kafka_consume_start_queue(p.topic, p.partition, p.position, queue_.get()) == -1) {
    return absl::InternalError(Cat("restore consumer: cannot start reading '",
                                   rd_kafka_topic_name(p.topic), "' partition ", p.partition,
                                   ": ", rd_kafka_err2str(rd_kafka_last_error())));
  }
  return absl::OkStatus();
}

void Restorer::Remove(Task* task) {
  for (auto it = partitions_.begin(); it != partitions_.end();) {
    if (it->second.task == task) {
      rd_kafka_consume_stop(it->second.topic, it->second.partition);
      it = partitions_.erase(it);
    } else {
      ++it;
    }
  }
  finished_.erase(task);
}

absl::Status Restorer::Rewind(Partition& p, std::string_view why) {
  Log(LogLevel::kWarn, "store '", p.store->spec.name, "' partition ", p.partition,
      ": changelog '", rd_kafka_topic_name(p.topic), "' ", why,
      "; wiping the store and restoring it from the beginning");
  rd_kafka_consume_stop(p.topic, p.partition);
  if (absl::Status s = p.task->state()->ResetStore(*p.store); !s.ok()) return s;
  int64_t low = 0, high = 0;
  rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
      rk_.get(), rd_kafka_topic_name(p.topic), p.partition, &low, &high,
      static_cast<int>(settings_.api_timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(Cat("cannot read the offsets of changelog '",
                                      rd_kafka_topic_name(p.topic), "' partition ", p.partition,
                                      ": ", rd_kafka_err2str(err)));
  }
  p.start = p.position = low;
  p.end = high;
  p.restored = 0;
  if (absl::Status s = p.task->state()->BeginFullRestore(*p.store, high - low); !s.ok()) return s;
  return Start(p);
}

absl::Status Restorer::Apply(Partition& p, rd_kafka_message_t** messages, size_t count) {
  records_.clear();
  for (size_t i = 0; i < count; ++i) {
    rd_kafka_message_t* m = messages[i];
    if (m->offset < p.position || m->offset >= p.end) continue;
    ChangelogRecord r;
    r.key = std::string_view(static_cast<const char*>(m->key), m->key ? m->key_len : 0);
    if (m->payload != nullptr) {
      r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
    }
    r.timestamp = rd_kafka_message_timestamp(m, nullptr);
    r.positions = Header(m, kPositionHeader);
    r.offset = m->offset;
    records_.push_back(r);
  }
  if (records_.empty()) return absl::OkStatus();
  absl::Status s = p.task->state()->Restore(*p.store, records_);
  if (!s.ok()) {
    return absl::Status(s.code(), Cat("task ", p.task->id().ToString(), ": restoring store '",
                                      p.store->spec.name, "': ", s.message()));
  }
  p.position = records_.back().offset + 1;
  p.restored += records_.size();
  const std::string& topic = p.store->changelog_topic;
  if (settings_.listener) {
    settings_.listener->OnBatchRestored(p.store->spec.name, topic, p.partition, p.position,
                                        records_.size());
  }
  auto now = std::chrono::steady_clock::now();
  if (now - p.last_log >= kProgressLogInterval) {
    p.last_log = now;
    Log(LogLevel::kInfo, "restoring store '", p.store->spec.name, "' partition ", p.partition,
        ": ", p.position - p.start, " / ", p.end - p.start, " offsets read, ", p.restored,
        " records applied");
  }
  return absl::OkStatus();
}

void Restorer::Finish(Partition& p) {
  rd_kafka_consume_stop(p.topic, p.partition);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - p.began).count();
  Log(LogLevel::kInfo, "restored store '", p.store->spec.name, "' partition ", p.partition,
      ": ", p.restored, " records in ", static_cast<int64_t>(seconds * 1000), " ms");
  if (settings_.listener) {
    settings_.listener->OnRestoreEnd(p.store->spec.name, p.store->changelog_topic, p.partition,
                                     p.restored);
  }
  finished_[p.task][p.store->spec.name] = p.end;
}

absl::StatusOr<std::vector<Task*>> Restorer::Step(std::chrono::milliseconds timeout) {
  std::vector<Task*> ready;
  if (partitions_.empty()) return ready;
  messages_.resize(kMaxRecordsPerStep);
  ssize_t n = rd_kafka_consume_batch_queue(queue_.get(), static_cast<int>(timeout.count()),
                                           messages_.data(), messages_.size());
  absl::Status status;
  std::vector<Key> done;
  for (ssize_t i = 0; i < n && status.ok();) {
    rd_kafka_message_t* m = messages_[i];
    ssize_t j = i + 1;
    while (j < n && messages_[j]->rkt == m->rkt && messages_[j]->partition == m->partition &&
           messages_[j]->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++j;
    }
    auto it = partitions_.find(Key{m->rkt, m->partition});
    if (it != partitions_.end()) {
      Partition& p = it->second;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->offset >= p.end || p.position >= p.end) done.push_back(it->first);
      } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                 m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        status = Rewind(p, Cat("has no offset ", p.position, " (", rd_kafka_message_errstr(m), ")"));
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        Log(LogLevel::kWarn, "restore consumer: ", rd_kafka_topic_name(m->rkt), " [",
            m->partition, "]: ", rd_kafka_message_errstr(m));
      } else {
        status = Apply(p, messages_.data() + i, static_cast<size_t>(j - i));
        if (status.ok() && p.position >= p.end) done.push_back(it->first);
      }
    }
    i = j;
  }
  for (ssize_t i = 0; i < n; ++i) rd_kafka_message_destroy(messages_[i]);
  if (!status.ok()) return status;
  for (const Key& key : done) {
    auto it = partitions_.find(key);
    if (it == partitions_.end()) continue;
    Task* task = it->second.task;
    Finish(it->second);
    partitions_.erase(it);
    bool more = false;
    for (const auto& [k, p] : partitions_) more = more || p.task == task;
    if (more) continue;
    absl::Status s = task->state()->FinishRestore(finished_[task]);
    finished_.erase(task);
    if (!s.ok()) {
      return absl::Status(s.code(), Cat("task ", task->id().ToString(),
                                        ": finishing restoration: ", s.message()));
    }
    ready.push_back(task);
  }
  return ready;
}

}  // namespace sluice::internal
