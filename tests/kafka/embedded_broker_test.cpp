#include "sluice/embedded_broker.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "src/kafka/admin.h"
#include "src/kafka/mock_cluster.h"
#include "src/kafka/producer.h"
#include "tests/kafka/kafka_test_util.h"

namespace sluice {
namespace {

using internal::testing::ProducerProps;
using internal::testing::UniqueName;
using std::chrono::seconds;

TEST(EmbeddedBrokerTest, StartsBrokersOnLoopback) {
  auto broker = EmbeddedBroker::Start(3);
  ASSERT_TRUE(broker.ok()) << broker.status();
  EXPECT_EQ((*broker)->num_brokers(), 3);
  std::vector<std::string> servers =
      absl::StrSplit((*broker)->bootstrap_servers(), ',');
  ASSERT_EQ(servers.size(), 3u);
  for (const std::string& s : servers) {
    EXPECT_EQ(s.rfind("127.0.0.1:", 0), 0u) << s;
  }
  ASSERT_NE((*broker)->mock(), nullptr);
  EXPECT_NE((*broker)->mock()->raw(), nullptr);
}

TEST(EmbeddedBrokerTest, RejectsZeroBrokers) {
  auto broker = EmbeddedBroker::Start(0);
  EXPECT_EQ(broker.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EmbeddedBrokerTest, CreateTopicValidatesAndReportsExisting) {
  auto broker = EmbeddedBroker::Start(2);
  ASSERT_TRUE(broker.ok());
  EmbeddedBroker& b = **broker;
  ASSERT_TRUE(b.CreateTopic("t", 3, 2).ok());
  absl::Status s = b.CreateTopic("t", 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_NE(s.message().find("topic t"), std::string::npos) << s;
  s = b.CreateTopic("u", 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("topic u"), std::string::npos) << s;
  EXPECT_EQ(b.CreateTopic("v", 1, 3).code(),
            absl::StatusCode::kInvalidArgument);

  auto admin = internal::Admin::Create(
      {{"bootstrap.servers", b.bootstrap_servers()}, {"log_level", "3"}});
  ASSERT_TRUE(admin.ok());
  auto counts = (*admin)->PartitionCounts({"t"}, seconds(5));
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->at("t"), 3);
}

TEST(EmbeddedBrokerTest, TopicErrorShowsInMetadata) {
  auto broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok());
  const std::string topic = UniqueName("sick");
  ASSERT_TRUE((*broker)->CreateTopic(topic, 1).ok());
  (*broker)->SetTopicError(topic, 29);  // TOPIC_AUTHORIZATION_FAILED
  auto admin = internal::Admin::Create(
      {{"bootstrap.servers", (*broker)->bootstrap_servers()},
       {"log_level", "3"}});
  ASSERT_TRUE(admin.ok());
  auto counts = (*admin)->PartitionCounts({topic}, seconds(5));
  ASSERT_FALSE(counts.ok());
  EXPECT_EQ(counts.status().code(), absl::StatusCode::kPermissionDenied)
      << counts.status();
  EXPECT_NE(counts.status().message().find(topic), std::string::npos);
  (*broker)->SetTopicError(topic, 0);
  counts = (*admin)->PartitionCounts({topic}, seconds(5));
  EXPECT_TRUE(counts.ok()) << counts.status();
}

TEST(EmbeddedBrokerTest, BrokerDownAndUpAgain) {
  auto broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok());
  const std::string topic = UniqueName("updown");
  ASSERT_TRUE((*broker)->CreateTopic(topic, 1).ok());
  internal::KafkaProperties props =
      ProducerProps((*broker)->bootstrap_servers());
  props.emplace_back("reconnect.backoff.ms", "20");
  props.emplace_back("reconnect.backoff.max.ms", "100");
  auto producer = internal::Producer::Create(props);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->Produce(topic, 0, "k", 1, "v", 1, 0, nullptr).ok());
  ASSERT_TRUE((*producer)->Flush(seconds(5)).ok());

  ASSERT_TRUE((*broker)->SetBrokerDown(1).ok());
  ASSERT_TRUE((*producer)->Produce(topic, 0, "k", 1, "v", 1, 0, nullptr).ok());
  // Not acknowledged while the broker is down.
  EXPECT_EQ((*producer)->Flush(std::chrono::milliseconds(300)).code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE((*broker)->SetBrokerUp(1).ok());
  EXPECT_TRUE((*producer)->Flush(seconds(8)).ok());
  EXPECT_EQ((*producer)->acked_count(), 2);
}

TEST(EmbeddedBrokerTest, RttDelaysButDelivers) {
  auto broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok());
  const std::string topic = UniqueName("slow");
  ASSERT_TRUE((*broker)->CreateTopic(topic, 1).ok());
  ASSERT_TRUE((*broker)->SetRtt(1, 50).ok());
  auto producer =
      internal::Producer::Create(ProducerProps((*broker)->bootstrap_servers()));
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->Produce(topic, 0, "k", 1, "v", 1, 0, nullptr).ok());
  EXPECT_TRUE((*producer)->Flush(seconds(5)).ok());
  EXPECT_FALSE((*broker)->SetRtt(99, 1).ok()) << "unknown broker id";
}

}  // namespace
}  // namespace sluice
