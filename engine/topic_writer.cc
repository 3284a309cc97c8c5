#include "sluice/topic_writer.h"

#include <librdkafka/rdkafka.h>

#include "src/kafka/producer.h"

namespace sluice {

struct TopicWriter::Impl {
  std::unique_ptr<internal::Producer> producer;
};

absl::StatusOr<std::unique_ptr<TopicWriter>> TopicWriter::Create(
    const std::string& bootstrap_servers, const std::map<std::string, std::string>& properties) {
  internal::KafkaProperties props = {{"bootstrap.servers", bootstrap_servers},
                                     {"partitioner", "murmur2_random"}};
  for (const auto& [k, v] : properties) props.emplace_back(k, v);
  absl::StatusOr<std::unique_ptr<internal::Producer>> producer = internal::Producer::Create(props);
  if (!producer.ok()) return producer.status();
  auto impl = std::make_unique<Impl>();
  impl->producer = std::move(*producer);
  return std::unique_ptr<TopicWriter>(new TopicWriter(std::move(impl)));
}

TopicWriter::TopicWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TopicWriter::~TopicWriter() = default;

absl::Status TopicWriter::Write(std::string_view topic, std::optional<std::string_view> key,
                                std::optional<std::string_view> value, int64_t timestamp_ms) {
  return impl_->producer->Produce(topic, RD_KAFKA_PARTITION_UA, key ? key->data() : nullptr,
                                  key ? key->size() : 0, value ? value->data() : nullptr,
                                  value ? value->size() : 0, timestamp_ms, nullptr);
}

absl::Status TopicWriter::Flush(std::chrono::milliseconds timeout) {
  return impl_->producer->Flush(timeout);
}

}  // namespace sluice
