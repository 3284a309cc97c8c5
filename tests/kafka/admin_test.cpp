#include "src/kafka/admin.h"

#include <chrono>
#include <string>

#include "gtest/gtest.h"
#include "sluice/embedded_broker.h"
#include "tests/kafka/kafka_test_util.h"

namespace sluice::internal {
namespace {

using std::chrono::seconds;
using testing::StartBroker;
using testing::UniqueName;

std::unique_ptr<Admin> MakeAdmin(const EmbeddedBroker& broker) {
  auto admin = Admin::Create(
      {{"bootstrap.servers", broker.bootstrap_servers()}, {"log_level", "3"}});
  EXPECT_TRUE(admin.ok()) << admin.status();
  return admin.ok() ? std::move(*admin) : nullptr;
}

TEST(AdminTest, PartitionCounts) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string a = UniqueName("a"), b = UniqueName("b");
  ASSERT_TRUE(broker->CreateTopic(a, 3).ok());
  ASSERT_TRUE(broker->CreateTopic(b, 1).ok());
  auto admin = MakeAdmin(*broker);
  ASSERT_NE(admin, nullptr);
  auto counts = admin->PartitionCounts({a, b}, seconds(5));
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->at(a), 3);
  EXPECT_EQ(counts->at(b), 1);
}

TEST(AdminTest, PartitionCountsNamesMissingTopicsWithoutCreatingThem) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string a = UniqueName("present");
  const std::string x = UniqueName("missing-x"), y = UniqueName("missing-y");
  ASSERT_TRUE(broker->CreateTopic(a, 2).ok());
  auto admin = MakeAdmin(*broker);
  ASSERT_NE(admin, nullptr);
  auto counts = admin->PartitionCounts({a, x, y}, seconds(5));
  ASSERT_FALSE(counts.ok());
  EXPECT_EQ(counts.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(counts.status().message().find(x), std::string::npos);
  EXPECT_NE(counts.status().message().find(y), std::string::npos);
  EXPECT_EQ(counts.status().message().find(a), std::string::npos);
  // An all-topics metadata request does not auto-create: still creatable.
  EXPECT_TRUE(broker->CreateTopic(x, 1).ok());
}

TEST(AdminTest, CreateTopicsUnsupportedByMockIsUnimplemented) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  auto admin = MakeAdmin(*broker);
  ASSERT_NE(admin, nullptr);
  const std::string name = UniqueName("created");
  absl::Status s =
      admin->CreateTopics({{.name = name,
                            .partitions = 2,
                            .replication = 1,
                            .configs = {{"cleanup.policy", "compact"}}}},
                          seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_NE(s.message().find(name), std::string::npos) << s;

  s = admin->DeleteTopics({name}, seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
}

TEST(AdminTest, CreateTopicsRejectsBadSpecNamingTopic) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  auto admin = MakeAdmin(*broker);
  ASSERT_NE(admin, nullptr);
  absl::Status s = admin->CreateTopics(
      {{.name = "bad-spec", .partitions = 0, .replication = 1, .configs = {}}},
      seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("bad-spec"), std::string::npos) << s;
}

TEST(AdminTest, MetadataTimeoutWhenBrokerDown) {
  auto broker = StartBroker();
  ASSERT_NE(broker, nullptr);
  auto admin = MakeAdmin(*broker);
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(broker->SetBrokerDown(-1).ok());
  auto counts = admin->PartitionCounts({"t"}, std::chrono::milliseconds(500));
  ASSERT_FALSE(counts.ok());
  EXPECT_NE(counts.status().message().find("t"), std::string::npos);
}

}  // namespace
}  // namespace sluice::internal
