#include "src/kafka/producer.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sluice/embedded_broker.h"
#include "src/kafka/consumer.h"
#include "tests/kafka/kafka_test_util.h"

namespace sluice::internal {
namespace {

using std::chrono::milliseconds;
using testing::ConsumerProps;
using testing::ProducerProps;
using testing::StartBroker;
using testing::Str;
using testing::UniqueName;

// Kafka protocol ApiKey of ProduceRequest.
constexpr int16_t kProduceApiKey = 0;

// A consumed record, copied out of librdkafka (messages must not outlive the
// consumer that returned them).
struct Record {
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp = -1;
  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  int32_t partition = -1;
  int64_t offset = -1;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

Record Copy(const rd_kafka_message_t* m) {
  Record r;
  if (m->key != nullptr) r.key = Str(m->key, m->key_len);
  if (m->payload != nullptr) r.value = Str(m->payload, m->len);
  r.timestamp = rd_kafka_message_timestamp(m, &r.timestamp_type);
  r.partition = m->partition;
  r.offset = m->offset;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* val;
    size_t len;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &len) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      r.headers.emplace_back(
          name, val == nullptr ? std::nullopt
                               : std::optional<std::string>(Str(val, len)));
    }
  }
  return r;
}

// Consumes `n` records of `topic` through a fresh group consumer (no
// listener, so they come back from Poll()).
std::vector<Record> ConsumeAll(const std::string& servers,
                               const std::string& topic, size_t n) {
  auto consumer =
      Consumer::Create(ConsumerProps(servers, UniqueName("g")), nullptr);
  EXPECT_TRUE(consumer.ok()) << consumer.status();
  if (!consumer.ok()) return {};
  EXPECT_TRUE((*consumer)->Subscribe({topic}).ok());
  std::vector<Record> out;
  testing::PollUntil(
      [&] {
        MessagePtr m = (*consumer)->Poll(milliseconds(100));
        if (m != nullptr) out.push_back(Copy(m.get()));
      },
      [&] { return out.size() >= n; }, std::chrono::seconds(8));
  EXPECT_EQ(out.size(), n);
  EXPECT_TRUE((*consumer)->Close().ok());
  return out;
}

TEST(ProducerTest, RoundTripKeysNullsHeadersTimestamps) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = UniqueName("roundtrip");
  ASSERT_TRUE(broker->CreateTopic(topic, 1).ok());
  auto producer = Producer::Create(ProducerProps(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.ok()) << producer.status();
  Producer& p = **producer;

  HeadersPtr headers(rd_kafka_headers_new(2));
  ASSERT_EQ(rd_kafka_header_add(headers.get(), "h1", -1, "a", 1), 0);
  ASSERT_EQ(rd_kafka_header_add(headers.get(), "h2", -1, nullptr, 0), 0);
  const std::string k1 = "k1", v1 = "v1", v2 = "v2", k3 = "k3";
  ASSERT_TRUE(p.Produce(topic, 0, k1.data(), k1.size(), v1.data(), v1.size(),
                        1000, headers.get())
                  .ok());
  ASSERT_TRUE(
      p.Produce(topic, 0, nullptr, 0, v2.data(), v2.size(), 2000, nullptr)
          .ok());
  ASSERT_TRUE(
      p.Produce(topic, 0, k3.data(), k3.size(), nullptr, 0, 3000, nullptr)
          .ok());
  ASSERT_TRUE(p.Produce(topic, 0, "", 0, "", 0, 4000, nullptr).ok());
  // The caller keeps its headers: they were copied.
  EXPECT_EQ(rd_kafka_header_cnt(headers.get()), 2u);
  ASSERT_TRUE(p.Flush(std::chrono::seconds(5)).ok());
  EXPECT_EQ(p.produced_count(), 4);
  EXPECT_EQ(p.acked_count(), 4);
  EXPECT_EQ(p.failed_count(), 0);

  std::vector<Record> msgs = ConsumeAll(broker->bootstrap_servers(), topic, 4);
  ASSERT_EQ(msgs.size(), 4u);
  using Headers =
      std::vector<std::pair<std::string, std::optional<std::string>>>;
  // 1: key, value, headers (one with a null value), timestamp.
  EXPECT_EQ(msgs[0].key, "k1");
  EXPECT_EQ(msgs[0].value, "v1");
  EXPECT_EQ(msgs[0].timestamp, 1000);
  EXPECT_EQ(msgs[0].timestamp_type, RD_KAFKA_TIMESTAMP_CREATE_TIME);
  EXPECT_EQ(msgs[0].headers, (Headers{{"h1", "a"}, {"h2", std::nullopt}}));
  // 2: null key, no headers.
  EXPECT_EQ(msgs[1].key, std::nullopt);
  EXPECT_EQ(msgs[1].value, "v2");
  EXPECT_EQ(msgs[1].timestamp, 2000);
  EXPECT_TRUE(msgs[1].headers.empty());
  // 3: tombstone.
  EXPECT_EQ(msgs[2].key, "k3");
  EXPECT_EQ(msgs[2].value, std::nullopt);
  EXPECT_EQ(msgs[2].timestamp, 3000);
  // 4: empty but present key and value.
  EXPECT_EQ(msgs[3].key, "");
  EXPECT_EQ(msgs[3].value, "");
  EXPECT_EQ(msgs[3].timestamp, 4000);
  for (size_t i = 0; i < msgs.size(); ++i) {
    EXPECT_EQ(msgs[i].offset, static_cast<int64_t>(i));
    EXPECT_EQ(msgs[i].partition, 0);
  }
}

TEST(ProducerTest, FlushReportsDeliveryErrorNamingTopic) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = UniqueName("undeliverable");
  ASSERT_TRUE(broker->CreateTopic(topic, 1).ok());
  KafkaProperties props = ProducerProps(broker->bootstrap_servers());
  props.emplace_back("message.timeout.ms", "800");
  props.emplace_back("retry.backoff.ms", "20");
  auto producer = Producer::Create(props);
  ASSERT_TRUE(producer.ok()) << producer.status();
  Producer& p = **producer;
  // Warm up: the first record is acknowledged.
  ASSERT_TRUE(p.Produce(topic, 0, "k", 1, "v", 1, 0, nullptr).ok());
  ASSERT_TRUE(p.Flush(std::chrono::seconds(5)).ok());

  // Every Produce request now fails with a retriable error until the record
  // times out locally.
  broker->PushRequestErrors(
      kProduceApiKey,
      std::vector<int>(500, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS));
  ASSERT_TRUE(p.Produce(topic, 0, "k", 1, "v", 1, 0, nullptr).ok());
  absl::Status s = p.Flush(std::chrono::seconds(5));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("topic " + topic + " [0]"), std::string::npos)
      << s;
  EXPECT_NE(s.message().find("MSG_TIMED_OUT"), std::string::npos) << s;
  EXPECT_EQ(p.failed_count(), 1);

  // Sticky until cleared, even though nothing new failed.
  broker->ClearRequestErrors(kProduceApiKey);
  EXPECT_FALSE(p.Flush(milliseconds(100)).ok());
  p.ClearDeliveryError();
  ASSERT_TRUE(p.Produce(topic, 0, "k", 1, "v", 1, 0, nullptr).ok());
  EXPECT_TRUE(p.Flush(std::chrono::seconds(5)).ok());
}

TEST(ProducerTest, NonRetriableErrorFailsFast) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = UniqueName("denied");
  ASSERT_TRUE(broker->CreateTopic(topic, 2).ok());
  auto producer = Producer::Create(ProducerProps(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->Produce(topic, 1, "k", 1, "v", 1, 0, nullptr).ok());
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(5)).ok());
  broker->PushRequestErrors(kProduceApiKey,
                            {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED});
  ASSERT_TRUE((*producer)->Produce(topic, 1, "k", 1, "v", 1, 0, nullptr).ok());
  absl::Status s = (*producer)->Flush(std::chrono::seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_NE(s.message().find("topic " + topic + " [1]"), std::string::npos)
      << s;
}

TEST(ProducerTest, QueueFullGivesUpAfterTimeoutNamingTopic) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = UniqueName("full");
  ASSERT_TRUE(broker->CreateTopic(topic, 1).ok());
  KafkaProperties props = ProducerProps(broker->bootstrap_servers());
  props.emplace_back("queue.buffering.max.messages", "1");
  props.emplace_back("message.timeout.ms", "1000");
  ProducerOptions options;
  options.queue_full_timeout = milliseconds(200);
  auto producer = Producer::Create(props, options);
  ASSERT_TRUE(producer.ok()) << producer.status();
  ASSERT_TRUE(broker->SetBrokerDown(-1).ok());
  ASSERT_TRUE((*producer)->Produce(topic, 0, "k", 1, "v", 1, 0, nullptr).ok());
  absl::Status s = (*producer)->Produce(topic, 0, "k", 1, "v", 1, 0, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("topic " + topic), std::string::npos) << s;
  // The record accepted before the broker went down times out; Flush says so.
  EXPECT_FALSE((*producer)->Flush(std::chrono::seconds(5)).ok());
}

TEST(ProducerTest, PartitionCountFromMetadata) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = UniqueName("counted");
  ASSERT_TRUE(broker->CreateTopic(topic, 3).ok());
  auto producer = Producer::Create(ProducerProps(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.ok());
  auto n = (*producer)->PartitionCount(topic, std::chrono::seconds(5));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3);
  // Cached: still answers with the broker gone.
  ASSERT_TRUE(broker->SetBrokerDown(-1).ok());
  n = (*producer)->PartitionCount(topic, milliseconds(100));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3);
}

TEST(ProducerTest, MockAutoCreatesUnknownTopicsWithFourPartitions) {
  // Documents librdkafka 2.0.2 mock behaviour the engine relies on (see
  // embedded_broker.h): a producer's metadata request for an unknown topic
  // creates it with 4 partitions.
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  auto producer = Producer::Create(ProducerProps(broker->bootstrap_servers()));
  ASSERT_TRUE(producer.ok());
  const std::string topic = UniqueName("auto");
  auto n = (*producer)->PartitionCount(topic, std::chrono::seconds(5));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4);
  EXPECT_EQ(broker->CreateTopic(topic, 2).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(ProducerTest, Murmur2RandomPlacesKeysLikeJava) {
  // Expected partitions (of 4) computed independently with python-kafka's
  // murmur2, which mirrors Java's Utils.murmur2 / DefaultPartitioner.
  const std::vector<std::pair<std::string, int32_t>> expected = {
      {"a", 0},
      {"order-1", 2},
      {"order-2", 3},
      {"order-3", 3},
      {"customer-42", 1}};
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = UniqueName("murmur");
  ASSERT_TRUE(broker->CreateTopic(topic, 4).ok());
  KafkaProperties props = ProducerProps(broker->bootstrap_servers());
  props.emplace_back("partitioner", "murmur2_random");
  auto producer = Producer::Create(props);
  ASSERT_TRUE(producer.ok());
  for (const auto& [key, partition] : expected) {
    ASSERT_TRUE((*producer)
                    ->Produce(topic, RD_KAFKA_PARTITION_UA, key.data(),
                              key.size(), "v", 1, 0, nullptr)
                    .ok());
  }
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(5)).ok());
  std::vector<Record> msgs =
      ConsumeAll(broker->bootstrap_servers(), topic, expected.size());
  ASSERT_EQ(msgs.size(), expected.size());
  for (const Record& m : msgs) {
    for (const auto& [k, partition] : expected) {
      if (k == m.key) {
        EXPECT_EQ(m.partition, partition) << k;
      }
    }
  }
}

}  // namespace
}  // namespace sluice::internal
