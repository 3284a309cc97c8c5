// Plain librdkafka pieces the Kafka benchmarks share (e2e_bench, sluice-nexmark): client
// creation, watermarks, topic warm-up, the App's producer settings, and the hand-written
// consume -> transform -> produce loop a user would write without Sluice.
//
// The loop: one consumer and one producer per thread; consume a batch of up to 1000
// records, produce what the transform returns, serve delivery reports, and every commit
// interval flush the producer and then commit the offsets consumed (at-least-once). Its
// partitions are assigned statically (no group join, no rebalance).
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench/bench_util.h"

namespace sluice::bench {

[[noreturn]] inline void KafkaDie(const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", ProgramName(), why.c_str());
  std::exit(1);
}

using KafkaClock = std::chrono::steady_clock;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

inline KafkaPtr NewClient(rd_kafka_type_t type,
                   const std::vector<std::pair<std::string, std::string>>& props,
                   void (*dr_cb)(rd_kafka_t*, const rd_kafka_message_t*, void*) = nullptr,
                   void* opaque = nullptr) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      KafkaDie("config " + k + "=" + v + ": " + err);
    }
  }
  if (dr_cb != nullptr) rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
  if (opaque != nullptr) rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) KafkaDie(std::string("rd_kafka_new: ") + err);
  return KafkaPtr(rk);
}

struct Watermarks {
  int64_t low_min = 0;   // smallest low watermark over the partitions
  int64_t high_sum = 0;  // records written
};

inline Watermarks QueryWatermarks(rd_kafka_t* rk, const std::string& topic, int partitions) {
  Watermarks w;
  w.low_min = INT64_MAX;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = -1, high = -1;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 5000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaDie("watermarks of " + topic + ": " + rd_kafka_err2str(err));
    }
    w.low_min = std::min(w.low_min, low);
    w.high_sum += high;
  }
  return w;
}

// Loads a topic's metadata into a producer, so its first produce does not wait for a
// metadata refresh.
inline rd_kafka_topic_t* WarmTopic(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) KafkaDie("metadata of " + topic + ": " + rd_kafka_err2str(err));
  rd_kafka_metadata_destroy(md);
  return rkt;
}

inline std::vector<std::pair<std::string, std::string>> ProducerProps(const std::string& servers,
                                                               const std::string& client_id) {
  // The App's stream-thread producer settings (engine/app.cc ThreadSettings).
  return {{"bootstrap.servers", servers},
          {"client.id", client_id},
          {"partitioner", "murmur2_random"},
          {"enable.idempotence", "true"},
          {"linger.ms", "5"}};
}

class HandLoop {
 public:
  // What the loop does with a consumed record: true to produce (key, value), views valid
  // until the next call (the record's own bytes, or the transform's buffers).
  using Transform =
      std::function<bool(const rd_kafka_message_t& in, std::string_view* key, std::string_view* value)>;

  HandLoop(std::string servers, std::string in, std::string out, std::string group,
           std::vector<int32_t> partitions, Transform transform, int64_t commit_ms, int index)
      : servers_(std::move(servers)), in_(std::move(in)), out_(std::move(out)),
        group_(std::move(group)), partitions_(std::move(partitions)), transform_(std::move(transform)),
        commit_interval_(std::chrono::milliseconds(commit_ms)), index_(index) {}

  // Creates and warms the clients (before timing), then consumes until Stop().
  void Start() { thread_ = std::thread([this] { Run(); }); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool ready() const { return ready_.load(); }
  uint64_t processed() const { return processed_.load(std::memory_order_relaxed); }
  int64_t produced() const { return produced_; }
  int64_t failed() const { return failed_.load(); }
  int64_t commit_errors() const { return commit_errors_; }

 private:
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err) static_cast<HandLoop*>(opaque)->failed_.fetch_add(1);
  }

  void Run() {
    const std::string id = "hand-" + std::to_string(index_);
    KafkaPtr producer =
        NewClient(RD_KAFKA_PRODUCER, ProducerProps(servers_, id + "-producer"), &OnDelivery, this);
    rd_kafka_topic_t* rkt = WarmTopic(producer.get(), out_);
    KafkaPtr consumer = NewClient(
        RD_KAFKA_CONSUMER,
        {{"bootstrap.servers", servers_},
         {"group.id", group_},
         {"client.id", id + "-consumer"},
         {"enable.auto.commit", "false"},
         {"enable.auto.offset.store", "false"},
         {"enable.partition.eof", "false"},
         {"auto.offset.reset", "earliest"},
         {"queued.min.messages", "1000000"}});
    rd_kafka_poll_set_consumer(consumer.get());
    rd_kafka_topic_partition_list_t* assignment =
        rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size()));
    for (int32_t p : partitions_) {
      rd_kafka_topic_partition_list_add(assignment, in_.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(consumer.get(), assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(consumer.get());
    ready_ = true;

    std::vector<rd_kafka_message_t*> messages(1000);
    std::vector<int64_t> next(64, -1);  // next offset to commit, by partition
    bool dirty = false;
    auto last_commit = KafkaClock::now();
    auto commit = [&] {
      // At-least-once: every output of the consumed input acknowledged, then commit.
      if (rd_kafka_flush(producer.get(), 60000) != RD_KAFKA_RESP_ERR_NO_ERROR || failed_ > 0) {
        KafkaDie("hand-written loop: outputs not acknowledged");
      }
      rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(8);
      for (int32_t p : partitions_) {
        if (next[p] >= 0) rd_kafka_topic_partition_list_add(offsets, in_.c_str(), p)->offset = next[p];
      }
      if (offsets->cnt > 0 && rd_kafka_commit(consumer.get(), offsets, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++commit_errors_;
      }
      rd_kafka_topic_partition_list_destroy(offsets);
      last_commit = KafkaClock::now();
      dirty = false;
    };
    while (!stop_.load(std::memory_order_relaxed)) {
      ssize_t n = rd_kafka_consume_batch_queue(queue, 100, messages.data(), messages.size());
      uint64_t records = 0;
      for (ssize_t i = 0; i < n; ++i) {
        rd_kafka_message_t* m = messages[i];
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          ++records;
          std::string_view key, value;
          if (transform_(*m, &key, &value)) Produce(producer.get(), rkt, m, key, value);
          next[m->partition] = m->offset + 1;
        }
        rd_kafka_message_destroy(m);
      }
      if (records > 0) {
        processed_.fetch_add(records, std::memory_order_relaxed);
        dirty = true;
      }
      rd_kafka_poll(producer.get(), 0);
      if (dirty && KafkaClock::now() - last_commit >= commit_interval_) commit();
    }
    commit();
    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(consumer.get());
    rd_kafka_topic_destroy(rkt);
  }

  void Produce(rd_kafka_t* producer, rd_kafka_topic_t* rkt, const rd_kafka_message_t* m,
               std::string_view key, std::string_view value) {
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_TIMESTAMP(rd_kafka_message_timestamp(m, nullptr)), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) KafkaDie(std::string("produce: ") + rd_kafka_err2str(err));
      rd_kafka_poll(producer, 10);
    }
    ++produced_;
  }

  const std::string servers_, in_, out_, group_;
  const std::vector<int32_t> partitions_;
  const Transform transform_;
  const KafkaClock::duration commit_interval_;
  const int index_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ready_{false};
  std::atomic<uint64_t> processed_{0};
  std::atomic<int64_t> failed_{0};
  int64_t produced_ = 0;  // loop thread; read after Stop()
  int64_t commit_errors_ = 0;
};

}  // namespace sluice::bench
