// Reading whole topics back from Kafka for the examples' end-to-end tests: every record
// of every partition up to the high watermark, with headers.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "src/kafka/consumer.h"

namespace read_model::testing {

struct KafkaRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  int32_t partition = 0;
  int64_t offset = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "<absent>";
  }
};

inline std::vector<KafkaRecord> ReadToEnd(const std::string& servers, const std::string& topic,
                                          int partitions,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::vector<KafkaRecord> out;
  auto consumer = sluice::internal::Consumer::Create(
      {{"bootstrap.servers", servers}, {"group.id", "test-reader-" + topic},
       {"enable.auto.commit", "false"}, {"enable.partition.eof", "false"}},
      nullptr);
  EXPECT_TRUE(consumer.ok()) << consumer.status();
  if (!consumer.ok()) return out;
  rd_kafka_t* rk = (*consumer)->handle();
  std::vector<int64_t> end(partitions, 0), next(partitions, 0);
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0;
    EXPECT_EQ(rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &end[p], 10000),
              RD_KAFKA_RESP_ERR_NO_ERROR)
        << topic << " [" << p << "]";
    next[p] = low;
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  auto done = [&] {
    for (int p = 0; p < partitions; ++p) {
      if (next[p] < end[p]) return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaRecord r;
      if (m->key) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value = std::string(static_cast<const char*>(m->payload), m->len);
      r.partition = m->partition;
      r.offset = m->offset;
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          r.headers.emplace_back(name, std::string(static_cast<const char*>(value), size));
        }
      }
      next[m->partition] = m->offset + 1;
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  EXPECT_TRUE(done()) << "read " << out.size() << " records of '" << topic << "' in time";
  rd_kafka_assign(rk, nullptr);
  return out;
}

}  // namespace read_model::testing
