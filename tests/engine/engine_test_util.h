// Helpers for engine integration tests: produce input to and read output from an
// embedded broker with plain librdkafka clients, independent of the engine under test.
#pragma once

#include <librdkafka/rdkafka.h>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sluice/embedded_broker.h"
#include "src/kafka/consumer.h"
#include "src/kafka/producer.h"

namespace sluice::testing {

struct Rec {
  std::optional<std::string> key;
  std::optional<std::string> value;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp = -1;
};

inline std::unique_ptr<internal::Producer> MakeProducer(const std::string& servers) {
  auto p = internal::Producer::Create(
      {{"bootstrap.servers", servers}, {"partitioner", "murmur2_random"}, {"linger.ms", "1"}});
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(*p) : nullptr;
}

inline void ProduceAll(const std::string& servers, const std::string& topic,
                       const std::vector<std::pair<std::string, std::string>>& records) {
  auto producer = MakeProducer(servers);
  ASSERT_NE(producer, nullptr);
  for (const auto& [k, v] : records) {
    ASSERT_TRUE(producer->Produce(topic, RD_KAFKA_PARTITION_UA, k.data(), k.size(), v.data(),
                                  v.size(), 0, nullptr)
                    .ok());
  }
  ASSERT_TRUE(producer->Flush(std::chrono::seconds(30)).ok());
}

// Produces (key, value, timestamp ms) records and waits for them.
struct TimedRecord {
  std::string key;
  std::string value;
  int64_t timestamp;
};
inline void ProduceTimed(const std::string& servers, const std::string& topic,
                         const std::vector<TimedRecord>& records) {
  auto producer = MakeProducer(servers);
  ASSERT_NE(producer, nullptr);
  for (const TimedRecord& r : records) {
    ASSERT_TRUE(producer->Produce(topic, RD_KAFKA_PARTITION_UA, r.key.data(), r.key.size(),
                                  r.value.data(), r.value.size(), r.timestamp, nullptr)
                    .ok());
  }
  ASSERT_TRUE(producer->Flush(std::chrono::seconds(30)).ok());
}

// Reads every partition of `topic` from the beginning until `want` records arrived or
// `timeout` passed (a plain assign, no group).
inline std::vector<Rec> ReadTopic(const std::string& servers, const std::string& topic,
                                  int partitions, size_t want,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  std::vector<Rec> out;
  auto consumer = internal::Consumer::Create(
      {{"bootstrap.servers", servers}, {"group.id", "reader-" + topic},
       {"enable.auto.commit", "false"}, {"enable.partition.eof", "false"}},
      nullptr);
  EXPECT_TRUE(consumer.ok()) << consumer.status();
  if (!consumer.ok()) return out;
  rd_kafka_t* rk = (*consumer)->handle();
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Rec r;
      if (m->key) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value = std::string(static_cast<const char*>(m->payload), m->len);
      r.partition = m->partition;
      r.offset = m->offset;
      r.timestamp = rd_kafka_message_timestamp(m, nullptr);
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk, nullptr);
  return out;
}

// A fresh state directory per test, removed afterwards.
class StateDir {
 public:
  StateDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "sluice-state-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~StateDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Fast group joins for tests.
inline std::map<std::string, std::string> TestAppConfig(const std::string& app_id) {
  return {{"application.id", app_id},
          {"commit.interval.ms", "200"},
          {"default.api.timeout.ms", "10000"},
          {"consumer.session.timeout.ms", "6000"},
          {"consumer.heartbeat.interval.ms", "500"},
          {"consumer.topic.metadata.refresh.interval.ms", "1000"}};
}

}  // namespace sluice::testing
