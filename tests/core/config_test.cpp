// StreamsConfig::Create: defaults, validation of every key with errors naming the key and
// the accepted values, client-property routing by prefix, and keys Sluice manages.
#include "sluice/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace sluice {
namespace {

using Props = std::map<std::string, std::string>;

absl::StatusOr<StreamsConfig> With(Props extra) {
  extra.try_emplace("application.id", "app");
  return StreamsConfig::Create(extra);
}

// The value of `key` a client gets: the last entry wins, as when applied in order.
std::optional<std::string> ClientValue(const StreamsConfig& c, ClientKind kind,
                                       const std::string& key) {
  std::optional<std::string> value;
  for (const auto& p : c.ClientProperties(kind)) {
    if (p.key == key) value = p.value;
  }
  return value;
}

// Takes std::string and Abseil's own string_view alike (Debian's Abseil does not use
// std::string_view).
template <class S>
bool Contains(const S& haystack, std::string_view needle) {
  return std::string_view(haystack.data(), haystack.size()).find(needle) !=
         std::string_view::npos;
}

TEST(StreamsConfig, Defaults) {
  auto c = StreamsConfig::Create({{"application.id", "orders-app"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->application_id(), "orders-app");
  EXPECT_EQ(c->bootstrap_servers(), "");
  EXPECT_EQ(c->num_stream_threads(), 1);
  EXPECT_EQ(c->commit_interval_ms(), 30000);
  EXPECT_EQ(c->processing_guarantee(), ProcessingGuarantee::kAtLeastOnce);
  EXPECT_EQ(c->state_dir(), (std::filesystem::temp_directory_path() / "sluice").string());
  EXPECT_EQ(c->deserialization_errors(), DeserializationErrorHandling::kFail);
  EXPECT_EQ(c->poll_ms(), 100);
  EXPECT_EQ(c->max_poll_records(), 1000);
  EXPECT_EQ(c->default_api_timeout_ms(), 60000);
  EXPECT_EQ(c->replication_factor(), -1);
  EXPECT_EQ(c->client_id(), "orders-app");
  EXPECT_EQ(c->idle_window_close_ms(), -1);
  EXPECT_EQ(c->max_task_idle_ms(), 0);
  EXPECT_EQ(c->buffered_records_per_partition(), 1000);
  EXPECT_TRUE(c->ClientProperties(ClientKind::kConsumer).empty());
  EXPECT_TRUE(c->ClientProperties(ClientKind::kProducer).empty());
  EXPECT_TRUE(c->ClientProperties(ClientKind::kAdmin).empty());
}

TEST(StreamsConfig, EveryKnownKeyIsParsed) {
  auto c = StreamsConfig::Create({
      {"application.id", "a.b_c-D9"},
      {"bootstrap.servers", "k1:9092,k2:9092"},
      {"num.stream.threads", "4"},
      {"commit.interval.ms", "0"},
      {"processing.guarantee", "exactly_once_v2"},
      {"state.dir", "/var/lib/x"},
      {"default.deserialization.exception.handler", "continue"},
      {"poll.ms", "60000"},
      {"max.poll.records", "1"},
      {"default.api.timeout.ms", "2147483647"},
      {"replication.factor", "3"},
      {"client.id", "my-client"},
      {"idle.window.close.ms", "5000"},
      {"max.task.idle.ms", "-1"},
      {"buffered.records.per.partition", "50"},
  });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->application_id(), "a.b_c-D9");
  EXPECT_EQ(c->bootstrap_servers(), "k1:9092,k2:9092");
  EXPECT_EQ(c->num_stream_threads(), 4);
  EXPECT_EQ(c->commit_interval_ms(), 0);  // explicit, even under exactly_once_v2
  EXPECT_EQ(c->processing_guarantee(), ProcessingGuarantee::kExactlyOnceV2);
  EXPECT_EQ(c->state_dir(), "/var/lib/x");
  EXPECT_EQ(c->deserialization_errors(), DeserializationErrorHandling::kContinue);
  EXPECT_EQ(c->poll_ms(), 60000);
  EXPECT_EQ(c->max_poll_records(), 1);
  EXPECT_EQ(c->default_api_timeout_ms(), 2147483647);
  EXPECT_EQ(c->replication_factor(), 3);
  EXPECT_EQ(c->client_id(), "my-client");
  EXPECT_EQ(c->idle_window_close_ms(), 5000);
  EXPECT_EQ(c->max_task_idle_ms(), -1);
  EXPECT_EQ(c->buffered_records_per_partition(), 50);
  EXPECT_TRUE(c->ClientProperties(ClientKind::kConsumer).empty());
}

TEST(StreamsConfig, KafkaStreamsHandlerClassNamesAreAccepted) {
  auto fail = With({{"default.deserialization.exception.handler",
                     "org.apache.kafka.streams.errors.LogAndFailExceptionHandler"}});
  ASSERT_TRUE(fail.ok());
  EXPECT_EQ(fail->deserialization_errors(), DeserializationErrorHandling::kFail);
  auto cont = With({{"default.deserialization.exception.handler",
                     "org.apache.kafka.streams.errors.LogAndContinueExceptionHandler"}});
  ASSERT_TRUE(cont.ok());
  EXPECT_EQ(cont->deserialization_errors(), DeserializationErrorHandling::kContinue);
  auto explicit_fail = With({{"default.deserialization.exception.handler", "fail"}});
  ASSERT_TRUE(explicit_fail.ok());
  EXPECT_EQ(explicit_fail->deserialization_errors(), DeserializationErrorHandling::kFail);
}

TEST(StreamsConfig, KafkaStreamsTimestampExtractorNamesAreAccepted) {
  auto defaults = With({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->timestamp_defaults().source, TimestampSource::kRecord);
  EXPECT_EQ(defaults->timestamp_defaults().policy, InvalidTimestampPolicy::kFail);
  const std::vector<std::tuple<std::string, TimestampSource, InvalidTimestampPolicy>> cases = {
      {"FailOnInvalidTimestamp", TimestampSource::kRecord, InvalidTimestampPolicy::kFail},
      {"LogAndSkipOnInvalidTimestamp", TimestampSource::kRecord, InvalidTimestampPolicy::kSkip},
      {"org.apache.kafka.streams.processor.UsePartitionTimeOnInvalidTimestamp",
       TimestampSource::kRecord, InvalidTimestampPolicy::kUsePartitionTime},
      {"WallclockTimestampExtractor", TimestampSource::kWallClock, InvalidTimestampPolicy::kFail},
  };
  for (const auto& [name, source, policy] : cases) {
    auto c = With({{"default.timestamp.extractor", name}});
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->timestamp_defaults().source, source) << name;
    EXPECT_EQ(c->timestamp_defaults().policy, policy) << name;
  }
}

TEST(StreamsConfig, EveryTimestampExtractorNameTakesThePackagePrefix) {
  for (const char* name : {"FailOnInvalidTimestamp", "LogAndSkipOnInvalidTimestamp",
                           "UsePartitionTimeOnInvalidTimestamp", "WallclockTimestampExtractor"}) {
    auto bare = With({{"default.timestamp.extractor", name}});
    auto qualified = With({{"default.timestamp.extractor",
                            std::string("org.apache.kafka.streams.processor.") + name}});
    ASSERT_TRUE(bare.ok()) << bare.status();
    ASSERT_TRUE(qualified.ok()) << qualified.status();
    EXPECT_EQ(qualified->timestamp_defaults().source, bare->timestamp_defaults().source) << name;
    EXPECT_EQ(qualified->timestamp_defaults().policy, bare->timestamp_defaults().policy) << name;
  }
}

TEST(StreamsConfig, AnUnknownTimestampExtractorListsEveryAcceptedName) {
  // Another package, another case, a user's class: none is known.
  for (const char* value : {"org.apache.kafka.streams.errors.FailOnInvalidTimestamp",
                            "failoninvalidtimestamp", "com.example.OrderTimeExtractor", ""}) {
    auto c = With({{"default.timestamp.extractor", value}});
    ASSERT_FALSE(c.ok()) << value;
    const std::string message(c.status().message());
    EXPECT_TRUE(Contains(message, "config 'default.timestamp.extractor'")) << message;
    EXPECT_TRUE(Contains(message, "invalid value '" + std::string(value) + "'")) << message;
    for (const char* accepted :
         {"FailOnInvalidTimestamp", "LogAndSkipOnInvalidTimestamp",
          "UsePartitionTimeOnInvalidTimestamp", "WallclockTimestampExtractor"}) {
      EXPECT_TRUE(Contains(message, accepted)) << message;
    }
  }
}

struct BadValue {
  std::string key;
  std::string value;
  std::string accepted;  // a part of the message that lists what is accepted
};

TEST(StreamsConfig, EveryBadValueNamesTheKeyTheValueAndWhatIsAccepted) {
  const std::vector<BadValue> cases = {
      {"bootstrap.servers", "", "a list of host:port pairs"},
      {"num.stream.threads", "0", "an integer from 1 to 1024"},
      {"num.stream.threads", "1025", "an integer from 1 to 1024"},
      {"num.stream.threads", "two", "an integer from 1 to 1024"},
      {"num.stream.threads", "2x", "an integer from 1 to 1024"},
      {"num.stream.threads", "", "an integer from 1 to 1024"},
      {"commit.interval.ms", "-1", "an integer >= 0"},
      {"commit.interval.ms", "1.5", "an integer >= 0"},
      {"processing.guarantee", "exactly_once", "one of: at_least_once, exactly_once_v2"},
      {"processing.guarantee", "", "one of: at_least_once, exactly_once_v2"},
      {"state.dir", "", "a directory path"},
      {"default.deserialization.exception.handler", "skip", "one of: fail, continue"},
      {"poll.ms", "0", "an integer from 1 to 60000"},
      {"poll.ms", "60001", "an integer from 1 to 60000"},
      {"max.poll.records", "0", "an integer from 1 to 1000000"},
      {"max.poll.records", "1000001", "an integer from 1 to 1000000"},
      {"default.api.timeout.ms", "0", "an integer from 1 to 2147483647"},
      {"default.api.timeout.ms", "2147483648", "an integer from 1 to 2147483647"},
      {"replication.factor", "0", "-1 (the broker's default) or >= 1"},
      {"replication.factor", "-2", "-1 (the broker's default) or >= 1"},
      {"replication.factor", "32768", "-1 (the broker's default) or >= 1"},
      {"idle.window.close.ms", "-2", "an integer >= -1"},
      {"default.timestamp.extractor", "MyExtractor", "one of: FailOnInvalidTimestamp"},
      {"max.task.idle.ms", "-2", "an integer >= -1"},
      {"buffered.records.per.partition", "0", "an integer from 1 to 2147483647"},
      {"consumer.", "x", "a librdkafka property after the prefix"},
      {"producer.", "x", "a librdkafka property after the prefix"},
      {"admin.", "x", "a librdkafka property after the prefix"},
  };
  for (const BadValue& bad : cases) {
    auto c = With({{bad.key, bad.value}});
    ASSERT_FALSE(c.ok()) << bad.key << "=" << bad.value;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(c.status().message());
    EXPECT_TRUE(Contains(message, "config '" + bad.key + "'")) << message;
    EXPECT_TRUE(Contains(message, "invalid value '" + bad.value + "'")) << message;
    EXPECT_TRUE(Contains(message, bad.accepted)) << message;
  }
}

TEST(StreamsConfig, MissingApplicationIdIsAnError) {
  auto c = StreamsConfig::Create({{"bootstrap.servers", "k:9092"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(c.status().message(), "missing required config 'application.id'"))
      << c.status();
}

TEST(StreamsConfig, InvalidApplicationIdCharactersAreAnError) {
  for (const std::string& id :
       std::vector<std::string>{"my app", "app/1", "", "é", "a:b", std::string(201, 'a')}) {
    auto c = StreamsConfig::Create({{"application.id", id}});
    ASSERT_FALSE(c.ok()) << id;
    EXPECT_TRUE(Contains(c.status().message(), "config 'application.id'")) << c.status();
    EXPECT_TRUE(Contains(c.status().message(), "[a-zA-Z0-9._-]")) << c.status();
  }
  EXPECT_TRUE(StreamsConfig::Create({{"application.id", std::string(200, 'a')}}).ok());
}

TEST(StreamsConfig, PrefixedKeysGoOnlyToTheirClient) {
  auto c = With({{"consumer.fetch.max.bytes", "52428800"},
                 {"producer.linger.ms", "5"},
                 {"admin.retries", "3"}});
  ASSERT_TRUE(c.ok()) << c.status();
  auto consumer = c->ClientProperties(ClientKind::kConsumer);
  ASSERT_EQ(consumer.size(), 1u);
  EXPECT_EQ(consumer[0].user_key, "consumer.fetch.max.bytes");
  EXPECT_EQ(consumer[0].key, "fetch.max.bytes");
  EXPECT_EQ(consumer[0].value, "52428800");
  auto producer = c->ClientProperties(ClientKind::kProducer);
  ASSERT_EQ(producer.size(), 1u);
  EXPECT_EQ(producer[0].key, "linger.ms");
  EXPECT_EQ(producer[0].user_key, "producer.linger.ms");
  auto admin = c->ClientProperties(ClientKind::kAdmin);
  ASSERT_EQ(admin.size(), 1u);
  EXPECT_EQ(admin[0].key, "retries");
}

TEST(StreamsConfig, UnprefixedUnknownKeysGoToEveryClient) {
  auto c = With({{"security.protocol", "SSL"}, {"some.typo", "1"}});
  ASSERT_TRUE(c.ok()) << c.status();
  for (ClientKind kind : {ClientKind::kConsumer, ClientKind::kProducer, ClientKind::kAdmin}) {
    EXPECT_EQ(ClientValue(*c, kind, "security.protocol"), "SSL");
    EXPECT_EQ(ClientValue(*c, kind, "some.typo"), "1");
    EXPECT_EQ(c->ClientProperties(kind).size(), 2u);
  }
  // Sluice's own keys are not passed to librdkafka.
  EXPECT_EQ(ClientValue(*c, ClientKind::kConsumer, "application.id"), std::nullopt);
}

TEST(StreamsConfig, PrefixedKeyWinsOverTheUnprefixedOne) {
  auto c = With({{"fetch.max.bytes", "1"}, {"consumer.fetch.max.bytes", "2"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ClientValue(*c, ClientKind::kConsumer, "fetch.max.bytes"), "2");
  EXPECT_EQ(ClientValue(*c, ClientKind::kProducer, "fetch.max.bytes"), "1");
  EXPECT_EQ(ClientValue(*c, ClientKind::kAdmin, "fetch.max.bytes"), "1");
  // The prefixed entry comes after the common one.
  auto consumer = c->ClientProperties(ClientKind::kConsumer);
  ASSERT_EQ(consumer.size(), 2u);
  EXPECT_EQ(consumer[0].user_key, "fetch.max.bytes");
  EXPECT_EQ(consumer[1].user_key, "consumer.fetch.max.bytes");
}

TEST(StreamsConfig, ManagedKeysAreRejectedNamingTheKey) {
  const std::vector<std::string> keys = {
      "group.id",           "consumer.group.id",           "enable.auto.commit",
      "consumer.enable.auto.commit", "consumer.enable.auto.offset.store",
      "producer.transactional.id",   "transactional.id", "enable.partition.eof",
      "admin.group.id"};
  for (const std::string& key : keys) {
    auto c = With({{key, "x"}});
    ASSERT_FALSE(c.ok()) << key;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(c.status().message(), "config '" + key + "' is managed by Sluice"))
        << c.status();
  }
  auto group = With({{"group.id", "g"}});
  EXPECT_TRUE(Contains(group.status().message(), "application.id")) << group.status();
}

TEST(StreamsConfig, ExactlyOnceV2ChangesTheDefaultCommitInterval) {
  auto eos = With({{"processing.guarantee", "exactly_once_v2"}});
  ASSERT_TRUE(eos.ok());
  EXPECT_EQ(eos->commit_interval_ms(), 100);
  auto eos_explicit = With({{"processing.guarantee", "exactly_once_v2"},
                            {"commit.interval.ms", "5000"}});
  ASSERT_TRUE(eos_explicit.ok());
  EXPECT_EQ(eos_explicit->commit_interval_ms(), 5000);
  auto alo = With({{"processing.guarantee", "at_least_once"}});
  ASSERT_TRUE(alo.ok());
  EXPECT_EQ(alo->commit_interval_ms(), 30000);
}

TEST(StreamsConfig, WithBootstrapServersReturnsAModifiedCopy) {
  auto c = With({});
  ASSERT_TRUE(c.ok());
  StreamsConfig copy = c->WithBootstrapServers("localhost:1234");
  EXPECT_EQ(copy.bootstrap_servers(), "localhost:1234");
  EXPECT_EQ(c->bootstrap_servers(), "");
  EXPECT_EQ(copy.application_id(), "app");
}

}  // namespace
}  // namespace sluice
