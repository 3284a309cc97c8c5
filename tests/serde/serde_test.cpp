#include "sluice/serde.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using ::std::string_literals::operator""s;
using ::testing::HasSubstr;

// Kafka null: a string_view whose data() is nullptr.
constexpr std::string_view kNull{};

// ---------------------------------------------------------------------------
// Compile-time contract.

// Serdes written by users: the concept accepts exactly the documented shape.
struct GoodUserSerde {
  using Type = int;
  void Serialize(const int&, std::string& buf) const { buf.clear(); }
  absl::Status Deserialize(std::string_view, int&) const { return absl::OkStatus(); }
};
struct NonConstSerialize {
  using Type = int;
  void Serialize(const int&, std::string&) {}
  absl::Status Deserialize(std::string_view, int&) const { return absl::OkStatus(); }
};
struct DeserializeReturnsBool {
  using Type = int;
  void Serialize(const int&, std::string&) const {}
  bool Deserialize(std::string_view, int&) const { return true; }
};
struct SerializeReturnsString {
  using Type = int;
  std::string Serialize(const int&, std::string&) const { return {}; }
  absl::Status Deserialize(std::string_view, int&) const { return absl::OkStatus(); }
};
struct NotCopyable {
  using Type = int;
  NotCopyable() = default;
  NotCopyable(const NotCopyable&) = delete;
  void Serialize(const int&, std::string&) const {}
  absl::Status Deserialize(std::string_view, int&) const { return absl::OkStatus(); }
};
struct NoTypeAlias {
  void Serialize(const int&, std::string&) const {}
  absl::Status Deserialize(std::string_view, int&) const { return absl::OkStatus(); }
};

static_assert(Serde<StringSerde>);
static_assert(Serde<BytesSerde>);
static_assert(Serde<Int32Serde>);
static_assert(Serde<Int64Serde>);
static_assert(Serde<DoubleSerde>);
static_assert(Serde<VoidSerde>);
static_assert(Serde<Nullable<StringSerde>>);
static_assert(Serde<Nullable<Int64Serde>>);
static_assert(Serde<GoodUserSerde>);

static_assert(!Serde<int>);
static_assert(!Serde<std::string>);
static_assert(!Serde<NonConstSerialize>);
static_assert(!Serde<DeserializeReturnsBool>);
static_assert(!Serde<SerializeReturnsString>);
static_assert(!Serde<NotCopyable>);
static_assert(!Serde<NoTypeAlias>);

static_assert(NullableSerde<Nullable<Int64Serde>>);
static_assert(NullableSerde<Nullable<StringSerde>>);
static_assert(NullableSerde<VoidSerde>);
static_assert(!NullableSerde<StringSerde>);
static_assert(!NullableSerde<BytesSerde>);
static_assert(!NullableSerde<Int32Serde>);
static_assert(!NullableSerde<Int64Serde>);
static_assert(!NullableSerde<DoubleSerde>);
static_assert(!NullableSerde<int>);

// Nullable refuses serdes that already have a null, and non-serdes.
template <class S>
concept CanWrapInNullable = requires { typename Nullable<S>; };
static_assert(CanWrapInNullable<Int64Serde>);
static_assert(CanWrapInNullable<GoodUserSerde>);
static_assert(!CanWrapInNullable<VoidSerde>);
static_assert(!CanWrapInNullable<Nullable<Int64Serde>>);
static_assert(!CanWrapInNullable<int>);

static_assert(std::is_same_v<Int32Serde::Type, int32_t>);
static_assert(std::is_same_v<Int64Serde::Type, int64_t>);
static_assert(std::is_same_v<DoubleSerde::Type, double>);
static_assert(std::is_same_v<StringSerde::Type, std::string>);
static_assert(std::is_same_v<BytesSerde::Type, Bytes>);
static_assert(std::is_same_v<VoidSerde::Type, Void>);
static_assert(std::is_same_v<Nullable<Int64Serde>::Type, std::optional<int64_t>>);

static_assert(std::is_same_v<DefaultSerdeFor<std::string>, StringSerde>);
static_assert(std::is_same_v<DefaultSerdeFor<Bytes>, BytesSerde>);
static_assert(std::is_same_v<DefaultSerdeFor<int32_t>, Int32Serde>);
static_assert(std::is_same_v<DefaultSerdeFor<int64_t>, Int64Serde>);
static_assert(std::is_same_v<DefaultSerdeFor<double>, DoubleSerde>);
static_assert(std::is_same_v<DefaultSerdeFor<Void>, VoidSerde>);
static_assert(std::is_same_v<DefaultSerdeFor<std::optional<int64_t>>, Nullable<Int64Serde>>);
static_assert(std::is_same_v<DefaultSerdeFor<std::optional<std::string>>, Nullable<StringSerde>>);
static_assert(HasDefaultSerde<std::string>);
static_assert(HasDefaultSerde<std::optional<double>>);
static_assert(!HasDefaultSerde<float>);
static_assert(!HasDefaultSerde<GoodUserSerde>);
static_assert(!HasDefaultSerde<std::optional<float>>);
static_assert(!HasDefaultSerde<std::optional<Void>>);                  // two nulls
static_assert(!HasDefaultSerde<std::optional<std::optional<int32_t>>>);  // two nulls

static_assert(StringSerde::kName == "String");
static_assert(BytesSerde::kName == "Bytes");
static_assert(Int32Serde::kName == "Int32");
static_assert(Int64Serde::kName == "Int64");
static_assert(DoubleSerde::kName == "Double");
static_assert(VoidSerde::kName == "Void");
static_assert(Nullable<Int64Serde>::kName == "Nullable<Int64>");
static_assert(Nullable<StringSerde>::kName == "Nullable<String>");
static_assert(Nullable<GoodUserSerde>::kName == "Nullable<UserSerde>");

// Stateless serdes cost nothing to carry around.
static_assert(std::is_empty_v<Int64Serde>);
static_assert(std::is_empty_v<StringSerde>);
static_assert(std::is_trivially_copyable_v<Nullable<Int64Serde>>);

// ---------------------------------------------------------------------------
// Helpers.

template <Serde S>
std::string SerializeToString(const S& serde, const typename S::Type& value) {
  std::string buf = "stale contents that Serialize must replace";
  serde.Serialize(value, buf);
  return buf;
}

template <Serde S>
typename S::Type RoundTrip(const S& serde, const typename S::Type& value) {
  std::string buf;
  serde.Serialize(value, buf);
  typename S::Type out{};
  const absl::Status status = serde.Deserialize(buf, out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

// ---------------------------------------------------------------------------
// Int32Serde: Kafka IntegerSerializer.

TEST(Int32SerdeTest, WritesJavaBigEndianBytes) {
  const Int32Serde serde;
  EXPECT_EQ(SerializeToString(serde, 0), "\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, 1), "\x00\x00\x00\x01"s);
  EXPECT_EQ(SerializeToString(serde, -1), "\xff\xff\xff\xff"s);
  EXPECT_EQ(SerializeToString(serde, 256), "\x00\x00\x01\x00"s);
  EXPECT_EQ(SerializeToString(serde, 0x12345678), "\x12\x34\x56\x78"s);
  EXPECT_EQ(SerializeToString(serde, -2), "\xff\xff\xff\xfe"s);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<int32_t>::min()), "\x80\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<int32_t>::max()), "\x7f\xff\xff\xff"s);
}

TEST(Int32SerdeTest, ReadsJavaBigEndianBytes) {
  const Int32Serde serde;
  int32_t out = 99;
  ASSERT_TRUE(serde.Deserialize("\x12\x34\x56\x78"s, out).ok());
  EXPECT_EQ(out, 0x12345678);
  ASSERT_TRUE(serde.Deserialize("\xff\xff\xff\xfe"s, out).ok());
  EXPECT_EQ(out, -2);
  ASSERT_TRUE(serde.Deserialize("\x80\x00\x00\x00"s, out).ok());
  EXPECT_EQ(out, std::numeric_limits<int32_t>::min());
}

TEST(Int32SerdeTest, RoundTripsEdgeValues) {
  const Int32Serde serde;
  for (int32_t v : {0, 1, -1, 127, 128, -128, 255, 65535, std::numeric_limits<int32_t>::min(),
                    std::numeric_limits<int32_t>::min() + 1, std::numeric_limits<int32_t>::max()}) {
    EXPECT_EQ(RoundTrip(serde, v), v);
  }
}

TEST(Int32SerdeTest, RejectsWrongSizes) {
  const Int32Serde serde;
  int32_t out = 0;
  absl::Status status = serde.Deserialize("\x00\x01\x02"s, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Int32Serde: expected 4 bytes, got 3");

  status = serde.Deserialize(std::string_view("", 0), out);  // empty, not null
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Int32Serde: expected 4 bytes, got 0");

  status = serde.Deserialize("\x00\x00\x00\x00\x01"s, out);
  EXPECT_EQ(status.message(), "Int32Serde: expected 4 bytes, got 5");
  // An 8-byte long is not silently truncated to an int.
  status = serde.Deserialize(std::string(8, '\0'), out);
  EXPECT_EQ(status.message(), "Int32Serde: expected 4 bytes, got 8");
}

TEST(Int32SerdeTest, RejectsNull) {
  int32_t out = 0;
  const absl::Status status = Int32Serde().Deserialize(kNull, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "Int32Serde: null bytes (wrap the serde in Nullable<> to accept nulls)");
}

// ---------------------------------------------------------------------------
// Int64Serde: Kafka LongSerializer.

TEST(Int64SerdeTest, WritesJavaBigEndianBytes) {
  const Int64Serde serde;
  EXPECT_EQ(SerializeToString(serde, 0), std::string(8, '\0'));
  EXPECT_EQ(SerializeToString(serde, 1), "\x00\x00\x00\x00\x00\x00\x00\x01"s);
  EXPECT_EQ(SerializeToString(serde, -1), "\xff\xff\xff\xff\xff\xff\xff\xff"s);
  EXPECT_EQ(SerializeToString(serde, 0x0102030405060708), "\x01\x02\x03\x04\x05\x06\x07\x08"s);
  EXPECT_EQ(SerializeToString(serde, int64_t{1} << 32), "\x00\x00\x00\x01\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<int64_t>::min()),
            "\x80\x00\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<int64_t>::max()),
            "\x7f\xff\xff\xff\xff\xff\xff\xff"s);
  // A Kafka Streams timestamp, 2021-01-01T00:00:00Z in ms.
  EXPECT_EQ(SerializeToString(serde, 1609459200000), "\x00\x00\x01\x76\xbb\x3e\x70\x00"s);
}

TEST(Int64SerdeTest, RoundTripsEdgeValues) {
  const Int64Serde serde;
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{0x0102030405060708},
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                    int64_t{std::numeric_limits<int32_t>::min()} - 1}) {
    EXPECT_EQ(RoundTrip(serde, v), v);
  }
}

TEST(Int64SerdeTest, RejectsWrongSizesAndNull) {
  const Int64Serde serde;
  int64_t out = 0;
  absl::Status status = serde.Deserialize("abc", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Int64Serde: expected 8 bytes, got 3");
  status = serde.Deserialize("\x00\x00\x00\x01"s, out);  // an Int32 payload
  EXPECT_EQ(status.message(), "Int64Serde: expected 8 bytes, got 4");
  status = serde.Deserialize(kNull, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "Int64Serde: null bytes (wrap the serde in Nullable<> to accept nulls)");
}

// ---------------------------------------------------------------------------
// DoubleSerde: Kafka DoubleSerializer (Double.doubleToLongBits).

TEST(DoubleSerdeTest, WritesJavaBigEndianBytes) {
  const DoubleSerde serde;
  EXPECT_EQ(SerializeToString(serde, 1.5), "\x3f\xf8\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, 1.0), "\x3f\xf0\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, -2.0), "\xc0\x00\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, 0.1), "\x3f\xb9\x99\x99\x99\x99\x99\x9a"s);
  EXPECT_EQ(SerializeToString(serde, 0.0), std::string(8, '\0'));
  EXPECT_EQ(SerializeToString(serde, -0.0), "\x80\x00\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<double>::infinity()),
            "\x7f\xf0\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, -std::numeric_limits<double>::infinity()),
            "\xff\xf0\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<double>::max()),
            "\x7f\xef\xff\xff\xff\xff\xff\xff"s);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<double>::lowest()),
            "\xff\xef\xff\xff\xff\xff\xff\xff"s);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<double>::min()),
            "\x00\x10\x00\x00\x00\x00\x00\x00"s);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<double>::denorm_min()),
            "\x00\x00\x00\x00\x00\x00\x00\x01"s);
}

TEST(DoubleSerdeTest, WritesEveryNaNAsJavaCanonicalNaN) {
  const DoubleSerde serde;
  const std::string kCanonical = "\x7f\xf8\x00\x00\x00\x00\x00\x00"s;
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<double>::quiet_NaN()), kCanonical);
  EXPECT_EQ(SerializeToString(serde, -std::numeric_limits<double>::quiet_NaN()), kCanonical);
  EXPECT_EQ(SerializeToString(serde, std::numeric_limits<double>::signaling_NaN()), kCanonical);
  EXPECT_EQ(SerializeToString(serde, std::bit_cast<double>(uint64_t{0x7ff0000000000001})),
            kCanonical);
  EXPECT_EQ(SerializeToString(serde, std::bit_cast<double>(uint64_t{0xfff8dead0000beef})),
            kCanonical);
}

TEST(DoubleSerdeTest, RoundTripsEdgeValues) {
  const DoubleSerde serde;
  for (double v : {0.0, 1.5, -1.5, 0.1, 1e308, -1e-308, 3.141592653589793,
                   std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
                   std::numeric_limits<double>::min(), std::numeric_limits<double>::denorm_min(),
                   std::numeric_limits<double>::epsilon(),
                   std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    EXPECT_EQ(std::bit_cast<uint64_t>(RoundTrip(serde, v)), std::bit_cast<uint64_t>(v)) << v;
  }
  const double negative_zero = RoundTrip(serde, -0.0);
  EXPECT_EQ(negative_zero, 0.0);
  EXPECT_TRUE(std::signbit(negative_zero));
  EXPECT_TRUE(std::isnan(RoundTrip(serde, std::numeric_limits<double>::quiet_NaN())));
}

TEST(DoubleSerdeTest, ReadsAnyNaNPattern) {
  double out = 0;
  ASSERT_TRUE(DoubleSerde().Deserialize("\xff\xf8\x00\x00\x00\x00\x00\x01"s, out).ok());
  EXPECT_TRUE(std::isnan(out));
}

TEST(DoubleSerdeTest, RejectsWrongSizesAndNull) {
  const DoubleSerde serde;
  double out = 0;
  absl::Status status = serde.Deserialize("\x3f\xf8\x00\x00"s, out);  // a float's width
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "DoubleSerde: expected 8 bytes, got 4");
  status = serde.Deserialize(kNull, out);
  EXPECT_EQ(status.message(),
            "DoubleSerde: null bytes (wrap the serde in Nullable<> to accept nulls)");
}

// ---------------------------------------------------------------------------
// StringSerde.

TEST(StringSerdeTest, WritesBytesAsIs) {
  const StringSerde serde;
  EXPECT_EQ(SerializeToString(serde, "hello"), "hello");
  EXPECT_EQ(SerializeToString(serde, ""), "");
  EXPECT_EQ(SerializeToString(serde, "a\0b\0"s), "a\0b\0"s);
  EXPECT_EQ(SerializeToString(serde, "\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9");  // "été"
}

TEST(StringSerdeTest, RoundTripsEdgeValues) {
  const StringSerde serde;
  for (const std::string& v : {""s, "x"s, "\0"s, "a\0b\0c"s, "\xf0\x9f\x8c\x8a sluice"s,
                               "\xff\xfe not utf-8"s, std::string(100000, 'z')}) {
    EXPECT_EQ(RoundTrip(serde, v), v);
  }
}

TEST(StringSerdeTest, NullBecomesEmptyString) {
  std::string out = "previous record";
  ASSERT_TRUE(StringSerde().Deserialize(kNull, out).ok());
  EXPECT_EQ(out, "");
}

TEST(StringSerdeTest, DeserializeReplacesPreviousContent) {
  const StringSerde serde;
  std::string out = "a much longer previous value";
  ASSERT_TRUE(serde.Deserialize("short", out).ok());
  EXPECT_EQ(out, "short");
}

// ---------------------------------------------------------------------------
// Bytes and BytesSerde.

TEST(BytesTest, ValueSemantics) {
  const Bytes empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.size(), 0u);

  const Bytes b("a\0b"s);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.view(), "a\0b"s);
  EXPECT_EQ(b.str(), "a\0b"s);
  EXPECT_EQ(Bytes(std::string_view("a\0b", 3)), b);
  EXPECT_EQ(Bytes("a\0b", 3), b);
  EXPECT_NE(Bytes("a"), b);

  Bytes copy = b;
  copy.assign("xyz");
  EXPECT_EQ(copy.view(), "xyz");
  EXPECT_EQ(b.view(), "a\0b"s);
  copy.mutable_str().push_back('!');
  EXPECT_EQ(copy.view(), "xyz!");
  EXPECT_EQ(std::move(copy).release(), "xyz!");
  static_assert(!std::is_convertible_v<std::string, Bytes>, "text is not silently bytes");
}

TEST(BytesTest, OrdersByUnsignedBytesLikeKafka) {
  EXPECT_LT(Bytes("a"), Bytes("b"));
  EXPECT_LT(Bytes("a"), Bytes("ab"));
  EXPECT_LT(Bytes(""), Bytes("\x00"s));
  // 0x80 sorts after 0x7f even though char is signed.
  EXPECT_LT(Bytes("\x7f"), Bytes("\x80"));
  EXPECT_LT(Bytes("\x01"), Bytes("\xff"));
  EXPECT_GT(Bytes("\xff"), Bytes("\xfe\xff"));
  EXPECT_FALSE(Bytes("a") < Bytes("a"));
  EXPECT_EQ(Bytes("abc") <=> Bytes("abc"), std::strong_ordering::equal);
}

TEST(BytesTest, HashesWithStdAndAbsl) {
  std::unordered_set<Bytes> std_set = {Bytes("a"), Bytes("b"), Bytes("a\0"s), Bytes("a")};
  EXPECT_EQ(std_set.size(), 3u);
  EXPECT_TRUE(std_set.contains(Bytes("a\0"s)));
  EXPECT_EQ(std::hash<Bytes>()(Bytes("k")), std::hash<Bytes>()(Bytes("k")));

  absl::flat_hash_set<Bytes> absl_set = {Bytes("a"), Bytes("b"), Bytes("a\0"s), Bytes("a")};
  EXPECT_EQ(absl_set.size(), 3u);
  EXPECT_TRUE(absl_set.contains(Bytes("b")));
  EXPECT_EQ(absl::Hash<Bytes>()(Bytes("k")), absl::Hash<Bytes>()(Bytes("k")));
}

TEST(BytesSerdeTest, RoundTripsAndMapsNullToEmpty) {
  const BytesSerde serde;
  EXPECT_EQ(SerializeToString(serde, Bytes("\x00\xff\x10"s)), "\x00\xff\x10"s);
  for (const Bytes& v : {Bytes(), Bytes("\0\0\0"s), Bytes("\x80\x81\xff"), Bytes("text")}) {
    EXPECT_EQ(RoundTrip(serde, v), v);
  }
  Bytes out("previous");
  ASSERT_TRUE(serde.Deserialize(kNull, out).ok());
  EXPECT_TRUE(out.empty());
}

// ---------------------------------------------------------------------------
// VoidSerde.

TEST(VoidSerdeTest, IsAlwaysNull) {
  const VoidSerde serde;
  EXPECT_TRUE(serde.IsNull(Void{}));
  std::string buf = "junk";
  serde.Serialize(Void{}, buf);
  EXPECT_EQ(buf, "");
  Void out;
  EXPECT_TRUE(serde.Deserialize(kNull, out).ok());
}

TEST(VoidSerdeTest, RejectsNonNullBytesLikeKafka) {
  Void out;
  absl::Status status = VoidSerde().Deserialize("key", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "VoidSerde: expected null bytes, got 3 bytes");
  status = VoidSerde().Deserialize(std::string_view("", 0), out);
  EXPECT_EQ(status.message(), "VoidSerde: expected null bytes, got 0 bytes");
}

// ---------------------------------------------------------------------------
// Nullable.

TEST(NullableTest, NullMapsToNullopt) {
  const Nullable<Int64Serde> serde;
  std::optional<int64_t> out = 5;
  ASSERT_TRUE(serde.Deserialize(kNull, out).ok());
  EXPECT_EQ(out, std::nullopt);
  EXPECT_TRUE(serde.IsNull(out));
}

TEST(NullableTest, ValuesUseTheInnerSerde) {
  const Nullable<Int64Serde> serde;
  EXPECT_EQ(SerializeToString(serde, std::optional<int64_t>(1)),
            "\x00\x00\x00\x00\x00\x00\x00\x01"s);
  EXPECT_EQ(SerializeToString(serde, std::nullopt), "");
  EXPECT_FALSE(serde.IsNull(int64_t{0}));

  std::optional<int64_t> out;
  ASSERT_TRUE(serde.Deserialize("\xff\xff\xff\xff\xff\xff\xff\xff"s, out).ok());
  EXPECT_EQ(out, -1);
  EXPECT_EQ(RoundTrip(serde, std::numeric_limits<int64_t>::min()),
            std::numeric_limits<int64_t>::min());
}

TEST(NullableTest, InnerErrorsPassThrough) {
  std::optional<int64_t> out;
  const absl::Status status = Nullable<Int64Serde>().Deserialize("abc", out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Int64Serde: expected 8 bytes, got 3");
}

TEST(NullableTest, TellsNullFromEmptyString) {
  const Nullable<StringSerde> serde;
  std::optional<std::string> out;
  ASSERT_TRUE(serde.Deserialize(std::string_view("", 0), out).ok());
  EXPECT_EQ(out, std::optional<std::string>(""));
  ASSERT_TRUE(serde.Deserialize(kNull, out).ok());
  EXPECT_EQ(out, std::nullopt);
  ASSERT_TRUE(serde.Deserialize("a\0b"s, out).ok());
  EXPECT_EQ(out, std::optional<std::string>("a\0b"s));
  // An engaged out is reused in place.
  const char* storage = out->data();
  ASSERT_TRUE(serde.Deserialize("xy", out).ok());
  EXPECT_EQ(out, std::optional<std::string>("xy"));
  EXPECT_EQ(out->data(), storage);
}

TEST(NullableTest, CarriesAStatefulInnerSerde) {
  struct PrefixSerde {
    using Type = std::string;
    std::string prefix;
    void Serialize(const std::string& v, std::string& buf) const { buf = prefix + v; }
    absl::Status Deserialize(std::string_view bytes, std::string& out) const {
      if (bytes.substr(0, prefix.size()) != prefix) return absl::InvalidArgumentError("prefix");
      out.assign(bytes.substr(prefix.size()));
      return absl::OkStatus();
    }
  };
  const Nullable<PrefixSerde> serde(PrefixSerde{"v1:"});
  EXPECT_EQ(serde.inner().prefix, "v1:");
  EXPECT_EQ(SerializeToString(serde, std::optional<std::string>("x")), "v1:x");
  EXPECT_EQ(RoundTrip(serde, std::optional<std::string>("payload")), "payload");
}

TEST(DefaultSerdeTest, DefaultsWorkEndToEnd) {
  EXPECT_EQ(SerializeToString(DefaultSerdeFor<int32_t>(), 1), "\x00\x00\x00\x01"s);
  EXPECT_EQ(SerializeToString(DefaultSerdeFor<std::string>(), "k"), "k");
  std::optional<double> out = 1.0;
  ASSERT_TRUE(DefaultSerdeFor<std::optional<double>>().Deserialize(kNull, out).ok());
  EXPECT_EQ(out, std::nullopt);
}

// ---------------------------------------------------------------------------
// Internals that error messages rely on.

namespace shop {
struct Order {};
}  // namespace shop

TEST(InternalTest, TypeNameIsReadable) {
  static_assert(internal::TypeName<int>() == "int");
  EXPECT_THAT(std::string(internal::TypeName<shop::Order>()), ::testing::EndsWith("::shop::Order"));
  EXPECT_EQ(internal::TypeName<Bytes>(), "sluice::Bytes");
}

}  // namespace
}  // namespace sluice
