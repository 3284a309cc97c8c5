// TopicWriter: writes records to Kafka topics, for generators, tests and tools that feed
// an App. A thin, synchronous-flush wrapper over a librdkafka producer that partitions
// keys like Kafka's Java producer (murmur2), so records with equal keys land where a
// Java producer would put them.
//
//   auto writer = TopicWriter::Create("localhost:9092").value();
//   absl::Status s = writer->Write("orders", "order-1", R"({"amount": 10})");
//   s = writer->Flush(std::chrono::seconds(10));
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sluice {

class TopicWriter {
 public:
  // `properties` are librdkafka producer properties (e.g. security settings).
  static absl::StatusOr<std::unique_ptr<TopicWriter>> Create(
      const std::string& bootstrap_servers,
      const std::map<std::string, std::string>& properties = {});
  ~TopicWriter();

  // Queues a record; std::nullopt writes a Kafka null. `timestamp_ms` 0 means now.
  absl::Status Write(std::string_view topic, std::optional<std::string_view> key,
                     std::optional<std::string_view> value, int64_t timestamp_ms = 0);
  // Waits until every queued record is acknowledged; an error names the first failure.
  absl::Status Flush(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit TopicWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
