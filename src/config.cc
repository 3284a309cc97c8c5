// Parses and validates StreamsConfig.
#include "sluice/config.h"

#include <charconv>
#include <filesystem>
#include <limits>
#include <optional>

#include "sluice/internal/str.h"

namespace sluice {
namespace {

absl::Status BadValue(std::string_view key, std::string_view value, std::string_view accepted) {
  return absl::InvalidArgumentError(
      internal::Cat("invalid value '", value, "' for config '", key, "': expected ", accepted));
}

absl::StatusOr<int64_t> ParseInt(std::string_view key, std::string_view value, int64_t min,
                                 int64_t max) {
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  std::string accepted = max == std::numeric_limits<int64_t>::max()
                             ? internal::Cat("an integer >= ", min)
                             : internal::Cat("an integer from ", min, " to ", max);
  if (ec != std::errc() || ptr != value.data() + value.size() || out < min || out > max) {
    return BadValue(key, value, accepted);
  }
  return out;
}

// 1 to `max` characters from [a-zA-Z0-9._-] (application ids, topic names).
bool ValidName(std::string_view id, size_t max) {
  if (id.empty() || id.size() > max) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// An exception handler setting: "fail" or "continue", or Kafka Streams' class names
// ending in `fail_class` / `continue_class`. True for continue; nullopt if neither.
std::optional<bool> ContinueOnError(std::string_view value, std::string_view fail_class,
                                    std::string_view continue_class) {
  if (value == "fail" || value.ends_with(fail_class)) return false;
  if (value == "continue" || value.ends_with(continue_class)) return true;
  return std::nullopt;
}

constexpr std::string_view kPrefixes[] = {"consumer.", "producer.", "admin."};
constexpr ClientKind kPrefixKinds[] = {ClientKind::kConsumer, ClientKind::kProducer,
                                       ClientKind::kAdmin};

// Keys Sluice manages itself; passing them to a client would break the engine.
constexpr std::string_view kManagedClientKeys[] = {
    "group.id", "enable.auto.commit", "enable.auto.offset.store", "transactional.id",
    "enable.partition.eof"};

}  // namespace

absl::StatusOr<StreamsConfig> StreamsConfig::Create(
    const std::map<std::string, std::string>& props) {
  StreamsConfig c;
  c.state_dir_ = (std::filesystem::temp_directory_path() / "sluice").string();
  bool has_commit_interval = false;
  for (const auto& [key, value] : props) {
    if (key == kApplicationId) {
      if (!ValidName(value, 200)) {
        return BadValue(key, value,
                        "1 to 200 characters from [a-zA-Z0-9._-] (it names the consumer group "
                        "and prefixes internal topics)");
      }
      c.application_id_ = value;
    } else if (key == kBootstrapServers) {
      if (value.empty()) return BadValue(key, value, "a list of host:port pairs");
      c.bootstrap_servers_ = value;
    } else if (key == kNumStreamThreads) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, 1, 1024);
      if (!v.ok()) return v.status();
      c.num_stream_threads_ = static_cast<int>(*v);
    } else if (key == kCommitIntervalMs) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, 0, std::numeric_limits<int64_t>::max());
      if (!v.ok()) return v.status();
      c.commit_interval_ms_ = *v;
      has_commit_interval = true;
    } else if (key == kProcessingGuarantee) {
      if (value == "at_least_once") {
        c.guarantee_ = ProcessingGuarantee::kAtLeastOnce;
      } else if (value == "exactly_once_v2") {
        c.guarantee_ = ProcessingGuarantee::kExactlyOnceV2;
      } else {
        return BadValue(key, value, "one of: at_least_once, exactly_once_v2");
      }
    } else if (key == kStateDir) {
      if (value.empty()) return BadValue(key, value, "a directory path");
      c.state_dir_ = value;
    } else if (key == kDeserializationHandler) {
      std::optional<bool> go_on =
          ContinueOnError(value, "LogAndFailExceptionHandler", "LogAndContinueExceptionHandler");
      if (!go_on) {
        return BadValue(key, value,
                        "one of: fail, continue (or Kafka Streams' LogAndFailExceptionHandler, "
                        "LogAndContinueExceptionHandler)");
      }
      c.deserialization_ = *go_on ? DeserializationErrorHandling::kContinue
                                  : DeserializationErrorHandling::kFail;
    } else if (key == kProcessingHandler) {
      std::optional<bool> go_on = ContinueOnError(value, "LogAndFailProcessingExceptionHandler",
                                                  "LogAndContinueProcessingExceptionHandler");
      if (!go_on) {
        return BadValue(key, value,
                        "one of: fail, continue (or Kafka Streams' "
                        "LogAndFailProcessingExceptionHandler, "
                        "LogAndContinueProcessingExceptionHandler)");
      }
      c.processing_ = *go_on ? ProcessingErrorHandling::kContinue : ProcessingErrorHandling::kFail;
    } else if (key == kDeadLetterQueueTopic) {
      if (!ValidName(value, 249) || value == "." || value == "..") {
        return BadValue(key, value, "a Kafka topic name: 1 to 249 characters from [a-zA-Z0-9._-]");
      }
      c.dead_letter_topic_ = value;
    } else if (key == kDefaultTimestampExtractor) {
      // Kafka Streams' class names, with or without their package.
      std::string_view name = value;
      constexpr std::string_view kPackage = "org.apache.kafka.streams.processor.";
      if (name.starts_with(kPackage)) name.remove_prefix(kPackage.size());
      if (name == "FailOnInvalidTimestamp") {
        c.timestamps_ = {TimestampSource::kRecord, InvalidTimestampPolicy::kFail};
      } else if (name == "LogAndSkipOnInvalidTimestamp") {
        c.timestamps_ = {TimestampSource::kRecord, InvalidTimestampPolicy::kSkip};
      } else if (name == "UsePartitionTimeOnInvalidTimestamp") {
        c.timestamps_ = {TimestampSource::kRecord, InvalidTimestampPolicy::kUsePartitionTime};
      } else if (name == "WallclockTimestampExtractor") {
        c.timestamps_ = {TimestampSource::kWallClock, InvalidTimestampPolicy::kFail};
      } else {
        return BadValue(key, value,
                        "one of: FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp, "
                        "UsePartitionTimeOnInvalidTimestamp, WallclockTimestampExtractor");
      }
    } else if (key == kPollMs) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, 1, 60000);
      if (!v.ok()) return v.status();
      c.poll_ms_ = static_cast<int>(*v);
    } else if (key == kMaxPollRecords) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, 1, 1000000);
      if (!v.ok()) return v.status();
      c.max_poll_records_ = static_cast<int>(*v);
    } else if (key == kDefaultApiTimeoutMs) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, 1, std::numeric_limits<int32_t>::max());
      if (!v.ok()) return v.status();
      c.api_timeout_ms_ = *v;
    } else if (key == kReplicationFactor) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, -1, 32767);
      if (!v.ok() || *v == 0) return BadValue(key, value, "-1 (the broker's default) or >= 1");
      c.replication_factor_ = static_cast<int>(*v);
    } else if (key == kClientId) {
      c.client_id_ = value;
    } else if (key == kCacheMaxBytesBuffering) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, 0, std::numeric_limits<int64_t>::max());
      if (!v.ok()) return v.status();
      c.cache_max_bytes_ = *v;
    } else if (key == kRocksDbMemoryBudget) {
      absl::StatusOr<int64_t> v =
          ParseInt(key, value, 1 << 20, std::numeric_limits<int64_t>::max());
      if (!v.ok()) return v.status();
      c.rocksdb_memory_budget_ = *v;
    } else if (key == kIdleWindowCloseMs) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, -1, std::numeric_limits<int64_t>::max());
      if (!v.ok()) return v.status();
      c.idle_window_close_ms_ = *v;
    } else if (key == kMaxTaskIdleMs) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, -1, std::numeric_limits<int64_t>::max());
      if (!v.ok()) return v.status();
      c.max_task_idle_ms_ = *v;
    } else if (key == kBufferedRecordsPerPartition) {
      absl::StatusOr<int64_t> v = ParseInt(key, value, 1, std::numeric_limits<int32_t>::max());
      if (!v.ok()) return v.status();
      c.buffered_records_per_partition_ = static_cast<int>(*v);
    } else {
      bool prefixed = false;
      for (size_t i = 0; i < std::size(kPrefixes); ++i) {
        if (key.starts_with(kPrefixes[i])) {
          std::string client_key = key.substr(kPrefixes[i].size());
          if (client_key.empty()) return BadValue(key, value, "a librdkafka property after the prefix");
          c.prefixed_[kPrefixKinds[i]].push_back({key, client_key, value});
          prefixed = true;
          break;
        }
      }
      if (!prefixed) c.common_.push_back({key, key, value});
    }
  }
  std::vector<const ClientProperty*> all;
  for (const ClientProperty& p : c.common_) all.push_back(&p);
  for (const auto& [kind, list] : c.prefixed_) {
    for (const ClientProperty& p : list) all.push_back(&p);
  }
  for (const ClientProperty* p : all) {
    for (std::string_view managed : kManagedClientKeys) {
      if (p->key == managed) {
        return absl::InvalidArgumentError(internal::Cat(
            "config '", p->user_key, "' is managed by Sluice and cannot be set (",
            managed == "group.id" ? "the group id is application.id" : "the engine sets it",
            ")"));
      }
    }
  }
  if (c.application_id_.empty()) {
    return absl::InvalidArgumentError(
        "missing required config 'application.id' (it names the consumer group and prefixes "
        "internal topics)");
  }
  if (!has_commit_interval && c.guarantee_ == ProcessingGuarantee::kExactlyOnceV2) {
    c.commit_interval_ms_ = 100;  // Kafka Streams' default under exactly-once
  }
  if (c.client_id_.empty()) c.client_id_ = c.application_id_;
  return c;
}

std::vector<StreamsConfig::ClientProperty> StreamsConfig::ClientProperties(ClientKind kind) const {
  std::vector<ClientProperty> out = common_;
  auto it = prefixed_.find(kind);
  if (it != prefixed_.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  return out;
}

StreamsConfig StreamsConfig::WithBootstrapServers(std::string servers) const {
  StreamsConfig copy = *this;
  copy.bootstrap_servers_ = std::move(servers);
  return copy;
}

}  // namespace sluice
