// Timestamps through the TopologyTestDriver: extractors (from the value, from the key,
// record timestamp and partition time), the wall-clock extractor, the three policies
// for invalid (negative) timestamps from the config and from Consumed, on stream and
// table sources, partition time per source partition, and the Processor API, stream
// time, punctuation and windows following extracted timestamps rather than record
// timestamps.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"

namespace sluice {
namespace {

using sluice::testing::MakeDriver;
using namespace std::chrono_literals;

using C = Consumed<StringSerde, StringSerde>;

// "in" -> "out" through a source read with `consumed`.
struct PassThrough {
  std::unique_ptr<TopologyTestDriver> driver;
  std::optional<TestInputTopic<StringSerde, StringSerde>> in;
  std::optional<TestOutputTopic<StringSerde, StringSerde>> out;

  explicit PassThrough(const C& consumed, std::map<std::string, std::string> config = {}) {
    StreamsBuilder builder;
    builder.Stream("in", consumed).To("out");
    driver = MakeDriver(builder, {}, std::move(config));
    if (driver == nullptr) return;
    in.emplace(driver->CreateInputTopic("in", StringSerde(), StringSerde()));
    out.emplace(driver->CreateOutputTopic("out", StringSerde(), StringSerde()));
  }
  absl::Status Pipe(const std::string& value, int64_t record_timestamp) {
    return in->PipeInput("k", value, record_timestamp);
  }
  std::vector<std::pair<std::string, int64_t>> Read() {
    std::vector<std::pair<std::string, int64_t>> got;
    auto records = out->ReadRecordsToList();
    EXPECT_TRUE(records.ok()) << records.status();
    if (records.ok()) {
      for (auto& r : *records) got.emplace_back(r.value, r.timestamp);
    }
    return got;
  }
};

using Got = std::vector<std::pair<std::string, int64_t>>;

int64_t Parse(const std::string& v) { return std::stoll(v); }

TEST(TimestampExtractorTest, AValueExtractorStampsRecordsAndTheirOutputs) {
  PassThrough f(C().WithTimestampExtractor([](const std::string& v) { return Parse(v); }));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.Pipe("1000", 5).ok());
  ASSERT_TRUE(f.Pipe("700", 6).ok());
  EXPECT_EQ(f.Read(), (Got{{"1000", 1000}, {"700", 700}}));
}

TEST(TimestampExtractorTest, PartitionTimeIsTheLargestValidTimestampSoFar) {
  PassThrough f(C().WithTimestampExtractor(
                     [](const std::string&, const std::string& v, int64_t record_ts, int64_t partition_time) {
                       if (v == "record") return record_ts;
                       if (v == "partition") return partition_time;
                       return Parse(v);
                     }));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.Pipe("100", 1).ok());
  ASSERT_TRUE(f.Pipe("50", 2).ok());
  ASSERT_TRUE(f.Pipe("partition", 3).ok());
  ASSERT_TRUE(f.Pipe("record", 42).ok());
  EXPECT_EQ(f.Read(), (Got{{"100", 100}, {"50", 50}, {"partition", 100}, {"record", 42}}));
}

TEST(TimestampExtractorTest, AnInvalidTimestampFailsByDefaultNamingTheRecord) {
  PassThrough f(C().WithTimestampExtractor([](const std::string& v) { return Parse(v); }));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.Pipe("10", 0).ok());
  absl::Status s = f.Pipe("-5", 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("topic 'in' partition 0 offset 1"), std::string::npos) << s;
  EXPECT_NE(s.message().find("invalid (negative) timestamp -5"), std::string::npos) << s;
  EXPECT_NE(s.message().find("default.timestamp.extractor"), std::string::npos) << s;
}

TEST(TimestampExtractorTest, LogAndSkipFromTheConfigDropsAndCountsTheRecord) {
  PassThrough f(C(), {{"default.timestamp.extractor", "LogAndSkipOnInvalidTimestamp"}});
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.Pipe("a", 10).ok());
  ASSERT_TRUE(f.Pipe("b", -1).ok());  // a Kafka record without a timestamp
  ASSERT_TRUE(f.Pipe("c", 20).ok());
  EXPECT_EQ(f.Read(), (Got{{"a", 10}, {"c", 20}}));
  EXPECT_EQ(f.driver->skipped_records(), 1u);
}

TEST(TimestampExtractorTest, UsePartitionTimeNeedsAValidTimestampFirst) {
  PassThrough f(C().WithInvalidTimestampPolicy(InvalidTimestampPolicy::kUsePartitionTime));
  ASSERT_NE(f.driver, nullptr);
  absl::Status s = f.Pipe("first", -1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no valid timestamp yet"), std::string::npos) << s;

  PassThrough g(C(), {{"default.timestamp.extractor",
                       "org.apache.kafka.streams.processor.UsePartitionTimeOnInvalidTimestamp"}});
  ASSERT_NE(g.driver, nullptr);
  ASSERT_TRUE(g.Pipe("a", 30).ok());
  ASSERT_TRUE(g.Pipe("b", 20).ok());
  ASSERT_TRUE(g.Pipe("c", -1).ok());
  EXPECT_EQ(g.Read(), (Got{{"a", 30}, {"b", 20}, {"c", 30}}));
}

TEST(TimestampExtractorTest, ASkippedTimestampIsCountedAndLeavesPartitionTimeAlone) {
  auto extract = [](const std::string&, const std::string& v, int64_t, int64_t partition_time) {
    return v == "partition" ? partition_time : Parse(v);
  };
  PassThrough f(
      C().WithTimestampExtractor(extract).WithInvalidTimestampPolicy(InvalidTimestampPolicy::kSkip));
  ASSERT_NE(f.driver, nullptr);
  ASSERT_TRUE(f.Pipe("-5", 100).ok());
  ASSERT_TRUE(f.Pipe("partition", 100).ok());  // -1: none yet, so skipped too
  ASSERT_TRUE(f.Pipe("40", 100).ok());
  ASSERT_TRUE(f.Pipe("-3", 100).ok());
  ASSERT_TRUE(f.Pipe("partition", 100).ok());
  EXPECT_EQ(f.Read(), (Got{{"40", 40}, {"partition", 40}}));
  EXPECT_EQ(f.driver->skipped_records(), 3u);
}

// Partition time belongs to one source partition: a task that reads two topics keeps
// one per topic, and neither is the task's stream time.
TEST(TimestampExtractorTest, PartitionTimeIsKeptPerSourcePartition) {
  StreamsBuilder builder;
  builder.Stream(std::vector<std::string>{"a", "b"},
                 C().WithInvalidTimestampPolicy(InvalidTimestampPolicy::kUsePartitionTime))
      .To("out");
  auto driver = MakeDriver(builder, {}, {});
  ASSERT_NE(driver, nullptr);
  auto a = driver->CreateInputTopic("a", StringSerde(), StringSerde());
  auto b = driver->CreateInputTopic("b", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(a.PipeInput("k", "a1", 100).ok());
  absl::Status s = b.PipeInput("k", "b1", -1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("topic 'b' partition 0 offset 0"), std::string::npos) << s;
  EXPECT_NE(s.message().find("no valid timestamp yet"), std::string::npos) << s;
  ASSERT_TRUE(b.PipeInput("k", "b2", 50).ok());
  ASSERT_TRUE(b.PipeInput("k", "b3", -1).ok());
  ASSERT_TRUE(a.PipeInput("k", "a2", -1).ok());
  auto records = out.ReadRecordsToList();
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<std::pair<std::string, int64_t>> got;
  for (auto& r : *records) got.emplace_back(r.value, r.timestamp);
  EXPECT_EQ(got, (Got{{"a1", 100}, {"b2", 50}, {"b3", 50}, {"a2", 100}}));
}

// The driver goes on after a failed batch; what that batch stamped before failing is not
// the partition's time (its offsets were not taken either).
TEST(TimestampExtractorTest, AFailedBatchLeavesNoPartitionTime) {
  PassThrough f(C().WithTimestampExtractor([](const std::string& v) { return Parse(v); })
                    .WithInvalidTimestampPolicy(InvalidTimestampPolicy::kUsePartitionTime));
  ASSERT_NE(f.driver, nullptr);
  std::vector<TestRawRecord> batch(2);
  batch[0].key = "k";
  batch[0].value = "500";
  batch[1].key = "k";
  batch[1].value = "not a number";  // the extractor throws
  absl::Status s = f.driver->PipeRawBatch("in", std::move(batch));
  ASSERT_FALSE(s.ok());
  f.Read();
  s = f.Pipe("-1", 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no valid timestamp yet"), std::string::npos) << s;
}

TEST(TimestampExtractorTest, ATableSourceAppliesThePolicies) {
  StreamsBuilder builder;
  builder.Table("skip", C())
      .ToStream()
      .To("skipped-out", Produced<StringSerde, Nullable<StringSerde>>());
  builder
      .Table("use", C().WithInvalidTimestampPolicy(InvalidTimestampPolicy::kUsePartitionTime),
             Materialized<StringSerde, StringSerde>::As("use-store"))
      .ToStream()
      .To("used-out", Produced<StringSerde, Nullable<StringSerde>>());
  auto driver = MakeDriver(builder, {},
                           {{"cache.max.bytes.buffering", "0"},
                            {"default.timestamp.extractor", "LogAndSkipOnInvalidTimestamp"}});
  ASSERT_NE(driver, nullptr);
  auto skip = driver->CreateInputTopic("skip", StringSerde(), StringSerde());
  auto use = driver->CreateInputTopic("use", StringSerde(), StringSerde());
  ASSERT_TRUE(skip.PipeInput("k", "dropped", -1).ok());
  ASSERT_TRUE(skip.PipeInput("k", "kept", 7).ok());
  ASSERT_TRUE(use.PipeInput("x", "first", 40).ok());
  ASSERT_TRUE(use.PipeInput("y", "second", -1).ok());
  EXPECT_EQ(driver->skipped_records(), 1u);
  auto skipped_out = driver->CreateOutputTopic("skipped-out", StringSerde(), StringSerde());
  auto skipped_records = skipped_out.ReadRecordsToList();
  ASSERT_TRUE(skipped_records.ok()) << skipped_records.status();
  ASSERT_EQ(skipped_records->size(), 1u);
  EXPECT_EQ((*skipped_records)[0].value, "kept");
  EXPECT_EQ((*skipped_records)[0].timestamp, 7);
  auto used_out = driver->CreateOutputTopic("used-out", StringSerde(), StringSerde());
  auto used = used_out.ReadRecordsToList();
  ASSERT_TRUE(used.ok()) << used.status();
  ASSERT_EQ(used->size(), 2u);
  EXPECT_EQ((*used)[1].key, "y");
  EXPECT_EQ((*used)[1].timestamp, 40);
  auto store = driver->GetKeyValueStore("use-store", StringSerde(), StringSerde());
  ASSERT_TRUE(store.ok()) << store.status();
  auto y = store->Get("y");
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(*y, std::optional<std::string>("second"));
}

TEST(TimestampExtractorTest, ConsumedOverridesTheConfigPolicy) {
  PassThrough f(C().WithInvalidTimestampPolicy(InvalidTimestampPolicy::kFail),
                {{"default.timestamp.extractor", "LogAndSkipOnInvalidTimestamp"}});
  ASSERT_NE(f.driver, nullptr);
  EXPECT_FALSE(f.Pipe("a", -1).ok());
  EXPECT_EQ(f.driver->skipped_records(), 0u);
}

TEST(TimestampExtractorTest, TheWallClockExtractorTakesTheTasksWallClock) {
  PassThrough f(C(), {{"default.timestamp.extractor", "WallclockTimestampExtractor"}});
  ASSERT_NE(f.driver, nullptr);
  const int64_t start = f.driver->wall_clock_ms();
  ASSERT_TRUE(f.Pipe("a", 1).ok());
  ASSERT_TRUE(f.driver->AdvanceWallClockTime(5000).ok());
  ASSERT_TRUE(f.Pipe("b", 2).ok());
  EXPECT_EQ(f.Read(), (Got{{"a", start}, {"b", start + 5000}}));
  // A Consumed that sets only a policy keeps the config's wall clock.
  PassThrough h(C().WithInvalidTimestampPolicy(InvalidTimestampPolicy::kSkip),
                {{"default.timestamp.extractor", "WallclockTimestampExtractor"}});
  ASSERT_NE(h.driver, nullptr);
  ASSERT_TRUE(h.Pipe("c", 3).ok());
  EXPECT_EQ(h.Read(), (Got{{"c", h.driver->wall_clock_ms()}}));
  // An extractor of its own wins over the config's wall clock.
  PassThrough g(C().WithTimestampExtractor([](const std::string& v) { return Parse(v); }),
                {{"default.timestamp.extractor", "WallclockTimestampExtractor"}});
  ASSERT_NE(g.driver, nullptr);
  ASSERT_TRUE(g.Pipe("77", 1).ok());
  EXPECT_EQ(g.Read(), (Got{{"77", 77}}));
}

// Records the stream-time punctuations it sees.
class Punctuations : public Processor<std::string, std::string, std::string, std::string> {
 public:
  explicit Punctuations(std::vector<int64_t>* times) : times_(times) {}
  void Init(Context& context) override {
    context.Schedule(100ms, PunctuationType::kStreamTime, [this](int64_t t) { times_->push_back(t); });
  }
  void Process(const InputRecord<std::string, std::string>&) override {}

 private:
  std::vector<int64_t>* times_;
};

TEST(TimestampExtractorTest, StreamTimeAndWindowsFollowExtractedTimestamps) {
  std::vector<int64_t> punctuations;
  StreamsBuilder builder;
  auto stream = builder.Stream(
      "in", C().WithTimestampExtractor([](const std::string& v) { return Parse(v); }));
  stream.Process([&] { return std::make_unique<Punctuations>(&punctuations); });
  stream.GroupByKey()
      .WindowedBy(TimeWindows::OfSizeWithNoGrace(100ms))
      .Count()
      .ToStream()
      .To("counts", Produced<TimeWindowedSerde<StringSerde>, Nullable<Int64Serde>>(
                        TimeWindowedSerde<StringSerde>(100), {}));
  auto driver = MakeDriver(builder, {}, {{"cache.max.bytes.buffering", "0"}});
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto counts = driver->CreateOutputTopic("counts", TimeWindowedSerde<StringSerde>(100),
                                          Nullable<Int64Serde>());
  // Record timestamps all 0; the values carry the event time.
  for (const char* v : {"150", "180", "250", "120"}) ASSERT_TRUE(in.PipeInput("k", v, 0).ok());
  EXPECT_EQ(punctuations, (std::vector<int64_t>{150, 250}));
  std::vector<int64_t> starts;
  auto records = counts.ReadRecordsToList();
  ASSERT_TRUE(records.ok());
  for (auto& r : *records) starts.push_back(r.key.window.start_ms);
  EXPECT_EQ(starts, (std::vector<int64_t>{100, 100, 200}));  // 120 came after [100,200) closed
  EXPECT_EQ(driver->late_records(), 1u);
}

// What the Processor API sees of one record: its timestamp, its metadata's, stream time.
struct Seen {
  int64_t input;
  int64_t metadata;
  int64_t stream_time;
  friend bool operator==(const Seen&, const Seen&) = default;
};

class Recorder : public Processor<std::string, std::string, std::string, std::string> {
 public:
  Recorder(std::vector<Seen>* seen, std::vector<int64_t>* punctuations)
      : seen_(seen), punctuations_(punctuations) {}
  void Init(Context& context) override {
    context_ = &context;
    context.Schedule(100ms, PunctuationType::kStreamTime,
                     [this](int64_t t) { punctuations_->push_back(t); });
  }
  void Process(const InputRecord<std::string, std::string>& r) override {
    seen_->push_back({r.timestamp, context_->record_metadata()->timestamp,
                      context_->current_stream_time()});
    context_->Forward(r.key, r.value);
  }

 private:
  Context* context_ = nullptr;
  std::vector<Seen>* seen_;
  std::vector<int64_t>* punctuations_;
};

// Record timestamps far ahead of the extracted ones: nothing the processor sees, nor
// stream-time punctuation, may follow them.
TEST(TimestampExtractorTest, TheProcessorApiSeesOnlyExtractedTimestamps) {
  std::vector<Seen> seen;
  std::vector<int64_t> punctuations;
  StreamsBuilder builder;
  builder.Stream("in", C().WithTimestampExtractor([](const std::string& v) { return Parse(v); }))
      .Process([&] { return std::make_unique<Recorder>(&seen, &punctuations); })
      .To("out");
  auto driver = MakeDriver(builder, {}, {});
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("k", "150", 1'000'000).ok());
  ASSERT_TRUE(in.PipeInput("k", "120", 2'000'000).ok());
  ASSERT_TRUE(in.PipeInput("k", "260", 0).ok());
  EXPECT_EQ(seen, (std::vector<Seen>{{150, 150, 150}, {120, 120, 150}, {260, 260, 260}}));
  EXPECT_EQ(punctuations, (std::vector<int64_t>{150, 260}));
  auto records = out.ReadRecordsToList();
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<int64_t> timestamps;
  for (auto& r : *records) timestamps.push_back(r.timestamp);
  EXPECT_EQ(timestamps, (std::vector<int64_t>{150, 120, 260}));
}

TEST(TimestampExtractorTest, ATableExtractsFromValuesAndTombstonesKeepTheirTimestamp) {
  StreamsBuilder builder;
  builder.Table("in", C().WithTimestampExtractor([](const std::string& v) { return Parse(v); }))
      .ToStream()
      .To("out", Produced<StringSerde, Nullable<StringSerde>>());
  auto driver = MakeDriver(builder, {}, {{"cache.max.bytes.buffering", "0"}});
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), Nullable<StringSerde>());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Nullable<StringSerde>());
  ASSERT_TRUE(in.PipeInput("k", std::optional<std::string>("500"), 1).ok());
  ASSERT_TRUE(in.PipeInput("k", std::nullopt, 2).ok());
  auto records = out.ReadRecordsToList();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].timestamp, 500);
  EXPECT_EQ((*records)[1].timestamp, 2);
}

}  // namespace
}  // namespace sluice
