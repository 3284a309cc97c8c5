// Every Nexmark query through the TopologyTestDriver (events on 4 partitions, in batches
// as an App takes them after a poll, record cache on and off), its output topic settled
// (queries.h) and compared, record by record, with its plain-C++ reference over the same
// generated events (reference.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bench/nexmark/codec.h"
#include "bench/nexmark/generator.h"
#include "bench/nexmark/queries.h"
#include "sluice/sluice.h"
#include "sluice/testing.h"

namespace sluice::nexmark {
namespace {

constexpr int kEvents = 30'000;
constexpr size_t kBatch = 200;           // events per PipeRawBatch call
constexpr int64_t kDelayUs = 3'000;      // 90 s of event time: several windows and sessions
constexpr int64_t kWallStepMs = 700;     // q12: wall clock between batches

struct Case {
  std::string query;
  bool cache = true;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.query << (c.cache ? " with" : " without") << " cache"; }

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.query + (info.param.cache ? "_cache" : "_nocache");
}

const std::vector<Event>& TestEvents() {
  static const std::vector<Event> events = [] {
    GeneratorConfig config;
    config.max_events = kEvents;
    config.inter_event_delay_us = kDelayUs;
    config.seed = 3;
    Generator g(config);
    std::vector<Event> out;
    while (g.HasNext()) out.push_back(g.Next());
    return out;
  }();
  return events;
}

class NexmarkQuery : public ::testing::TestWithParam<Case> {};

TEST_P(NexmarkQuery, OutputEqualsTheReference) {
  const Query* query = FindQuery(GetParam().query);
  ASSERT_NE(query, nullptr);
  QueryOptions options;
  StreamsBuilder builder;
  query->build(builder, options);
  absl::StatusOr<Topology> topology = builder.Build();
  ASSERT_TRUE(topology.ok()) << topology.status();

  std::map<std::string, std::string> config = query->config;
  config["idle.window.close.ms"] = "1000";
  if (!GetParam().cache) config["cache.max.bytes.buffering"] = "0";
  TopologyTestDriver::Options driver_options;
  driver_options.partitions[options.input_topic] = 4;
  auto driver = TopologyTestDriver::Create(*topology, driver_options, config);
  ASSERT_TRUE(driver.ok()) << driver.status();

  const std::vector<Event>& events = TestEvents();
  ReferenceInput reference_input;
  reference_input.events = &events;
  EventSerde serde(options.format);
  Int64Serde keys;
  for (size_t begin = 0; begin < events.size(); begin += kBatch) {
    std::vector<TestRawRecord> batch;
    for (size_t i = begin; i < std::min(events.size(), begin + kBatch); ++i) {
      TestRawRecord r;
      r.key.emplace();
      keys.Serialize(events[i].key(), *r.key);
      r.value.emplace();
      serde.Serialize(events[i], *r.value);
      r.timestamp = events[i].date_time();
      batch.push_back(std::move(r));
      reference_input.processing_times.push_back((*driver)->wall_clock_ms());
    }
    ASSERT_TRUE((*driver)->PipeRawBatch(options.input_topic, std::move(batch)).ok());
    ASSERT_TRUE((*driver)->AdvanceWallClockTime(kWallStepMs).ok());
  }
  // Input stops: idle close moves stream time on, and every window closes.
  ASSERT_TRUE((*driver)->AdvanceWallClockTime(2 * 24 * 3600 * 1000).ok());
  EXPECT_EQ((*driver)->late_records(), 0u);
  EXPECT_EQ((*driver)->skipped_records(), 0u);

  std::vector<OutRow> records;
  for (TestRawRecord& r : (*driver)->ReadRaw(options.output_topic)) {
    ASSERT_TRUE(r.key.has_value());
    records.push_back(OutRow{std::move(*r.key), std::move(r.value)});
  }
  const std::vector<OutRow> actual = Settle(query->output, std::move(records));
  const std::vector<OutRow> expected = Settle(query->output, query->reference(reference_input));
  ASSERT_FALSE(expected.empty()) << "the reference of " << query->name << " found nothing";
  EXPECT_EQ(actual.size(), expected.size());
  // The first few differences, readably.
  size_t shown = 0;
  std::vector<OutRow> missing, extra;
  std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(),
                      std::back_inserter(missing));
  std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  for (const OutRow& r : missing) {
    if (shown++ < 5) ADD_FAILURE() << "missing: " << query->describe(r);
  }
  for (const OutRow& r : extra) {
    if (shown++ < 10) ADD_FAILURE() << "unexpected: " << query->describe(r);
  }
  EXPECT_TRUE(missing.empty() && extra.empty())
      << missing.size() << " missing, " << extra.size() << " unexpected of " << expected.size();
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const Query& q : Queries()) {
    cases.push_back({q.name, true});
    cases.push_back({q.name, false});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Queries, NexmarkQuery, ::testing::ValuesIn(AllCases()), CaseName);

TEST(NexmarkQueries, EveryQueryOfTheIssueIsRegistered) {
  std::vector<std::string> names;
  for (const Query& q : Queries()) names.push_back(q.name);
  for (const char* name : {"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11", "q12", "q14",
                           "q17", "q18", "q19", "q20", "q21", "q22"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

}  // namespace
}  // namespace sluice::nexmark
