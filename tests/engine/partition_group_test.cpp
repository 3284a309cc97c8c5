// PartitionGroup (engine/partition_group.h): a task's records across its input
// partitions come out smallest timestamp first; max.task.idle.ms decides how long it
// waits for a partition with nothing buffered; a partition holding too much is paused.
// The messages are real librdkafka messages, consumed from the embedded broker.
#include "engine/partition_group.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/sluice.h"
#include "tests/engine/engine_test_util.h"

namespace sluice::internal {
namespace {

using sluice::testing::ProduceTimed;
using sluice::testing::TimedRecord;
using Lag = PartitionGroup::Lag;

// Topics "a" and "b" (one partition each) on an embedded broker, and their records as
// librdkafka messages, by topic, in offset order.
class PartitionGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = EmbeddedBroker::Start().value();
    ASSERT_TRUE(broker_->CreateTopic("a", 1).ok());
    ASSERT_TRUE(broker_->CreateTopic("b", 1).ok());
  }
  void TearDown() override {
    for (auto& [topic, messages] : fetched_) {
      for (rd_kafka_message_t* m : messages) rd_kafka_message_destroy(m);
    }
    fetched_.clear();
    consumer_.reset();
  }

  // Produces `a` and `b` (timestamps), then consumes them all.
  void Fetch(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    for (const auto& [topic, times] : {std::pair{"a", a}, std::pair{"b", b}}) {
      std::vector<TimedRecord> records;
      for (int64_t t : times) records.push_back({"k", "v", t});
      ProduceTimed(broker_->bootstrap_servers(), topic, records);
    }
    auto consumer = Consumer::Create({{"bootstrap.servers", broker_->bootstrap_servers()},
                                      {"group.id", "partition-group-test"},
                                      {"enable.partition.eof", "false"}},
                                     nullptr);
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    consumer_ = std::move(*consumer);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(2);
    for (const char* topic : {"a", "b"}) {
      rd_kafka_topic_partition_list_add(list, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(consumer_->handle(), list);
    rd_kafka_topic_partition_list_destroy(list);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (fetched_["a"].size() + fetched_["b"].size() < a.size() + b.size() &&
           std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_->handle(), 100);
      if (m == nullptr) continue;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_message_destroy(m);
        continue;
      }
      fetched_[rd_kafka_topic_name(m->rkt)].push_back(m);
    }
    ASSERT_EQ(fetched_["a"].size(), a.size());
    ASSERT_EQ(fetched_["b"].size(), b.size());
  }

  // Hands the fetched messages of `topic` to the group (which then owns them).
  void Give(PartitionGroup& group, const std::string& topic) {
    for (rd_kafka_message_t* m : fetched_[topic]) EXPECT_TRUE(group.Add(m));
    fetched_[topic].clear();
  }

  // Takes runs while the group offers them: (topic, timestamp) in the order taken.
  static std::vector<std::pair<std::string, int64_t>> Drain(PartitionGroup& group, int64_t now,
                                                            Lag lag_a, Lag lag_b) {
    std::vector<std::pair<std::string, int64_t>> out;
    std::vector<rd_kafka_message_t*> taken;
    while (auto run = group.Next(now, [&](size_t i) { return i == 0 ? lag_a : lag_b; })) {
      taken.clear();
      group.Take(*run, &taken);
      for (rd_kafka_message_t* m : taken) {
        out.emplace_back(group.topics()[run->index], rd_kafka_message_timestamp(m, nullptr));
        rd_kafka_message_destroy(m);
      }
    }
    return out;
  }

  std::unique_ptr<EmbeddedBroker> broker_;
  std::unique_ptr<Consumer> consumer_;
  std::map<std::string, std::vector<rd_kafka_message_t*>> fetched_;
};

using Taken = std::vector<std::pair<std::string, int64_t>>;

TEST_F(PartitionGroupTest, RecordsOfBothPartitionsComeOutSmallestTimestampFirst) {
  Fetch({10, 20, 30, 31, 50}, {15, 30, 40});
  PartitionGroup group({"a", "b"}, 0, 0, 1000);
  Give(group, "a");
  Give(group, "b");
  // A tie (30) goes to the earlier partition.
  EXPECT_EQ(Drain(group, 0, Lag::kCaughtUp, Lag::kCaughtUp),
            (Taken{{"a", 10}, {"b", 15}, {"a", 20}, {"a", 30}, {"b", 30}, {"a", 31}, {"b", 40}, {"a", 50}}));
  EXPECT_TRUE(group.empty());
}

TEST_F(PartitionGroupTest, ByDefaultItWaitsForAnEmptyPartitionUntilItIsCaughtUp) {
  Fetch({10, 20}, {});
  PartitionGroup group({"a", "b"}, 0, /*max_idle_ms=*/0, 1000);
  Give(group, "a");
  EXPECT_EQ(Drain(group, 0, Lag::kCaughtUp, Lag::kBehind), Taken{});
  EXPECT_EQ(Drain(group, 1'000'000, Lag::kCaughtUp, Lag::kBehind), Taken{}) << "however long";
  EXPECT_EQ(Drain(group, 1'000'001, Lag::kCaughtUp, Lag::kCaughtUp), (Taken{{"a", 10}, {"a", 20}}));
}

TEST_F(PartitionGroupTest, AMaxIdleTimeBoundsTheWait) {
  Fetch({10, 20}, {});
  PartitionGroup group({"a", "b"}, 0, /*max_idle_ms=*/500, 1000);
  Give(group, "a");
  EXPECT_EQ(Drain(group, 1000, Lag::kCaughtUp, Lag::kBehind), Taken{});  // waiting since 1000
  EXPECT_EQ(Drain(group, 1499, Lag::kCaughtUp, Lag::kBehind), Taken{});
  EXPECT_EQ(Drain(group, 1500, Lag::kCaughtUp, Lag::kBehind), (Taken{{"a", 10}, {"a", 20}}));
}

TEST_F(PartitionGroupTest, MinusOneNeverWaits) {
  Fetch({10, 20}, {});
  PartitionGroup group({"a", "b"}, 0, /*max_idle_ms=*/-1, 1000);
  Give(group, "a");
  EXPECT_EQ(Drain(group, 0, Lag::kCaughtUp, Lag::kBehind), (Taken{{"a", 10}, {"a", 20}}));
}

TEST_F(PartitionGroupTest, APartitionOfUnknownPositionIsAwaitedAtMostASecond) {
  Fetch({10}, {});
  PartitionGroup group({"a", "b"}, 0, /*max_idle_ms=*/0, 1000);
  Give(group, "a");
  EXPECT_EQ(Drain(group, 5000, Lag::kCaughtUp, Lag::kUnknown), Taken{});
  EXPECT_EQ(Drain(group, 5000 + PartitionGroup::kUnknownLagWaitMs - 1, Lag::kCaughtUp, Lag::kUnknown),
            Taken{});
  EXPECT_EQ(Drain(group, 5000 + PartitionGroup::kUnknownLagWaitMs, Lag::kCaughtUp, Lag::kUnknown),
            (Taken{{"a", 10}}));
}

TEST_F(PartitionGroupTest, APartitionHoldingTooManyRecordsIsPausedUntilHalfIsWorkedOff) {
  Fetch({1, 2, 3, 4, 5}, {100});
  PartitionGroup group({"a", "b"}, 0, 0, /*max_buffered=*/4);
  Give(group, "a");
  Give(group, "b");
  PartitionGroup::FlowChange flow = group.Flow();
  EXPECT_EQ(flow.pause, std::vector<size_t>{0});
  EXPECT_TRUE(flow.resume.empty());
  EXPECT_TRUE(group.Flow().pause.empty()) << "paused once";
  // The run from "a" goes up to b's head (100): all five; then b's record.
  auto run = group.Next(0, [](size_t) { return Lag::kCaughtUp; });
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->index, 0u);
  EXPECT_EQ(run->count, 5u);
  std::vector<rd_kafka_message_t*> taken;
  group.Take(*run, &taken);
  for (rd_kafka_message_t* m : taken) rd_kafka_message_destroy(m);
  flow = group.Flow();
  EXPECT_EQ(flow.resume, std::vector<size_t>{0});
  EXPECT_FALSE(group.empty());
  group.Clear();  // destroys b's record
  EXPECT_TRUE(group.empty());
}

TEST_F(PartitionGroupTest, AMessageOfAnotherTopicIsNotTaken) {
  Fetch({10}, {20});
  PartitionGroup group({"a"}, 0, 0, 1000);
  Give(group, "a");
  for (rd_kafka_message_t* m : fetched_["b"]) EXPECT_FALSE(group.Add(m));  // stays ours
}

}  // namespace
}  // namespace sluice::internal
