#include "examples/order_stock_saga/messages.h"

#include <cmath>
#include <map>
#include <utility>
#include <vector>

namespace saga {

using nlohmann::json;

namespace {

enum class Field { kString, kPositiveInt, kAmount, kItems };

// The fields each known eventType needs in `data`, and its newest version.
struct Shape {
  int newest_version;
  std::vector<std::pair<const char*, Field>> fields;
};

const std::map<std::string, Shape, std::less<>>& Shapes() {
  static const auto* shapes = new std::map<std::string, Shape, std::less<>>{
      {"OrderPlaced", {2, {{"orderId", Field::kString}, {"customerId", Field::kString}, {"items", Field::kItems}}}},
      {"OrderCancelled", {1, {{"orderId", Field::kString}, {"reason", Field::kString}}}},
      {"StockAdded", {1, {{"productId", Field::kString}, {"quantity", Field::kPositiveInt}}}},
      {"PaymentCompleted", {1, {{"orderId", Field::kString}, {"amount", Field::kAmount}}}},
      {"PaymentFailed", {1, {{"orderId", Field::kString}, {"reason", Field::kString}}}},
      {"ReserveItem", {1, {{"orderId", Field::kString}, {"productId", Field::kString}, {"quantity", Field::kPositiveInt}}}},
      {"ReleaseItem", {1, {{"orderId", Field::kString}, {"productId", Field::kString}, {"quantity", Field::kPositiveInt}}}},
      {"ConfirmItem", {1, {{"orderId", Field::kString}, {"productId", Field::kString}, {"quantity", Field::kPositiveInt}}}},
      {"ItemReserved", {1, {{"orderId", Field::kString}, {"productId", Field::kString}, {"quantity", Field::kPositiveInt}}}},
      {"ItemRejected", {1, {{"orderId", Field::kString}, {"productId", Field::kString}, {"quantity", Field::kPositiveInt}}}},
  };
  return *shapes;
}

absl::Status Bad(const std::string& why) { return absl::InvalidArgumentError(why); }

absl::Status Check(const json& data, const char* name, Field kind) {
  const std::string field = std::string("data.") + name;
  auto it = data.find(name);
  if (it == data.end() || it->is_null()) return Bad("missing " + field);
  switch (kind) {
    case Field::kString:
      if (!it->is_string() || it->get<std::string>().empty()) return Bad(field + " must be a non-empty string");
      return absl::OkStatus();
    case Field::kPositiveInt:
      if (!it->is_number_integer() || it->get<int64_t>() <= 0) return Bad(field + " must be a positive integer");
      return absl::OkStatus();
    case Field::kAmount:
      if (!it->is_number() || !std::isfinite(it->get<double>())) return Bad(field + " must be a number");
      return absl::OkStatus();
    case Field::kItems:
      if (!it->is_array() || it->empty()) return Bad(field + " must be a non-empty array");
      for (const json& item : *it) {
        if (!item.is_object()) return Bad(field + " holds a value that is not an object");
        if (absl::Status s = Check(item, "productId", Field::kString); !s.ok()) {
          return Bad("in data.items[]: " + std::string(s.message()));
        }
        if (absl::Status s = Check(item, "quantity", Field::kPositiveInt); !s.ok()) {
          return Bad("in data.items[]: " + std::string(s.message()));
        }
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace

std::string Message::Json() const {
  return json{{"eventId", event_id}, {"eventType", type}, {"version", version},
              {"timestamp", timestamp}, {"data", data}}
      .dump();
}

absl::StatusOr<Message> ParseMessage(std::string_view bytes) {
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad("not JSON");
  if (!doc.is_object()) return Bad("not a JSON object");
  Message m;
  auto string = [&](const char* name, std::string* out) -> absl::Status {
    auto it = doc.find(name);
    if (it == doc.end() || !it->is_string() || it->get<std::string>().empty()) {
      return Bad(std::string("missing ") + name);
    }
    *out = it->get<std::string>();
    return absl::OkStatus();
  };
  if (absl::Status s = string("eventId", &m.event_id); !s.ok()) return s;
  if (absl::Status s = string("eventType", &m.type); !s.ok()) return s;
  auto shape = Shapes().find(m.type);
  if (shape == Shapes().end()) return Bad("unknown eventType '" + m.type + "'");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer()) return Bad("missing version");
  if (version->get<int64_t>() < 1 || version->get<int64_t>() > shape->second.newest_version) {
    return Bad("unknown version " + std::to_string(version->get<int64_t>()) + " of " + m.type);
  }
  m.version = version->get<int>();
  auto timestamp = doc.find("timestamp");
  if (timestamp == doc.end() || !timestamp->is_number_integer()) return Bad("missing timestamp");
  m.timestamp = timestamp->get<int64_t>();
  auto data = doc.find("data");
  if (data == doc.end() || !data->is_object()) return Bad("missing data");
  for (const auto& [name, kind] : shape->second.fields) {
    if (absl::Status s = Check(*data, name, kind); !s.ok()) return s;
  }
  m.data = std::move(*data);
  return m;
}

absl::Status MessageSerde::Deserialize(std::string_view bytes, Message& m) const {
  if (bytes.data() == nullptr) return Bad("a null value (a tombstone) is not a message");
  absl::StatusOr<Message> parsed = ParseMessage(bytes);
  if (!parsed.ok()) return parsed.status();
  m = std::move(*parsed);
  return absl::OkStatus();
}

}  // namespace saga
