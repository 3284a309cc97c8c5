// The dead-letter queue (errors.dead.letter.queue.topic.name) and
// processing.exception.handler: skipped records reach the queue with their original
// bytes and headers naming the error and the source position; nothing else is lost.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"

namespace sluice {
namespace {

using SIKV = KeyValue<std::string, int64_t>;
using testing::MakeDriver;

std::string HeaderOf(const TestRawRecord& r, const std::string& name) {
  for (const TestHeader& h : r.headers) {
    if (h.key == name) return h.value.value_or("<null>");
  }
  return "<absent>";
}

TestRawRecord Raw(std::string key, std::string value, std::vector<TestHeader> headers = {}) {
  TestRawRecord r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.timestamp = 1000;
  r.headers = std::move(headers);
  return r;
}

TestRawRecord Good(const std::string& key, int64_t v) {
  std::string bytes;
  Int64Serde().Serialize(v, bytes);
  return Raw(key, bytes);
}

TEST(DeadLetterQueue, ARecordThatDoesNotDeserializeGoesThereWithItsBytesAndWhereItCameFrom) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").MapValues([](int64_t v) { return v * 10; }).To("out");
  auto driver = MakeDriver(builder, {},
                           {{"default.deserialization.exception.handler", "continue"},
                            {"errors.dead.letter.queue.topic.name", "in.dlq"}});
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRawBatch("in", {Good("a", 1), Raw("b", "not-8-bytes", {{"trace", "t-1"}}),
                                          Good("c", 3)})
                  .ok());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 10}, {"c", 30}}));
  EXPECT_EQ(driver->skipped_records(), 1u);

  std::vector<TestRawRecord> dlq = driver->ReadRaw("in.dlq");
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].key, "b");
  EXPECT_EQ(dlq[0].value, "not-8-bytes");
  EXPECT_EQ(dlq[0].timestamp, 1000);
  EXPECT_EQ(HeaderOf(dlq[0], "trace"), "t-1");  // the source record's headers are kept
  EXPECT_EQ(HeaderOf(dlq[0], "sluice.source.topic"), "in");
  EXPECT_EQ(HeaderOf(dlq[0], "sluice.source.partition"), "0");
  EXPECT_EQ(HeaderOf(dlq[0], "sluice.source.offset"), "1");
  const std::string error = HeaderOf(dlq[0], "sluice.error");
  EXPECT_NE(error.find("failed to deserialize the value"), std::string::npos) << error;
  EXPECT_NE(error.find("offset 1"), std::string::npos) << error;
}

TEST(DeadLetterQueue, WithoutAQueueSkippedRecordsAreOnlyCounted) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To("out");
  auto driver = MakeDriver(builder, {}, {{"default.deserialization.exception.handler", "continue"}});
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRawBatch("in", {Raw("b", "x"), Good("c", 3)}).ok());
  EXPECT_EQ(driver->skipped_records(), 1u);
  EXPECT_TRUE(driver->ReadRaw("in.dlq").empty());
  EXPECT_EQ(driver->ReadRaw("out").size(), 1u);
}

// Forwards each value twice, and throws for a negative value after forwarding once.
class Doubler : public Processor<std::string, int64_t, std::string, int64_t> {
 public:
  void Init(Context& context) override { context_ = &context; }
  void Process(const InputRecord<std::string, int64_t>& r) override {
    context_->Forward(r.key, r.value);
    if (r.value < 0) throw std::invalid_argument("negative amount " + std::to_string(r.value));
    context_->Forward(r.key, r.value);
  }

 private:
  Context* context_ = nullptr;
};

void BuildDoubler(StreamsBuilder& builder) {
  builder.Stream<std::string, int64_t>("in")
      .Process([] { return std::make_unique<Doubler>(); }, {}, Named::As("doubler"))
      .To("out");
}

TEST(DeadLetterQueue, UnderContinueARecordWhoseProcessorThrowsIsSkippedWithWhatItForwarded) {
  StreamsBuilder builder;
  BuildDoubler(builder);
  auto driver = MakeDriver(builder, {},
                           {{"processing.exception.handler", "continue"},
                            {"errors.dead.letter.queue.topic.name", "in.dlq"}});
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->PipeRawBatch("in", {Good("a", 1), Good("b", -2), Good("c", 3)}).ok());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 1}, {"a", 1}, {"c", 3}, {"c", 3}}));
  EXPECT_EQ(driver->skipped_records(), 1u);
  std::vector<TestRawRecord> dlq = driver->ReadRaw("in.dlq");
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].key, "b");
  EXPECT_EQ(dlq[0].value, Good("b", -2).value);
  EXPECT_EQ(HeaderOf(dlq[0], "sluice.source.offset"), "1");
  const std::string error = HeaderOf(dlq[0], "sluice.error");
  EXPECT_NE(error.find("processor 'doubler'"), std::string::npos) << error;
  EXPECT_NE(error.find("negative amount -2"), std::string::npos) << error;
}

TEST(DeadLetterQueue, UnderTheDefaultAProcessorThatThrowsFailsTheTask) {
  StreamsBuilder builder;
  BuildDoubler(builder);
  auto driver = MakeDriver(builder, {}, {{"errors.dead.letter.queue.topic.name", "in.dlq"}});
  ASSERT_NE(driver, nullptr);
  absl::Status status = driver->PipeRaw("in", Good("b", -2));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("negative amount -2"), std::string_view::npos) << status;
  EXPECT_TRUE(driver->ReadRaw("in.dlq").empty());
}

TEST(DeadLetterQueue, ASkippedInvalidTimestampGoesThereToo) {
  StreamsBuilder builder;
  builder.Stream<std::string, int64_t>("in").To("out");
  auto driver = MakeDriver(builder, {},
                           {{"default.timestamp.extractor", "LogAndSkipOnInvalidTimestamp"},
                            {"errors.dead.letter.queue.topic.name", "in.dlq"}});
  ASSERT_NE(driver, nullptr);
  TestRawRecord early = Good("e", 5);
  early.timestamp = -7;
  ASSERT_TRUE(driver->PipeRawBatch("in", {Good("a", 1), early}).ok());
  std::vector<TestRawRecord> dlq = driver->ReadRaw("in.dlq");
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].key, "e");
  EXPECT_NE(HeaderOf(dlq[0], "sluice.error").find("timestamp"), std::string::npos);
}

TEST(DeadLetterQueue, BadSettingsAreRefusedByName) {
  auto bad_handler = StreamsConfig::Create({{"application.id", "a"},
                                            {"processing.exception.handler", "ignore"}});
  ASSERT_FALSE(bad_handler.ok());
  EXPECT_NE(bad_handler.status().message().find("processing.exception.handler"), std::string_view::npos);
  auto bad_topic = StreamsConfig::Create({{"application.id", "a"},
                                          {"errors.dead.letter.queue.topic.name", "bad topic"}});
  ASSERT_FALSE(bad_topic.ok());
  EXPECT_NE(bad_topic.status().message().find("errors.dead.letter.queue.topic.name"),
            std::string_view::npos);
  auto kafka_names = StreamsConfig::Create(
      {{"application.id", "a"},
       {"processing.exception.handler",
        "org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler"}});
  ASSERT_TRUE(kafka_names.ok()) << kafka_names.status();
  EXPECT_EQ(kafka_names->processing_errors(), ProcessingErrorHandling::kContinue);
}

}  // namespace
}  // namespace sluice
