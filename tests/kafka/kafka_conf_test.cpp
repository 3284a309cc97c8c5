#include "src/kafka/kafka_conf.h"

#include "gtest/gtest.h"
#include "src/kafka/consumer.h"
#include "src/kafka/kafka_status.h"
#include "src/kafka/producer.h"

namespace sluice::internal {
namespace {

TEST(KafkaConfTest, AppliesPropertiesInOrder) {
  auto conf =
      KafkaConf::Create(KafkaProperties{{"linger.ms", "1"},
                                        {"linger.ms", "7"},
                                        {"partitioner", "murmur2_random"}},
                        "producer.");
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(*conf->Get("linger.ms"), "7");
  EXPECT_EQ(*conf->Get("partitioner"), "murmur2_random");
}

TEST(KafkaConfTest, AcceptsMap) {
  auto conf =
      KafkaConf::Create(std::map<std::string, std::string>{{"client.id", "x"}});
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(*conf->Get("client.id"), "x");
}

TEST(KafkaConfTest, UnknownKeyNamesPrefixedKey) {
  auto conf = KafkaConf::Create(KafkaProperties{{"foo", "1"}}, "consumer.");
  ASSERT_FALSE(conf.ok());
  EXPECT_EQ(conf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(conf.status().message(),
            "invalid librdkafka property 'consumer.foo': No such "
            "configuration property: \"foo\"");
}

TEST(KafkaConfTest, BadValueNamesKey) {
  auto conf =
      KafkaConf::Create(KafkaProperties{{"linger.ms", "soon"}}, "producer.");
  ASSERT_FALSE(conf.ok());
  EXPECT_NE(conf.status().message().find("'producer.linger.ms'"),
            std::string::npos)
      << conf.status();
}

TEST(KafkaConfTest, GetUnknownIsNotFound) {
  auto conf = KafkaConf::Create(KafkaProperties{});
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(conf->Get("nope.nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(KafkaConfTest, ConsumerAndProducerReportBadKeys) {
  ConsumerOptions copts;
  copts.config_prefix = "consumer.";
  auto consumer = Consumer::Create({{"group.id", "g"}, {"bogus.key", "1"}},
                                   std::move(copts));
  ASSERT_FALSE(consumer.ok());
  EXPECT_NE(consumer.status().message().find("'consumer.bogus.key'"),
            std::string::npos)
      << consumer.status();

  auto producer = Producer::Create({{"acks", "some"}});
  ASSERT_FALSE(producer.ok());
  EXPECT_NE(producer.status().message().find("'producer.acks'"),
            std::string::npos)
      << producer.status();
}

TEST(KafkaConfTest, ConsumerNeedsGroupId) {
  auto consumer =
      Consumer::Create({{"bootstrap.servers", "127.0.0.1:1"}}, nullptr);
  ASSERT_FALSE(consumer.ok());
  EXPECT_NE(consumer.status().message().find("consumer.group.id"),
            std::string::npos)
      << consumer.status();
}

TEST(KafkaStatusTest, MapsErrorCodes) {
  EXPECT_TRUE(KafkaError(RD_KAFKA_RESP_ERR_NO_ERROR, "x").ok());
  absl::Status s =
      KafkaError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "produce to topic t");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("produce to topic t: "), std::string::npos);
  EXPECT_NE(s.message().find("UNKNOWN_TOPIC_OR_PART"), std::string::npos);
  EXPECT_EQ(KafkaErrorCode(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(KafkaErrorCode(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(KafkaErrorCode(RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(KafkaErrorCode(RD_KAFKA_RESP_ERR_PRODUCER_FENCED),
            absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace sluice::internal
