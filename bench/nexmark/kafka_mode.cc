// sluice-nexmark --mode kafka: the query as an App reading the events from a broker (the
// embedded one, or a real cluster with --bootstrap-servers), beside, for q0 and q2, the
// hand-written librdkafka loop a user would write instead (bench/kafka_util.h).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/kafka_util.h"
#include "bench/nexmark/harness.h"
#include "sluice/sluice.h"
#include "src/kafka/admin.h"

namespace sluice::nexmark {
namespace {

using Clock = std::chrono::steady_clock;
using bench::HandLoop;
using bench::KafkaPtr;
using bench::NewClient;
using bench::QueryWatermarks;

// The embedded broker (librdkafka 2.0.2's mock cluster) keeps at most 5 MiB and 100,000
// records per partition and silently drops the oldest past that. A run keeps each
// partition of its input under these, leaving room for outputs and repartition topics
// that are somewhat larger than their input.
constexpr int64_t kEmbeddedPartitionBytes = 4 << 20;
constexpr int64_t kEmbeddedPartitionRecords = 90'000;

// How many of the events (a prefix) fit the embedded broker's retention.
size_t FittingPrefix(const Input& in, int32_t partitions) {
  std::vector<int64_t> bytes(static_cast<size_t>(partitions)), records(static_cast<size_t>(partitions));
  for (size_t i = 0; i < in.size(); ++i) {
    const auto p = static_cast<size_t>(in.partitions[i]);
    bytes[p] += static_cast<int64_t>(in.keys[i].size() + in.values[i].size());
    if (bytes[p] > kEmbeddedPartitionBytes || ++records[p] > kEmbeddedPartitionRecords) return i;
  }
  return in.size();
}

void ProduceInput(const std::string& servers, const std::string& topic, const Input& in,
                  int32_t partitions) {
  std::atomic<int64_t> failed{0};
  auto dr = [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err) static_cast<std::atomic<int64_t>*>(opaque)->fetch_add(1);
  };
  KafkaPtr producer = NewClient(RD_KAFKA_PRODUCER,
                                {{"bootstrap.servers", servers}, {"linger.ms", "5"},
                                 {"enable.idempotence", "true"}},
                                dr, &failed);
  rd_kafka_topic_t* rkt = bench::WarmTopic(producer.get(), topic);
  Progress progress("produce", static_cast<int64_t>(in.size()));
  for (size_t i = 0; i < in.size(); ++i) {
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(in.partitions[i]),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(in.keys[i].data(), in.keys[i].size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(in.values[i].data()), in.values[i].size()),
          RD_KAFKA_V_TIMESTAMP(in.timestamps[i]), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        Fail("producing the events to '" + topic + "'", absl::InternalError(rd_kafka_err2str(err)));
      }
      rd_kafka_poll(producer.get(), 10);
    }
    if (i % 4096 == 0) progress.Update(static_cast<int64_t>(i));
  }
  if (rd_kafka_flush(producer.get(), 120000) != RD_KAFKA_RESP_ERR_NO_ERROR || failed > 0) {
    Fail("producing the events to '" + topic + "'", absl::InternalError("not every event was acknowledged"));
  }
  progress.Done();
  rd_kafka_topic_destroy(rkt);
  const bench::Watermarks w = QueryWatermarks(producer.get(), topic, partitions);
  if (w.low_min != 0 || w.high_sum != static_cast<int64_t>(in.size())) {
    Fail("the events topic '" + topic + "'",
         absl::DataLossError("holds " + std::to_string(w.high_sum) + " records from offset " +
                             std::to_string(w.low_min) + " after " + std::to_string(in.size()) +
                             " were produced: the broker dropped some"));
  }
}

// Every record of `topic`, read from the beginning to its high watermarks.
std::vector<OutRow> ReadTopic(const std::string& servers, const std::string& topic, int32_t partitions,
                              bool* trimmed) {
  KafkaPtr consumer = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", servers},
                                                    {"group.id", "sluice-nexmark-reader"},
                                                    {"enable.auto.commit", "false"},
                                                    {"enable.partition.eof", "true"}});
  rd_kafka_poll_set_consumer(consumer.get());
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
  int open = 0;
  *trimmed = false;
  for (int32_t p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), p, &low, &high, 10000);
    if (low > 0) *trimmed = true;
    if (high > low) {
      rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
      ++open;
    }
  }
  rd_kafka_assign(consumer.get(), assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  std::vector<OutRow> rows;
  const auto give_up = Clock::now() + std::chrono::seconds(120);
  while (open > 0 && Clock::now() < give_up) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      --open;
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      OutRow row;
      row.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload != nullptr) row.value.emplace(static_cast<const char*>(m->payload), m->len);
      rows.push_back(std::move(row));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(consumer.get());
  return rows;
}

// When the App has processed every event and everything it repartitioned; and then when
// its output stopped growing.
struct AppTimes {
  double processed = 0;
  double e2e = 0;
  bool ok = false;
};

AppTimes MeasureApp(App& app, rd_kafka_t* observer, const std::string& events_topic, int64_t events,
                    const std::string& out_topic, int32_t partitions, int64_t closes_within_ms) {
  // Done when the output has not grown for this long after every event was processed:
  // a commit, and the windows' idle close.
  const auto quiet = std::chrono::milliseconds(3000 + closes_within_ms);
  AppTimes times;
  std::optional<Clock::time_point> first, done;
  Clock::time_point last_change{};
  int64_t last_out = -1;
  const auto give_up = Clock::now() + std::chrono::minutes(10);
  Progress progress("sluice", events);
  while (Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (app.state() == AppState::kError || app.state() == AppState::kPendingError) break;
    const AppMetrics m = app.metrics();
    const auto now = Clock::now();
    if (!first && m.records_in > 0) first = now;
    if (!first) continue;
    if (!done) {
      int64_t consumed = 0;
      bool caught_up = true;
      for (const PartitionLag& lag : m.lag) {
        if (lag.topic == events_topic) consumed += std::max<int64_t>(lag.position, 0);
        if (lag.position < 0 || lag.position < lag.end_offset) caught_up = false;
      }
      progress.Update(consumed);
      if (consumed >= events && caught_up) {
        done = now;
        progress.Done();
      }
      continue;
    }
    const int64_t out = QueryWatermarks(observer, out_topic, partitions).high_sum;
    if (out != last_out) {
      last_out = out;
      last_change = Clock::now();
    } else if (Clock::now() - last_change > quiet) {
      times.processed = std::chrono::duration<double>(*done - *first).count();
      times.e2e = std::chrono::duration<double>(std::max(*done, last_change) - *first).count();
      times.ok = true;
      return times;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  progress.Done();
  return times;
}

// The hand-written loop's transform for q0 and q2: decode, keep the query's bids, encode
// its result row.
HandLoop::Transform HandTransform(const std::string& query, Format format) {
  return [query, serde = EventSerde(format), event = Event(), out = std::string()](
             const rd_kafka_message_t& m, std::string_view* key, std::string_view* value) mutable {
    const std::string_view bytes(static_cast<const char*>(m.payload), m.len);
    if (!serde.Deserialize(bytes, event).ok()) return false;
    const Bid* bid = event.bid();
    if (bid == nullptr) return false;
    if (query == "q2") {
      if (bid->auction % 123 != 0) return false;
      RowSerde<Q2Row>().Serialize(Q2Row{bid->auction, bid->price}, out);
    } else {
      RowSerde<Bid>().Serialize(*bid, out);
    }
    *key = std::string_view(static_cast<const char*>(m.key), m.key_len);
    *value = out;
    return true;
  };
}

std::optional<double> RunHand(const Flags& f, const std::string& servers, rd_kafka_t* observer,
                              const std::string& events_topic, const std::string& out_topic,
                              const Query& query, int64_t events, int64_t expected, std::string* note) {
  std::vector<std::unique_ptr<HandLoop>> loops;
  const std::string group = "sluice-nexmark-hand-" + std::to_string(getpid()) + "-" + query.name;
  for (int t = 0; t < f.threads; ++t) {
    std::vector<int32_t> partitions;
    for (int32_t p = t; p < f.partitions; p += f.threads) partitions.push_back(p);
    loops.push_back(std::make_unique<HandLoop>(servers, events_topic, out_topic, group, partitions,
                                               HandTransform(query.name, f.format), 1000, t));
  }
  for (auto& l : loops) l->Start();
  std::optional<Clock::time_point> first;
  std::optional<double> seconds;
  const auto give_up = Clock::now() + std::chrono::minutes(10);
  Progress progress("hand", events);
  while (Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    uint64_t n = 0;
    for (auto& l : loops) n += l->processed();
    if (!first && n > 0) first = Clock::now();
    progress.Update(static_cast<int64_t>(n));
    if (static_cast<int64_t>(n) >= events) {
      seconds = std::chrono::duration<double>(Clock::now() - *first).count();
      break;
    }
  }
  progress.Done();
  for (auto& l : loops) l->Stop();
  const int64_t written = QueryWatermarks(observer, out_topic, f.partitions).high_sum;
  if (!seconds || written != expected) {
    *note += "hand-written loop: " + std::to_string(written) + " outputs of " + std::to_string(expected) + "; ";
  }
  return seconds;
}

}  // namespace

Result RunKafka(const Flags& f, const Query& query, Input in) {
  Result result;
  result.query = query.name;
  const std::string run = std::to_string(getpid()) + "-" + query.name;
  QueryOptions options;
  options.format = f.format;
  options.input_topic = "nexmark-events-" + run;
  options.output_topic = "nexmark-" + run;
  const std::string hand_topic = "nexmark-hand-" + run;
  const bool hand = query.name == "q0" || query.name == "q2";

  std::unique_ptr<EmbeddedBroker> broker;
  std::string servers = f.bootstrap_servers;
  std::vector<std::string> topics = {options.input_topic, options.output_topic};
  if (hand) topics.push_back(hand_topic);
  if (servers.empty()) {
    absl::StatusOr<std::unique_ptr<EmbeddedBroker>> started = EmbeddedBroker::Start();
    if (!started.ok()) Fail("starting the embedded broker", started.status());
    broker = std::move(*started);
    servers = broker->bootstrap_servers();
    const size_t fit = FittingPrefix(in, f.partitions);
    if (fit < in.size()) {
      std::fprintf(stderr,
                   "sluice-nexmark: %s: the embedded broker keeps at most 5 MiB and 100,000 records "
                   "per partition; running the first %zu of %zu events (at most 4 MiB per partition of "
                   "'%s'). More: --partitions, or a real cluster with --bootstrap-servers.\n",
                   query.name.c_str(), fit, in.size(), options.input_topic.c_str());
      in.Truncate(fit);
    }
    for (const std::string& t : topics) {
      if (absl::Status s = broker->CreateTopic(t, f.partitions); !s.ok()) Fail("creating " + t, s);
    }
  } else {
    auto admin = internal::Admin::Create({{"bootstrap.servers", servers}});
    if (!admin.ok()) Fail("connecting to " + servers, admin.status());
    std::vector<internal::TopicSpec> specs;
    for (const std::string& t : topics) specs.push_back({.name = t, .partitions = f.partitions, .replication = -1, .configs = {}});
    if (absl::Status s = (*admin)->CreateTopics(specs, std::chrono::seconds(30)); !s.ok()) Fail("creating topics", s);
  }
  result.events = static_cast<int64_t>(in.size());

  ReferenceRun reference = RunReference(f, query, in);
  result.reference_seconds = reference.seconds;
  ProduceInput(servers, options.input_topic, in, f.partitions);
  KafkaPtr observer = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", servers}});

  StreamsBuilder builder;
  query.build(builder, options);
  absl::StatusOr<Topology> topology = builder.Build();
  if (!topology.ok()) Fail("building " + query.name, topology.status());
  const std::filesystem::path state_dir = std::filesystem::temp_directory_path() / ("sluice-nexmark-" + run);
  std::map<std::string, std::string> props = query.config;
  props["application.id"] = "nexmark-" + run;
  props["bootstrap.servers"] = servers;
  props["num.stream.threads"] = std::to_string(f.threads);
  props["state.dir"] = state_dir.string();
  props["commit.interval.ms"] = "1000";
  props["idle.window.close.ms"] = "1000";
  props["consumer.session.timeout.ms"] = "6000";
  props["consumer.heartbeat.interval.ms"] = "500";
  absl::StatusOr<StreamsConfig> config = StreamsConfig::Create(props);
  if (!config.ok()) Fail("configuring " + query.name, config.status());
  absl::StatusOr<std::unique_ptr<App>> app = App::Create(*topology, *config, broker.get());
  if (!app.ok()) Fail("creating the App for " + query.name, app.status());
  if (absl::Status s = (*app)->Start(); !s.ok()) Fail("starting the App for " + query.name, s);
  const AppTimes times = MeasureApp(**app, observer.get(), options.input_topic, result.events,
                                    options.output_topic, f.partitions, query.closes_within_ms);
  const AppMetrics metrics = (*app)->metrics();
  (*app)->Close(std::chrono::seconds(60));
  if (absl::Status s = (*app)->error(); !s.ok()) Fail(query.name + " failed", s);
  std::error_code ec;
  std::filesystem::remove_all(state_dir, ec);
  if (!times.ok) Fail(query.name, absl::DeadlineExceededError("the App did not finish within 10 minutes"));
  result.sluice_seconds = times.processed;
  result.ratio = times.processed > 0 ? result.reference_seconds / (f.threads * times.processed) : 0;
  result.e2e_seconds = times.e2e;
  result.peak_rss = PeakRssBytes();
  result.outputs = metrics.records_out;
  if (metrics.records_late > 0) result.note += std::to_string(metrics.records_late) + " late records; ";

  if (f.verify) {
    if (query.name == "q12") {
      result.note += "q12 (processing time) not verified; ";
    } else {
      bool trimmed = false;
      std::vector<OutRow> actual = ReadTopic(servers, options.output_topic, f.partitions, &trimmed);
      if (trimmed) {
        result.note += "output trimmed by the broker, not verified; ";
      } else {
        result.equal = SameResults(query, std::move(actual), reference.rows);
      }
    }
  }
  if (hand) {
    result.hand_seconds = RunHand(f, servers, observer.get(), options.input_topic, hand_topic, query,
                                  result.events, static_cast<int64_t>(reference.rows.size()), &result.note);
  }
  return result;
}

}  // namespace sluice::nexmark
