// StreamsConfig: an application's settings, with Kafka Streams' key names, validated
// once, with errors that name the key and the accepted values.
//
//   absl::StatusOr<StreamsConfig> config = StreamsConfig::Create({
//       {"application.id", "order-enricher"},
//       {"bootstrap.servers", "kafka-1:9092"},
//       {"num.stream.threads", "2"},
//       {"consumer.fetch.max.bytes", "52428800"},   // passed to librdkafka's consumer
//   });
//
// Keys prefixed `consumer.`, `producer.` or `admin.` go to that librdkafka client with the
// prefix removed; any other key Sluice does not know goes to every client (for example
// `security.protocol`), and the App checks it with librdkafka: a key neither knows is an
// error that names it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sluice/timestamp.h"

namespace sluice {

enum class ProcessingGuarantee { kAtLeastOnce, kExactlyOnceV2 };
enum class DeserializationErrorHandling { kFail, kContinue };
enum class ProcessingErrorHandling { kFail, kContinue };
enum class ClientKind { kConsumer, kProducer, kAdmin };

class StreamsConfig {
 public:
  static constexpr std::string_view kApplicationId = "application.id";
  static constexpr std::string_view kBootstrapServers = "bootstrap.servers";
  static constexpr std::string_view kNumStreamThreads = "num.stream.threads";
  static constexpr std::string_view kCommitIntervalMs = "commit.interval.ms";
  static constexpr std::string_view kProcessingGuarantee = "processing.guarantee";
  static constexpr std::string_view kStateDir = "state.dir";
  static constexpr std::string_view kDeserializationHandler =
      "default.deserialization.exception.handler";
  // An exception a Processor API processor throws from Process() (Kafka Streams' KIP-1033):
  // fail (the default) fails the task; continue skips the record, counts it, and sends it
  // to the dead-letter queue if one is set. Other DSL functions that throw fail the task.
  static constexpr std::string_view kProcessingHandler = "processing.exception.handler";
  // Where skipped records go (KIP-1034): records that failed to deserialize (under
  // `continue`), whose processor threw (under `continue`), or whose timestamp was skipped,
  // written with their original key, value and headers, plus headers sluice.error,
  // sluice.source.topic, sluice.source.partition and sluice.source.offset. Empty (the
  // default): skipped records are only logged and counted.
  static constexpr std::string_view kDeadLetterQueueTopic = "errors.dead.letter.queue.topic.name";
  static constexpr std::string_view kPollMs = "poll.ms";
  static constexpr std::string_view kMaxPollRecords = "max.poll.records";
  static constexpr std::string_view kDefaultApiTimeoutMs = "default.api.timeout.ms";
  static constexpr std::string_view kReplicationFactor = "replication.factor";
  static constexpr std::string_view kClientId = "client.id";
  // State: the record cache of all stream threads together, and the memory of all
  // RocksDB stores of the process (block cache, index/filter blocks and memtables).
  static constexpr std::string_view kCacheMaxBytesBuffering = "cache.max.bytes.buffering";
  static constexpr std::string_view kRocksDbMemoryBudget = "rocksdb.memory.budget.bytes";
  // Windows (docs/time.md): after this many ms of wall clock without input, a task's
  // windowed aggregations and suppressions let stream time follow the wall clock, so
  // windows close and final results appear on idle keys and partitions. -1 (the
  // default, as in Kafka Streams): stream time moves only with records.
  static constexpr std::string_view kIdleWindowCloseMs = "idle.window.close.ms";
  // Where sources without an extractor take timestamps from, and what they do with a
  // negative one (include/sluice/timestamp.h): Kafka Streams' class names
  // FailOnInvalidTimestamp (the default), LogAndSkipOnInvalidTimestamp,
  // UsePartitionTimeOnInvalidTimestamp, WallclockTimestampExtractor.
  static constexpr std::string_view kDefaultTimestampExtractor = "default.timestamp.extractor";
  // A task with several input partitions processes their records smallest timestamp
  // first. When one of them has no records, it waits: -1 never; 0 (the default) until
  // that partition is caught up; N until caught up but at most N ms.
  static constexpr std::string_view kMaxTaskIdleMs = "max.task.idle.ms";
  // How many records such a task holds per partition before the partition is paused.
  static constexpr std::string_view kBufferedRecordsPerPartition = "buffered.records.per.partition";

  static absl::StatusOr<StreamsConfig> Create(const std::map<std::string, std::string>& props);

  const std::string& application_id() const { return application_id_; }
  // Empty when not set; App fills it from an embedded broker, or fails.
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  int num_stream_threads() const { return num_stream_threads_; }
  int64_t commit_interval_ms() const { return commit_interval_ms_; }
  ProcessingGuarantee processing_guarantee() const { return guarantee_; }
  const std::string& state_dir() const { return state_dir_; }
  DeserializationErrorHandling deserialization_errors() const { return deserialization_; }
  ProcessingErrorHandling processing_errors() const { return processing_; }
  const std::string& dead_letter_queue_topic() const { return dead_letter_topic_; }
  int poll_ms() const { return poll_ms_; }
  int max_poll_records() const { return max_poll_records_; }
  int64_t default_api_timeout_ms() const { return api_timeout_ms_; }
  int replication_factor() const { return replication_factor_; }
  const std::string& client_id() const { return client_id_; }
  int64_t cache_max_bytes_buffering() const { return cache_max_bytes_; }
  int64_t rocksdb_memory_budget() const { return rocksdb_memory_budget_; }
  int64_t idle_window_close_ms() const { return idle_window_close_ms_; }
  const TimestampDefaults& timestamp_defaults() const { return timestamps_; }
  int64_t max_task_idle_ms() const { return max_task_idle_ms_; }
  int buffered_records_per_partition() const { return buffered_records_per_partition_; }

  // librdkafka properties for one client: the un-prefixed pass-through keys, then the
  // client's prefixed keys (which win). Each entry is (user-facing key, librdkafka key,
  // value), so errors can name the key the user wrote.
  struct ClientProperty {
    std::string user_key;
    std::string key;
    std::string value;
  };
  std::vector<ClientProperty> ClientProperties(ClientKind kind) const;

  // The same config with `bootstrap.servers` set (used for an embedded broker).
  StreamsConfig WithBootstrapServers(std::string servers) const;

 private:
  StreamsConfig() = default;

  std::string application_id_;
  std::string bootstrap_servers_;
  int num_stream_threads_ = 1;
  int64_t commit_interval_ms_ = 30000;
  ProcessingGuarantee guarantee_ = ProcessingGuarantee::kAtLeastOnce;
  std::string state_dir_;
  DeserializationErrorHandling deserialization_ = DeserializationErrorHandling::kFail;
  ProcessingErrorHandling processing_ = ProcessingErrorHandling::kFail;
  std::string dead_letter_topic_;
  int poll_ms_ = 100;
  int max_poll_records_ = 1000;
  int64_t api_timeout_ms_ = 60000;
  int replication_factor_ = -1;
  std::string client_id_;
  int64_t cache_max_bytes_ = 10 * 1024 * 1024;  // Kafka Streams' default
  int64_t rocksdb_memory_budget_ = 64 * 1024 * 1024;
  int64_t idle_window_close_ms_ = -1;
  TimestampDefaults timestamps_;
  int64_t max_task_idle_ms_ = 0;
  int buffered_records_per_partition_ = 1000;
  std::vector<ClientProperty> common_;
  std::map<ClientKind, std::vector<ClientProperty>> prefixed_;
};

}  // namespace sluice
