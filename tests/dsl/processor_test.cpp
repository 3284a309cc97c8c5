// The Processor API through the TopologyTestDriver: processors with stores, record
// metadata, stream-time and wall-clock punctuation, forwarding from punctuations,
// cancellation, and the errors a misuse gets.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "sluice/sluice.h"
#include "sluice/testing.h"
#include "tests/dsl/dsl_test_util.h"

namespace sluice {

namespace {

using sluice::testing::MakeDriver;

using SSKV = KeyValue<std::string, std::string>;
using SIKV = KeyValue<std::string, int64_t>;

// Forwards each order id once: the first time it is seen.
class Dedup : public Processor<std::string, std::string, std::string, std::string> {
 public:
  void Init(Context& context) override {
    context_ = &context;
    seen_.emplace(context.GetStateStore<StringSerde, Int64Serde>("seen"));
  }
  void Process(const InputRecord<std::string, std::string>& r) override {
    if (seen_->PutIfAbsent(r.key, r.timestamp)) return;
    context_->Forward(r.key, r.value);
  }

 private:
  Context* context_ = nullptr;
  std::optional<KeyValueStore<StringSerde, Int64Serde>> seen_;
};

TEST(ProcessorApi, AProcessorWithAStoreForwardsEachKeyOnce) {
  StreamsBuilder builder;
  builder.AddStateStore(Materialized<StringSerde, Int64Serde>::As("seen"));
  builder.Stream<std::string, std::string>("orders")
      .Process([] { return std::make_unique<Dedup>(); }, {"seen"})
      .To("orders-once");
  absl::StatusOr<Topology> topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  EXPECT_NE(topology->Describe().find("(stores: [seen])"), std::string::npos);
  TopologyTestDriver::Options options;
  options.partitions["orders"] = 2;
  auto driver = TopologyTestDriver::Create(*topology, options).value();
  auto in = driver->CreateInputTopic("orders", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("o1", "a", 100).ok());
  ASSERT_TRUE(in.PipeInput("o2", "b", 200).ok());
  ASSERT_TRUE(in.PipeInput("o1", "a-again", 300).ok());
  auto out = driver->CreateOutputTopic("orders-once", StringSerde(), StringSerde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SSKV>{{"o1", "a"}, {"o2", "b"}}));
  auto seen = driver->GetKeyValueStore<StringSerde, Int64Serde>("seen").value();
  EXPECT_EQ(seen.Get("o1").value(), std::optional<int64_t>(100));
  EXPECT_EQ(seen.Get("o2").value(), std::optional<int64_t>(200));
  // The store is logged like any other.
  EXPECT_EQ(driver->ReadRaw("test-driver-seen-changelog").size(), 2u);
}

// Emits the record's metadata and the task's partition.
class Describe : public Processor<std::string, std::string, std::string, std::string> {
 public:
  void Init(Context& context) override { context_ = &context; }
  void Process(const InputRecord<std::string, std::string>& r) override {
    std::optional<RecordContext> m = context_->record_metadata();
    context_->Forward(r.key, m->topic.empty() ? "?" : std::string(m->topic) + "/" +
                                 std::to_string(m->partition) + "/" +
                                 std::to_string(m->offset) + "/" + std::to_string(r.timestamp) +
                                 "/task-" + std::to_string(context_->partition()) + "/" +
                                 context_->application_id());
  }

 private:
  Context* context_ = nullptr;
};

TEST(ProcessorApi, RecordMetadataNamesWhereTheRecordCameFrom) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .Process([] { return std::make_unique<Describe>(); })
      .To("out");
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("k", "v", 42).ok());
  ASSERT_TRUE(in.PipeInput("k", "v", 43).ok());
  auto out = driver->CreateOutputTopic("out", StringSerde(), StringSerde());
  EXPECT_EQ(out.ReadValuesToList(),
            (std::vector<std::string>{"in/0/0/42/task-0/test-driver", "in/0/1/43/task-0/test-driver"}));
}

// Records when its punctuations fire and forwards a marker from each.
class Ticker : public Processor<std::string, std::string, std::string, int64_t> {
 public:
  Ticker(PunctuationType type, std::vector<int64_t>* fired, bool cancel_after_two)
      : type_(type), fired_(fired), cancel_after_two_(cancel_after_two) {}
  void Init(Context& context) override {
    context_ = &context;
    schedule_ = context.Schedule(std::chrono::milliseconds(10), type_, [this](int64_t t) {
      fired_->push_back(t);
      context_->Forward("tick", t);
      if (cancel_after_two_ && fired_->size() == 2) schedule_.Cancel();
    });
  }
  void Process(const InputRecord<std::string, std::string>&) override {}

 private:
  PunctuationType type_;
  std::vector<int64_t>* fired_;
  bool cancel_after_two_;
  Context* context_ = nullptr;
  Cancellable schedule_;
};

TEST(ProcessorApi, StreamTimePunctuationFollowsRecordTimestamps) {
  auto fired = std::make_shared<std::vector<int64_t>>();
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .Process([fired] {
        return std::make_unique<Ticker>(PunctuationType::kStreamTime, fired.get(), false);
      })
      .To("ticks", Produced<StringSerde, Int64Serde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  // The first record fires; then every 10 ms of stream time, skipping missed intervals;
  // a late record (timestamp 3) does not move stream time back.
  for (int64_t ts : {0, 5, 12, 3, 19, 30, 31}) ASSERT_TRUE(in.PipeInput("k", "v", ts).ok());
  EXPECT_EQ(*fired, (std::vector<int64_t>{0, 12, 30}));
  auto out = driver->CreateOutputTopic("ticks", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"tick", 0}, {"tick", 12}, {"tick", 30}}));
}

TEST(ProcessorApi, WallClockPunctuationFollowsTheDriversClockAndCanBeCancelled) {
  auto fired = std::make_shared<std::vector<int64_t>>();
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .Process([fired] {
        return std::make_unique<Ticker>(PunctuationType::kWallClockTime, fired.get(), true);
      })
      .To("ticks", Produced<StringSerde, Int64Serde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  ASSERT_TRUE(driver->CreateInputTopic("in", StringSerde(), StringSerde()).PipeInput("k", "v").ok());
  ASSERT_TRUE(driver->AdvanceWallClockTime(5).ok());
  EXPECT_TRUE(fired->empty());
  ASSERT_TRUE(driver->AdvanceWallClockTime(5).ok());   // 10: due
  ASSERT_TRUE(driver->AdvanceWallClockTime(25).ok());  // 35: due once, missed ones skipped
  ASSERT_TRUE(driver->AdvanceWallClockTime(100).ok()); // cancelled after two
  EXPECT_EQ(*fired, (std::vector<int64_t>{10, 35}));
  auto out = driver->CreateOutputTopic("ticks", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"tick", 10}, {"tick", 35}}));
}

class UsesUnconnectedStore : public Processor<std::string, std::string, std::string, std::string> {
 public:
  void Init(Context& context) override { context_ = &context; }
  void Process(const InputRecord<std::string, std::string>& r) override {
    context_->GetStateStore<StringSerde, StringSerde>("other").Put(r.key, r.value);
  }

 private:
  Context* context_ = nullptr;
};

TEST(ProcessorApi, AStoreNotNamedInProcessIsAClearError) {
  StreamsBuilder builder;
  builder.AddStateStore(Materialized<StringSerde, StringSerde>::As("other"));
  auto s = builder.Stream<std::string, std::string>("in");
  s.Process([] { return std::make_unique<UsesUnconnectedStore>(); }, {}, Named::As("writer"));
  // Connected elsewhere, so the store exists in the topology.
  s.Process([] { return std::make_unique<UsesUnconnectedStore>(); }, {"other"}, Named::As("owner"));
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  absl::Status status = driver->CreateInputTopic("in", StringSerde(), StringSerde()).PipeInput("k", "v");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("processor 'writer' is not connected to state store 'other'"),
            std::string::npos)
      << status;
}

class Throws : public Processor<std::string, std::string, std::string, std::string> {
 public:
  void Process(const InputRecord<std::string, std::string>& r) override {
    if (r.value == "bad") throw std::runtime_error("cannot handle 'bad'");
  }
};

TEST(ProcessorApi, AnExceptionFromAProcessorFailsTheTaskWithTheRecordsPosition) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in").Process([] { return std::make_unique<Throws>(); });
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("k", "good").ok());
  absl::Status status = in.PipeInput("k", "bad");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("topic 'in' partition 0 offsets 1..1"), std::string::npos) << status;
  EXPECT_NE(status.message().find("cannot handle 'bad'"), std::string::npos) << status;
}

// Keeps a running total per key in a store and emits all totals from a punctuation.
class Totals : public Processor<std::string, int64_t, std::string, int64_t> {
 public:
  void Init(Context& context) override {
    context_ = &context;
    context.Schedule(std::chrono::milliseconds(100), PunctuationType::kWallClockTime,
                     [this](int64_t) {
                       auto store = context_->GetStateStore<StringSerde, Int64Serde>("totals");
                       for (auto& kv : store.All()) context_->Forward(kv.key, kv.value);
                     });
  }
  void Process(const InputRecord<std::string, int64_t>& r) override {
    auto store = context_->GetStateStore<StringSerde, Int64Serde>("totals");
    store.Put(r.key, store.Get(r.key).value_or(0) + r.value);
  }

 private:
  Context* context_ = nullptr;
};

TEST(ProcessorApi, APunctuationReadsTheStoreAndForwards) {
  StreamsBuilder builder;
  builder.AddStateStore(Materialized<StringSerde, Int64Serde>::As("totals").InMemory());
  builder.Stream<std::string, int64_t>("amounts")
      .Process([] { return std::make_unique<Totals>(); }, {"totals"})
      .To("totals-out", Produced<StringSerde, Int64Serde>());
  auto driver = MakeDriver(builder);
  ASSERT_NE(driver, nullptr);
  auto in = driver->CreateInputTopic("amounts", StringSerde(), Int64Serde());
  ASSERT_TRUE(in.PipeInput("a", 2).ok());
  ASSERT_TRUE(in.PipeInput("b", 3).ok());
  ASSERT_TRUE(in.PipeInput("a", 4).ok());
  auto out = driver->CreateOutputTopic("totals-out", StringSerde(), Int64Serde());
  EXPECT_TRUE(out.IsEmpty());
  ASSERT_TRUE(driver->AdvanceWallClockTime(100).ok());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 6}, {"b", 3}}));
}

TEST(ProcessorApi, AStoreWithoutANameIsRejected) {
  StreamsBuilder builder;
  builder.AddStateStore(Materialized<StringSerde, Int64Serde>());
  builder.Stream<std::string, std::string>("in").To("out");
  absl::StatusOr<Topology> t = builder.Build();
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("AddStateStore: the store needs a name"), std::string::npos);
}


// Upper-cases the value; with `rekey`, forwards it under another key.
class Upper : public Processor<std::string, std::string, std::string, std::string> {
 public:
  explicit Upper(bool rekey) : rekey_(rekey) {}
  void Init(Context& context) override { context_ = &context; }
  void Process(const InputRecord<std::string, std::string>& r) override {
    std::string v = r.value;
    for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    context_->Forward(rekey_ ? v : r.key, v);
  }

 private:
  bool rekey_;
  Context* context_ = nullptr;
};

TEST(ProcessorApi, ProcessValuesKeepsTheKeySoAnAggregationAfterItNeedsNoRepartition) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .ProcessValues([] { return std::make_unique<Upper>(false); })
      .GroupByKey()
      .Count()
      .ToStream()
      .To("out");
  absl::StatusOr<Topology> topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();
  EXPECT_EQ(topology->Describe().find("repartition"), std::string::npos) << topology->Describe();
  auto driver = MakeDriver(builder, {}, testing::kNoCache);
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  ASSERT_TRUE(in.PipeInput("a", "x").ok());
  ASSERT_TRUE(in.PipeInput("a", "y").ok());
  auto out = driver->CreateOutputTopic("out", StringSerde(), Int64Serde());
  EXPECT_EQ(out.ReadKeyValuesToList(), (std::vector<SIKV>{{"a", 1}, {"a", 2}}));

  StreamsBuilder with_process;
  with_process.Stream<std::string, std::string>("in")
      .Process([] { return std::make_unique<Upper>(false); })
      .GroupByKey()
      .Count();
  absl::StatusOr<Topology> repartitioned = with_process.Build();
  ASSERT_TRUE(repartitioned.ok()) << repartitioned.status();
  EXPECT_NE(repartitioned->Describe().find("repartition"), std::string::npos);
}

TEST(ProcessorApi, ProcessValuesThatChangesTheKeyFailsTheTaskNamingTheProcessor) {
  StreamsBuilder builder;
  builder.Stream<std::string, std::string>("in")
      .ProcessValues([] { return std::make_unique<Upper>(true); }, {}, Named::As("upper"))
      .To("out");
  auto driver = MakeDriver(builder, {}, {{"processing.exception.handler", "continue"}});
  auto in = driver->CreateInputTopic("in", StringSerde(), StringSerde());
  absl::Status status = in.PipeInput("a", "x");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("processor 'upper'"), std::string_view::npos) << status;
  EXPECT_NE(status.message().find("another key"), std::string_view::npos) << status;
}

}  // namespace
}  // namespace sluice
