// Helpers shared by the store-layer tests: a temporary directory per test, a record
// collector that keeps copies of what it is sent, envelope and position builders, and
// readers that drain a store iterator into a vector.
#pragma once

#include <gtest/gtest.h>

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/internal/node.h"
#include "sluice/internal/state_store.h"

namespace sluice::internal::testing {

namespace fs = std::filesystem;

// A fresh directory under the system temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sluice-store-test-XXXXXX").string();
    const char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp failed for " << pattern;
    path_ = made != nullptr ? fs::path(made) : fs::path(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// What a FakeCollector was sent, with the bytes copied (OutRecord only holds views).
struct SentRecord {
  std::string topic;
  int32_t partition = -1;
  std::string key;
  std::optional<std::string> value;  // nullopt: the view had no data (a tombstone)
  int64_t timestamp = 0;
  bool changelog = false;
  std::string positions;
};

// Records every OutRecord; ChangelogEnd answers from `ends` (-1 when absent).
class FakeCollector final : public RecordCollector {
 public:
  absl::Status Send(const OutRecord& r) override {
    SentRecord s;
    s.topic = std::string(r.topic);
    s.partition = r.partition;
    s.key = std::string(r.key);
    if (r.value.data() != nullptr) s.value = std::string(r.value);
    s.timestamp = r.timestamp;
    s.changelog = r.changelog;
    s.positions = std::string(r.positions);
    sent.push_back(std::move(s));
    return absl::OkStatus();
  }
  absl::StatusOr<int32_t> PartitionCount(std::string_view) override { return 8; }
  int64_t ChangelogEnd(std::string_view topic, int32_t partition) override {
    auto it = ends.find({std::string(topic), partition});
    return it == ends.end() ? -1 : it->second;
  }

  std::vector<SentRecord> sent;
  std::map<std::pair<std::string, int32_t>, int64_t> ends;
};

inline PositionSet Positions(std::initializer_list<WritePosition> entries) {
  PositionSet set;
  for (const WritePosition& p : entries) set.Advance(p);
  return set;
}

// The envelope of `value` written at `timestamp` by the record(s) at `positions`.
inline std::string Envelope(std::string_view value, int64_t timestamp = 0,
                            const PositionSet& positions = PositionSet()) {
  std::string out;
  EncodeStored(value, timestamp, positions, &out);
  return out;
}

// The user value bytes of an envelope (fails the test on a malformed one).
inline std::string ValueOf(std::string_view envelope) {
  StoredValue stored;
  EXPECT_TRUE(DecodeStored(envelope, &stored)) << "malformed envelope";
  return std::string(stored.value);
}

inline std::string EncodedPositions(const PositionSet& positions) {
  std::string out;
  positions.AppendTo(&out);
  return out;
}

using Entries = std::vector<std::pair<std::string, std::string>>;

// Everything an iterator yields, in order, with the bytes copied.
inline Entries Drain(StoreIterator& it) {
  Entries out;
  for (; it.Valid(); it.Next()) out.emplace_back(std::string(it.key()), std::string(it.value()));
  EXPECT_TRUE(it.status().ok()) << it.status();
  return out;
}

inline Entries Scan(KeyValueBytesStore& store, std::optional<std::string_view> from,
                    std::optional<std::string_view> to) {
  absl::StatusOr<std::unique_ptr<StoreIterator>> it = store.Range(from, to);
  EXPECT_TRUE(it.ok()) << it.status();
  if (!it.ok()) return {};
  return Drain(**it);
}

inline std::vector<std::string> Keys(const Entries& entries) {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries) out.push_back(k);
  return out;
}

// The value a store returns for `key`, or nullopt if it has none.
inline std::optional<std::string> GetValue(KeyValueBytesStore& store, std::string_view key) {
  std::string value;
  bool found = false;
  absl::Status s = store.Get(key, &value, &found);
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok() || !found) return std::nullopt;
  return value;
}

// Overwrites a file with bytes that are no RocksDB format.
inline void WriteGarbage(const fs::path& file, std::string_view garbage) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << garbage;
}

}  // namespace sluice::internal::testing
