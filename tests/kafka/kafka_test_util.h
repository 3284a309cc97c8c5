// Helpers shared by the sluice_kafka integration tests: an embedded broker per
// test, client properties tuned for fast group joins, and polling loops.

#ifndef SLUICE_TESTS_KAFKA_KAFKA_TEST_UTIL_H_
#define SLUICE_TESTS_KAFKA_KAFKA_TEST_UTIL_H_

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sluice/embedded_broker.h"
#include "src/kafka/handles.h"
#include "src/kafka/kafka_conf.h"

namespace sluice::internal::testing {

inline std::unique_ptr<EmbeddedBroker> StartBroker(int num_brokers = 1) {
  auto broker = EmbeddedBroker::Start(num_brokers);
  EXPECT_TRUE(broker.ok()) << broker.status();
  return broker.ok() ? std::move(*broker) : nullptr;
}

// A unique name per call, so tests never see each other's data.
inline std::string UniqueName(const std::string& base) {
  static std::atomic<int> counter{0};
  return base + "-" + std::to_string(counter.fetch_add(1)) + "-" +
         std::to_string(
             std::chrono::steady_clock::now().time_since_epoch().count() %
             1000000);
}

inline KafkaProperties ProducerProps(const std::string& servers) {
  return {{"bootstrap.servers", servers},
          {"linger.ms", "0"},
          {"topic.metadata.refresh.interval.ms", "500"},
          {"log_level", "3"}};
}

// librdkafka 2.0.2's mock group coordinator (rdkafka_mock_cgrp.c) delays the
// first rebalance of a group by a fixed 3 s and any later one (a member
// joining or leaving a stable group) by session.timeout.ms - 1000 ms. Members
// waiting in JoinGroup do not heartbeat, so the session timeout must stay
// well above 3 s or a slow machine expires them during their first join.
// The default 6 s leaves margin; tests that need a fast second rebalance pass
// 4 s (second rebalance after 3 s).
// topic.metadata.refresh.interval.ms stays at its default on purpose: with
// e.g. 500 ms, a periodic refresh lands together with the JoinGroup response
// (the mock answers after exactly 3 s), and a 2.0.2 group leader then rejoins
// ("subscription updated from metadata change" in state wait-metadata),
// costing another session.timeout.ms - 1000 ms.
// Set SLUICE_TEST_KAFKA_DEBUG=cgrp,fetch (librdkafka debug contexts) to see
// what a slow or failing consumer test was waiting for.
inline KafkaProperties ConsumerProps(const std::string& servers,
                                     const std::string& group,
                                     int session_timeout_ms = 6000) {
  KafkaProperties props = {
      {"bootstrap.servers", servers},
      {"group.id", group},
      {"auto.offset.reset", "earliest"},
      {"enable.auto.commit", "false"},
      {"session.timeout.ms", std::to_string(session_timeout_ms)},
      {"heartbeat.interval.ms", "100"},
      {"fetch.wait.max.ms", "50"},
      {"log_level", "3"}};
  if (const char* debug = std::getenv("SLUICE_TEST_KAFKA_DEBUG")) {
    props.emplace_back("debug", debug);
    props.emplace_back("log_level", "7");
  }
  return props;
}

// Polls `step` until `done` holds or `timeout` passes; returns done().
inline bool PollUntil(const std::function<void()>& step,
                      const std::function<bool()>& done,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    step();
  }
  return true;
}

inline std::string Str(const void* data, size_t len) {
  return data == nullptr ? std::string()
                         : std::string(static_cast<const char*>(data), len);
}

}  // namespace sluice::internal::testing

#endif  // SLUICE_TESTS_KAFKA_KAFKA_TEST_UTIL_H_
