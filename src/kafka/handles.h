// Owning smart pointers for librdkafka C objects.
//
// Each alias is a std::unique_ptr whose deleter calls the matching librdkafka
// destroy function, so a handle is released exactly once on every path,
// including early error returns. All of them are move-only.
//
// Lifetime rule librdkafka imposes (and these types do not check): every
// QueuePtr, TopicPtr and MessagePtr obtained from an rd_kafka_t must be
// destroyed before that rd_kafka_t is; otherwise rd_kafka_destroy() blocks
// waiting for the outstanding references.

#ifndef SLUICE_SRC_KAFKA_HANDLES_H_
#define SLUICE_SRC_KAFKA_HANDLES_H_

#include <librdkafka/rdkafka.h>

#include <memory>

namespace sluice::internal {

// Deleter calling a librdkafka destroy function; tolerates null.
template <auto kDestroy>
struct RdDeleter {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) kDestroy(p);
  }
};

using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdDeleter<&rd_kafka_destroy>>;
using ConfPtr =
    std::unique_ptr<rd_kafka_conf_t, RdDeleter<&rd_kafka_conf_destroy>>;
using TopicConfPtr = std::unique_ptr<rd_kafka_topic_conf_t,
                                     RdDeleter<&rd_kafka_topic_conf_destroy>>;
using TopicPtr =
    std::unique_ptr<rd_kafka_topic_t, RdDeleter<&rd_kafka_topic_destroy>>;
using QueuePtr =
    std::unique_ptr<rd_kafka_queue_t, RdDeleter<&rd_kafka_queue_destroy>>;
using PartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    RdDeleter<&rd_kafka_topic_partition_list_destroy>>;
using MessagePtr =
    std::unique_ptr<rd_kafka_message_t, RdDeleter<&rd_kafka_message_destroy>>;
using HeadersPtr =
    std::unique_ptr<rd_kafka_headers_t, RdDeleter<&rd_kafka_headers_destroy>>;
using EventPtr =
    std::unique_ptr<rd_kafka_event_t, RdDeleter<&rd_kafka_event_destroy>>;
using ErrorPtr =
    std::unique_ptr<rd_kafka_error_t, RdDeleter<&rd_kafka_error_destroy>>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t,
                                    RdDeleter<&rd_kafka_metadata_destroy>>;
using GroupMetadataPtr =
    std::unique_ptr<rd_kafka_consumer_group_metadata_t,
                    RdDeleter<&rd_kafka_consumer_group_metadata_destroy>>;
using AdminOptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t,
                    RdDeleter<&rd_kafka_AdminOptions_destroy>>;
using NewTopicPtr =
    std::unique_ptr<rd_kafka_NewTopic_t, RdDeleter<&rd_kafka_NewTopic_destroy>>;
using DeleteTopicPtr =
    std::unique_ptr<rd_kafka_DeleteTopic_t,
                    RdDeleter<&rd_kafka_DeleteTopic_destroy>>;

// Returns an owned deep copy of `list` (null in, null out).
inline PartitionListPtr CopyPartitionList(
    const rd_kafka_topic_partition_list_t* list) {
  if (list == nullptr) return nullptr;
  return PartitionListPtr(rd_kafka_topic_partition_list_copy(list));
}

}  // namespace sluice::internal

#endif  // SLUICE_SRC_KAFKA_HANDLES_H_
