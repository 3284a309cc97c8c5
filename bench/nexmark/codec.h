// How Nexmark events and query results travel as bytes.
//
// Events (the input topic) in either of two encodings, chosen per run:
//   flatbuffers  nexmark.fbs, verified before it is read;
//   json         {"person"|"auction"|"bid": {fields in model.h's names}}, one object,
//                times as epoch milliseconds.
// Query results are written in a compact binary row encoding (RowSerde): integers as 8
// bytes big-endian, doubles as their IEEE bits, strings and lists length-prefixed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "bench/nexmark/model.h"

namespace sluice::nexmark {

enum class Format { kFlatBuffers, kJson };

// "flatbuffers" or "json"; InvalidArgument naming the flag otherwise.
absl::Status ParseFormat(std::string_view text, Format* out);
std::string_view FormatName(Format format);

// The events' serde (a sluice Serde): one of the two encodings.
class EventSerde {
 public:
  using Type = Event;
  explicit EventSerde(Format format = Format::kFlatBuffers) : format_(format) {}
  void Serialize(const Event& event, std::string& out) const;
  absl::Status Deserialize(std::string_view bytes, Event& out) const;
  Format format() const { return format_; }

 private:
  Format format_;
};

}  // namespace sluice::nexmark
