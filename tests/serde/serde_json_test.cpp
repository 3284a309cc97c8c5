#include "sluice/serde_json.h"

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice_json_test {

struct Order {
  std::string id;
  int64_t cents = 0;
  std::vector<std::string> items;
  bool operator==(const Order&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Order, id, cents, items)

// Hand-written ADL converters that validate and may throw their own exception.
struct Temperature {
  double celsius = 0;
};
inline void to_json(nlohmann::json& j, const Temperature& t) { j = {{"c", t.celsius}}; }
inline void from_json(const nlohmann::json& j, Temperature& t) {
  t.celsius = j.at("c").get<double>();
  if (t.celsius < -273.15) throw std::out_of_range("below absolute zero");
}

struct NoJson {
  int x = 0;
};

}  // namespace sluice_json_test

namespace sluice {
namespace {

using ::std::string_literals::operator""s;
using ::sluice_json_test::NoJson;
using ::sluice_json_test::Order;
using ::sluice_json_test::Temperature;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kNull{};

static_assert(Serde<JsonSerde<Order>>);
static_assert(Serde<JsonSerde<Temperature>>);
static_assert(Serde<JsonSerde<nlohmann::json>>);
static_assert(Serde<JsonSerde<std::map<std::string, int>>>);
static_assert(!NullableSerde<JsonSerde<Order>>);
static_assert(!NullableSerde<JsonSerde<nlohmann::json>>);
static_assert(NullableSerde<JsonSerde<std::optional<Order>>>);
static_assert(NullableSerde<Nullable<JsonSerde<Order>>>);
static_assert(JsonConvertible<Order>);
static_assert(JsonConvertible<std::optional<Order>>);
static_assert(!JsonConvertible<NoJson>);
static_assert(!JsonConvertible<std::optional<NoJson>>);
static_assert(std::is_same_v<DefaultSerdeFor<nlohmann::json>, JsonSerde<nlohmann::json>>);
static_assert(std::is_same_v<DefaultSerdeFor<std::optional<nlohmann::json>>,
                             Nullable<JsonSerde<nlohmann::json>>>);
static_assert(!HasDefaultSerde<Order>, "user types opt in by specialising DefaultSerde");
static_assert(JsonSerde<Order>::kName == "Json");
static_assert(Nullable<JsonSerde<Order>>::kName == "Nullable<Json>");

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(JsonSerdeTest, SerializesCompactJson) {
  const JsonSerde<Order> serde;
  std::string buf = "stale";
  serde.Serialize(Order{"o-1", 250, {"apple", "pear"}}, buf);
  EXPECT_EQ(buf, R"({"cents":250,"id":"o-1","items":["apple","pear"]})");
}

TEST(JsonSerdeTest, RoundTripsStructs) {
  const JsonSerde<Order> serde;
  for (const Order& order :
       {Order{}, Order{"o-1", 250, {"apple"}}, Order{"", -1, {"", ""}},
        Order{"\xc3\xa9t\xc3\xa9 \xf0\x9f\x8c\x8a", std::numeric_limits<int64_t>::min(), {}},
        Order{"nul\0inside"s, std::numeric_limits<int64_t>::max(), {"a\0b"s}}}) {
    std::string buf;
    serde.Serialize(order, buf);
    Order out;
    ASSERT_TRUE(serde.Deserialize(buf, out).ok()) << buf;
    EXPECT_EQ(out, order) << buf;
  }
}

TEST(JsonSerdeTest, EscapesEmbeddedNul) {
  std::string buf;
  JsonSerde<std::string>().Serialize("a\0b"s, buf);
  EXPECT_EQ(buf, R"("a\u0000b")");
}

TEST(JsonSerdeTest, ReadsIntoCallerObject) {
  const JsonSerde<Order> serde;
  Order out{"old", 1, {"x", "y", "z"}};
  ASSERT_TRUE(serde.Deserialize(R"({"id":"new","cents":2,"items":[]})", out).ok());
  EXPECT_EQ(out, (Order{"new", 2, {}}));
}

TEST(JsonSerdeTest, AcceptsWhitespaceAndAnyKeyOrder) {
  Order out;
  ASSERT_TRUE(JsonSerde<Order>()
                  .Deserialize(" \n{ \"items\" : [\"a\"], \"cents\": 7, \"id\": \"k\" }\t", out)
                  .ok());
  EXPECT_EQ(out, (Order{"k", 7, {"a"}}));
}

TEST(JsonSerdeTest, HandWrittenConverters) {
  const JsonSerde<Temperature> serde;
  std::string buf;
  serde.Serialize(Temperature{21.5}, buf);
  EXPECT_EQ(buf, R"({"c":21.5})");
  Temperature out;
  ASSERT_TRUE(serde.Deserialize(R"({"c": -3})", out).ok());
  EXPECT_EQ(out.celsius, -3.0);
}

TEST(JsonSerdeTest, WholeDocuments) {
  const JsonSerde<nlohmann::json> serde;
  const nlohmann::json doc = {{"a", {1, 2.5, "x", nullptr, true}}, {"b", {{"c", {}}}}};
  std::string buf;
  serde.Serialize(doc, buf);
  EXPECT_EQ(buf, R"({"a":[1,2.5,"x",null,true],"b":{"c":null}})");
  nlohmann::json out;
  ASSERT_TRUE(serde.Deserialize(buf, out).ok());
  EXPECT_EQ(out, doc);
  // For a document type, the JSON literal null is an ordinary value.
  ASSERT_TRUE(serde.Deserialize("null", out).ok());
  EXPECT_TRUE(out.is_null());
  ASSERT_TRUE(serde.Deserialize("42", out).ok());
  EXPECT_EQ(out, 42);
}

TEST(JsonSerdeTest, SerializeReplacesInvalidUtf8InsteadOfThrowing) {
  std::string buf;
  JsonSerde<std::string>().Serialize("ok\xff", buf);
  EXPECT_EQ(buf, "\"ok\xef\xbf\xbd\"");  // U+FFFD
}

TEST(JsonSerdeTest, NonFiniteDoublesBecomeNull) {
  std::string buf;
  JsonSerde<std::vector<double>>().Serialize(
      {1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()},
      buf);
  EXPECT_EQ(buf, "[1.0,null,null]");
}

// --- Error paths: every failure is a status naming the type, never a throw.

TEST(JsonSerdeTest, MalformedJsonIsInvalidArgument) {
  const JsonSerde<Order> serde;
  Order out;
  for (std::string_view bad :
       {"{", "{\"id\":", "not json", "{\"id\":\"x\",}", "{} trailing", "\xff\xfe", "[1,2"}) {
    const absl::Status status = serde.Deserialize(bad, out);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(status), StartsWith("JsonSerde<sluice_json_test::Order>: ")) << bad;
    EXPECT_THAT(Message(status), HasSubstr("parse_error")) << bad;
  }
}

TEST(JsonSerdeTest, EmptyPayloadIsAParseError) {
  Order out;
  const absl::Status status = JsonSerde<Order>().Deserialize(std::string_view("", 0), out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("unexpected end of input"));
}

TEST(JsonSerdeTest, WrongTypeIsInvalidArgument) {
  Order out;
  const absl::Status status =
      JsonSerde<Order>().Deserialize(R"({"id":5,"cents":1,"items":[]})", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("type_error"));
  EXPECT_THAT(Message(status), HasSubstr("type must be string, but is number"));
}

TEST(JsonSerdeTest, MissingKeyIsInvalidArgument) {
  Order out;
  const absl::Status status = JsonSerde<Order>().Deserialize(R"({"id":"x"})", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("key 'cents' not found"));
}

TEST(JsonSerdeTest, WrongShapeIsInvalidArgument) {
  const JsonSerde<Order> serde;
  Order out;
  for (std::string_view wrong : {"[]", "42", "\"order\"", "null", "true"}) {
    const absl::Status status = serde.Deserialize(wrong, out);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << wrong;
    EXPECT_THAT(Message(status), StartsWith("JsonSerde<sluice_json_test::Order>: ")) << wrong;
  }
  int32_t n = 0;
  const absl::Status status = JsonSerde<int32_t>().Deserialize("\"7\"", n);
  EXPECT_THAT(Message(status), HasSubstr("type must be number, but is string"));
}

TEST(JsonSerdeTest, ExceptionFromUserFromJsonIsInvalidArgument) {
  Temperature out;
  const absl::Status status = JsonSerde<Temperature>().Deserialize(R"({"c":-300})", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("below absolute zero"));
  EXPECT_THAT(Message(status), HasSubstr("Temperature"));
}

TEST(JsonSerdeTest, NullBytesAreAnErrorForPlainTypes) {
  Order out;
  const absl::Status status = JsonSerde<Order>().Deserialize(kNull, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), StartsWith("JsonSerde<sluice_json_test::Order>: null bytes"));
  nlohmann::json doc;
  EXPECT_EQ(JsonSerde<nlohmann::json>().Deserialize(kNull, doc).code(),
            absl::StatusCode::kInvalidArgument);
}

// --- std::optional<U>: Kafka null and JSON null are both nullopt.

TEST(JsonSerdeTest, OptionalTypesAreNullable) {
  const JsonSerde<std::optional<Order>> serde;
  std::optional<Order> out = Order{"x", 1, {}};
  ASSERT_TRUE(serde.Deserialize(kNull, out).ok());
  EXPECT_EQ(out, std::nullopt);
  EXPECT_TRUE(serde.IsNull(out));

  out = Order{"x", 1, {}};
  ASSERT_TRUE(serde.Deserialize("null", out).ok());
  EXPECT_EQ(out, std::nullopt);

  ASSERT_TRUE(serde.Deserialize(R"({"id":"y","cents":2,"items":["i"]})", out).ok());
  EXPECT_EQ(out, (Order{"y", 2, {"i"}}));
  EXPECT_FALSE(serde.IsNull(out));

  std::string buf;
  serde.Serialize(std::nullopt, buf);
  EXPECT_EQ(buf, "null");
  serde.Serialize(Order{"z", 3, {}}, buf);
  EXPECT_EQ(buf, R"({"cents":3,"id":"z","items":[]})");

  const absl::Status status = serde.Deserialize("{", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonSerdeTest, NullableWrapperAcceptsKafkaNull) {
  const Nullable<JsonSerde<Order>> serde;
  std::optional<Order> out;
  ASSERT_TRUE(serde.Deserialize(kNull, out).ok());
  EXPECT_EQ(out, std::nullopt);
  ASSERT_TRUE(serde.Deserialize(R"({"id":"a","cents":0,"items":[]})", out).ok());
  EXPECT_EQ(out, (Order{"a", 0, {}}));
  // Unlike JsonSerde<std::optional<Order>>, the JSON literal null is a type error here.
  EXPECT_EQ(serde.Deserialize("null", out).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice
