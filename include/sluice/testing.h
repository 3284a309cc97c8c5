// TopologyTestDriver: runs a Topology in-process, deterministically, with no broker.
// Input topics may have several partitions; records are routed to partitions as a Kafka
// producer would (murmur2 of the serialized key), pass through the same tasks, operators
// and serdes as in an App, and repartition topics feed the downstream sub-topology within
// the same call. Everything happens on the caller's thread.
//
//   TopologyTestDriver::Options options;
//   options.partitions["orders"] = 4;
//   auto driver = TopologyTestDriver::Create(topology, options).value();
//   auto in = driver->CreateInputTopic("orders", StringSerde(), Int64Serde());
//   auto out = driver->CreateOutputTopic("big-orders", StringSerde(), Int64Serde());
//   ASSERT_TRUE(in.PipeInput("o-1", 250).ok());
//   EXPECT_EQ(out.ReadKeyValue().value(), (KeyValue<std::string, int64_t>{"o-1", 250}));
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sluice/internal/str.h"
#include "sluice/key_value.h"
#include "sluice/serde.h"
#include "sluice/state.h"
#include "sluice/topology.h"

namespace sluice {

struct TestHeader {
  std::string key;
  std::optional<std::string> value;
  friend bool operator==(const TestHeader&, const TestHeader&) = default;
};

// A record as stored in a topic of the test driver: bytes, std::nullopt for Kafka null.
struct TestRawRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp = 0;
  int32_t partition = 0;
  int64_t offset = 0;
  std::vector<TestHeader> headers;
};

template <class K, class V>
struct TestRecord {
  K key;
  V value;
  int64_t timestamp = 0;
  int32_t partition = 0;
  std::vector<TestHeader> headers;
};

class TopologyTestDriver;

template <Serde KS, Serde VS>
class TestInputTopic;
template <Serde KS, Serde VS>
class TestOutputTopic;

class TopologyTestDriver {
 public:
  struct Options {
    // Partition count of topics not listed in `partitions` (repartition topics without
    // an explicit count take the largest count among their upstream source topics).
    int32_t default_partitions = 1;
    std::map<std::string, int32_t> partitions;
    // Timestamp of the first record piped without one; each such record adds 1 ms.
    int64_t start_timestamp_ms = 0;
  };

  // `config` takes the same keys as StreamsConfig; application.id defaults to
  // "test-driver" and bootstrap.servers is not needed.
  static absl::StatusOr<std::unique_ptr<TopologyTestDriver>> Create(
      const Topology& topology, Options options,
      std::map<std::string, std::string> config = {});
  static absl::StatusOr<std::unique_ptr<TopologyTestDriver>> Create(const Topology& topology) {
    return Create(topology, Options());
  }
  ~TopologyTestDriver();

  template <Serde KS, Serde VS>
  TestInputTopic<KS, VS> CreateInputTopic(std::string topic, KS key_serde = {},
                                          VS value_serde = {}) {
    return TestInputTopic<KS, VS>(this, std::move(topic), std::move(key_serde),
                                  std::move(value_serde));
  }
  template <Serde KS, Serde VS>
  TestOutputTopic<KS, VS> CreateOutputTopic(std::string topic, KS key_serde = {},
                                            VS value_serde = {}) {
    return TestOutputTopic<KS, VS>(this, std::move(topic), std::move(key_serde),
                                   std::move(value_serde));
  }

  // Writes one record to `topic` and processes everything it causes. `partition`
  // std::nullopt: murmur2 of the key, round robin for a null key. The error of a failed
  // task names the task, topic, partition and offsets.
  [[nodiscard]] absl::Status PipeRaw(const std::string& topic, TestRawRecord record,
                                     std::optional<int32_t> partition = std::nullopt);
  // Writes several records, then processes them in batches, one per partition, as an
  // App does after a poll.
  [[nodiscard]] absl::Status PipeRawBatch(const std::string& topic,
                                          std::vector<TestRawRecord> records);

  // Removes and returns the records written to `topic` that have not been read yet, in
  // the order they were written (across partitions).
  std::vector<TestRawRecord> ReadRaw(const std::string& topic, size_t max = SIZE_MAX);
  size_t QueueSize(const std::string& topic) const;

  int32_t PartitionCount(const std::string& topic) const;

  // The state store `name` as every task of the driver holds it (uncommitted changes
  // included: the driver commits after each Pipe call). NotFound if the topology has no
  // such store.
  template <Serde KS, Serde VS>
  absl::StatusOr<ReadOnlyKeyValueStore<KS, VS>> GetKeyValueStore(const std::string& name,
                                                                  KS key_serde = {},
                                                                  VS value_serde = {}) {
    absl::StatusOr<std::shared_ptr<internal::StoreReader>> reader = OpenStoreReader(name);
    if (!reader.ok()) return reader.status();
    return ReadOnlyKeyValueStore<KS, VS>(std::move(*reader), std::move(key_serde),
                                         std::move(value_serde));
  }
  // The directory the driver keeps its persistent stores in (deleted with the driver).
  const std::string& state_dir() const;
  // Records skipped: those that did not deserialize under
  // `default.deserialization.exception.handler=continue`, and those with an invalid
  // (negative) timestamp under InvalidTimestampPolicy::kSkip (LogAndSkipOnInvalidTimestamp).
  // AppMetrics::records_skipped counts the same.
  uint64_t skipped_records() const;
  // Records dropped because their window had closed (a late stream-stream join input).
  uint64_t late_records() const;
  // For GetKeyValueStore.
  absl::StatusOr<std::shared_ptr<internal::StoreReader>> OpenStoreReader(const std::string& name);

  // Moves the driver's wall clock (used by wall-clock punctuation).
  // Runs the wall-clock punctuations that become due, and what they cause.
  [[nodiscard]] absl::Status AdvanceWallClockTime(int64_t ms);
  int64_t wall_clock_ms() const;
  int64_t NextTimestamp() { return next_timestamp_++; }

 private:
  class Impl;
  explicit TopologyTestDriver(std::unique_ptr<Impl> impl, int64_t start_timestamp);
  std::unique_ptr<Impl> impl_;
  int64_t next_timestamp_ = 0;
};

namespace internal {
template <Serde S>
std::optional<std::string> EncodeForTest(const S& serde, const typename S::Type& v) {
  if constexpr (NullableSerde<S>) {
    if (serde.IsNull(v)) return std::nullopt;
  }
  std::string out;
  serde.Serialize(v, out);
  return out;
}
}  // namespace internal

template <Serde KS, Serde VS>
class TestInputTopic {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  // Pipes (key, value); without a timestamp, the driver's clock advances 1 ms per record.
  [[nodiscard]] absl::Status PipeInput(const K& key, const V& value,
                                       std::optional<int64_t> timestamp = std::nullopt,
                                       std::vector<TestHeader> headers = {}) {
    return driver_->PipeRaw(topic_, Encode(key, value, timestamp, std::move(headers)));
  }
  // Pipes a value with a null key.
  [[nodiscard]] absl::Status PipeValue(const V& value,
                                       std::optional<int64_t> timestamp = std::nullopt) {
    TestRawRecord r;
    r.value = internal::EncodeForTest(value_serde_, value);
    r.timestamp = timestamp ? *timestamp : driver_->NextTimestamp();
    return driver_->PipeRaw(topic_, std::move(r));
  }
  // Pipes to an explicit partition.
  [[nodiscard]] absl::Status PipeInputToPartition(int32_t partition, const K& key,
                                                  const V& value,
                                                  std::optional<int64_t> timestamp = std::nullopt) {
    return driver_->PipeRaw(topic_, Encode(key, value, timestamp, {}), partition);
  }
  // Pipes several records and processes them in batches, one per partition.
  [[nodiscard]] absl::Status PipeKeyValueList(const std::vector<KeyValue<K, V>>& records) {
    std::vector<TestRawRecord> raw;
    raw.reserve(records.size());
    for (const auto& kv : records) raw.push_back(Encode(kv.key, kv.value, std::nullopt, {}));
    return driver_->PipeRawBatch(topic_, std::move(raw));
  }

 private:
  friend class TopologyTestDriver;
  TestInputTopic(TopologyTestDriver* driver, std::string topic, KS ks, VS vs)
      : driver_(driver), topic_(std::move(topic)), key_serde_(std::move(ks)),
        value_serde_(std::move(vs)) {}

  TestRawRecord Encode(const K& key, const V& value, std::optional<int64_t> timestamp,
                       std::vector<TestHeader> headers) {
    TestRawRecord r;
    r.key = internal::EncodeForTest(key_serde_, key);
    r.value = internal::EncodeForTest(value_serde_, value);
    r.timestamp = timestamp ? *timestamp : driver_->NextTimestamp();
    r.headers = std::move(headers);
    return r;
  }

  TopologyTestDriver* driver_;
  std::string topic_;
  KS key_serde_;
  VS value_serde_;
};

template <Serde KS, Serde VS>
class TestOutputTopic {
 public:
  using K = typename KS::Type;
  using V = typename VS::Type;

  bool IsEmpty() const { return driver_->QueueSize(topic_) == 0; }
  size_t QueueSize() const { return driver_->QueueSize(topic_); }

  // Reads the next record; an error if there is none or it does not deserialize.
  absl::StatusOr<TestRecord<K, V>> ReadRecord() {
    std::vector<TestRawRecord> raw = driver_->ReadRaw(topic_, 1);
    if (raw.empty()) {
      return absl::NotFoundError(internal::Cat("no record left in output topic '", topic_, "'"));
    }
    return Decode(raw[0]);
  }
  // The next record's key and value; fails the calling test (via the status) if none.
  absl::StatusOr<KeyValue<K, V>> ReadKeyValue() {
    absl::StatusOr<TestRecord<K, V>> r = ReadRecord();
    if (!r.ok()) return r.status();
    return KeyValue<K, V>{std::move(r->key), std::move(r->value)};
  }
  absl::StatusOr<V> ReadValue() {
    absl::StatusOr<TestRecord<K, V>> r = ReadRecord();
    if (!r.ok()) return r.status();
    return std::move(r->value);
  }
  // Every record not read yet. Records that do not deserialize make it an error.
  absl::StatusOr<std::vector<TestRecord<K, V>>> ReadRecordsToList() {
    std::vector<TestRecord<K, V>> out;
    for (const TestRawRecord& raw : driver_->ReadRaw(topic_)) {
      absl::StatusOr<TestRecord<K, V>> r = Decode(raw);
      if (!r.ok()) return r.status();
      out.push_back(std::move(*r));
    }
    return out;
  }
  // Every key and value not read yet. A record that does not deserialize throws
  // std::runtime_error with the reason (a test framework reports it as a failure); use
  // ReadRecordsToList() to handle it as a status instead.
  std::vector<KeyValue<K, V>> ReadKeyValuesToList() {
    std::vector<KeyValue<K, V>> out;
    absl::StatusOr<std::vector<TestRecord<K, V>>> records = ReadRecordsToList();
    if (!records.ok()) throw std::runtime_error(std::string(records.status().message()));
    for (auto& r : *records) out.push_back({std::move(r.key), std::move(r.value)});
    return out;
  }
  std::vector<V> ReadValuesToList() {
    std::vector<V> out;
    for (auto& kv : ReadKeyValuesToList()) out.push_back(std::move(kv.value));
    return out;
  }

 private:
  friend class TopologyTestDriver;
  TestOutputTopic(TopologyTestDriver* driver, std::string topic, KS ks, VS vs)
      : driver_(driver), topic_(std::move(topic)), key_serde_(std::move(ks)),
        value_serde_(std::move(vs)) {}

  absl::StatusOr<TestRecord<K, V>> Decode(const TestRawRecord& raw) const {
    TestRecord<K, V> r;
    std::string_view key = raw.key ? std::string_view(*raw.key) : std::string_view();
    std::string_view value = raw.value ? std::string_view(*raw.value) : std::string_view();
    if (absl::Status s = key_serde_.Deserialize(key, r.key); !s.ok()) {
      return absl::InvalidArgumentError(internal::Cat("output topic '", topic_, "' partition ",
                                                      raw.partition, " offset ", raw.offset,
                                                      ": key: ", s.message()));
    }
    if (absl::Status s = value_serde_.Deserialize(value, r.value); !s.ok()) {
      return absl::InvalidArgumentError(internal::Cat("output topic '", topic_, "' partition ",
                                                      raw.partition, " offset ", raw.offset,
                                                      ": value: ", s.message()));
    }
    r.timestamp = raw.timestamp;
    r.partition = raw.partition;
    r.headers = raw.headers;
    return r;
  }

  TopologyTestDriver* driver_;
  std::string topic_;
  KS key_serde_;
  VS value_serde_;
};

}  // namespace sluice
