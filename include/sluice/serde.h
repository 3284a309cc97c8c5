// Serdes: how Sluice turns record keys and values into Kafka bytes and back.
//
// A serde is a small copyable value type with a `Type` and two const members:
//
//   void Serialize(const Type& value, std::string& buf) const;   // replaces buf
//   absl::Status Deserialize(std::string_view bytes, Type& out) const;
//
// Both write into storage the caller owns and reuses from record to record, so
// a serde on the hot path costs no virtual call and, for the built-ins, no
// allocation once the buffers have grown. Kafka null (an absent key, a
// tombstone value) arrives as `bytes.data() == nullptr`; an empty but present
// payload has a non-null data pointer. A serde whose Type can hold null also
// has `bool IsNull(const Type&) const` (see NullableSerde); sinks write Kafka
// null for such values instead of calling Serialize.
//
// The fixed-width serdes write exactly what Kafka's Java IntegerSerializer,
// LongSerializer and DoubleSerializer write, so topics can be shared with JVM
// applications.
//
// Example:
//
//   sluice::Int64Serde serde;
//   std::string buf;                       // reused for every record
//   serde.Serialize(42, buf);              // buf == "\0\0\0\0\0\0\0\x2a"
//   int64_t n;
//   absl::Status s = serde.Deserialize(buf, n);   // n == 42
//
//   sluice::Nullable<sluice::StringSerde> opt;     // std::optional<std::string>
//   std::optional<std::string> v;
//   s = opt.Deserialize(std::string_view(), v);    // Kafka null -> v == nullopt
//
//   using KeySerde = sluice::DefaultSerdeFor<std::string>;   // StringSerde
//
// User types get a default serde by specialising DefaultSerde:
//
//   template <> struct sluice::DefaultSerde<Order> {
//     using type = sluice::JsonSerde<Order>;       // from <sluice/serde_json.h>
//   };
//
// Contract shared by every serde in Sluice:
//   - Serialize never fails; it replaces the whole content of `buf`.
//   - Deserialize never throws; on error it returns InvalidArgumentError whose
//     message starts with the serde's name, and leaves `out` valid but
//     unspecified.
//   - Serdes hold no per-call mutable state, so one instance may be shared by
//     threads.

#ifndef SLUICE_SERDE_H_
#define SLUICE_SERDE_H_

#include <array>
#include <bit>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/status.h"

namespace sluice {

// ---------------------------------------------------------------------------
// Concepts.

// bytes.data() == nullptr means a Kafka null (absent key / tombstone value).
template <class S>
concept Serde = std::copy_constructible<S> &&
    requires(const S& s, const typename S::Type& value, typename S::Type& out,
             std::string& buf, std::string_view bytes) {
      typename S::Type;
      { s.Serialize(value, buf) } -> std::same_as<void>;  // replaces buf's contents
      { s.Deserialize(bytes, out) } -> std::same_as<absl::Status>;
    };

// A serde whose Type can represent Kafka null also provides IsNull; sinks then
// write null.
template <class S>
concept NullableSerde = Serde<S> && requires(const S& s, const typename S::Type& v) {
  { s.IsNull(v) } -> std::same_as<bool>;
};

// The serde Sluice uses for T when the user names none. Left undefined for
// types without one; specialise it for your own types (see the file comment).
template <class T>
struct DefaultSerde;

template <class T>
using DefaultSerdeFor = typename DefaultSerde<T>::type;

template <class T>
concept HasDefaultSerde = requires { typename DefaultSerde<T>::type; };

// ---------------------------------------------------------------------------
// Bytes: an owned, ordered, hashable byte string, distinct from std::string so
// that "opaque bytes" and "text" are different key types.

class Bytes {
 public:
  Bytes() = default;
  explicit Bytes(std::string data) : data_(std::move(data)) {}
  explicit Bytes(std::string_view data) : data_(data) {}
  explicit Bytes(const char* c_str) : data_(c_str) {}
  Bytes(const char* data, size_t size) : data_(data, size) {}

  std::string_view view() const noexcept { return data_; }
  const char* data() const noexcept { return data_.data(); }
  size_t size() const noexcept { return data_.size(); }
  bool empty() const noexcept { return data_.empty(); }

  // Replaces the content, reusing the existing capacity.
  void assign(std::string_view data) { data_.assign(data.data(), data.size()); }
  void clear() noexcept { data_.clear(); }

  const std::string& str() const& noexcept { return data_; }
  std::string& mutable_str() noexcept { return data_; }
  std::string release() && noexcept { return std::move(data_); }

  // Lexicographic by unsigned byte value, like Kafka's Bytes.compareTo
  // (std::char_traits<char> compares as unsigned char).
  friend bool operator==(const Bytes&, const Bytes&) = default;
  friend std::strong_ordering operator<=>(const Bytes&, const Bytes&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const Bytes& b) {
    return H::combine(std::move(h), b.data_);
  }

 private:
  std::string data_;
};

// ---------------------------------------------------------------------------
// Implementation details shared by the serde headers.

namespace internal {

// A readable name for T ("shop::Order"), for error messages only.
template <class T>
constexpr std::string_view TypeName() {
#if defined(__clang__) || defined(__GNUC__)
  // "... TypeName() [T = shop::Order]" (clang) or
  // "... TypeName() [with T = shop::Order; std::string_view = ...]" (gcc).
  constexpr std::string_view kFn = __PRETTY_FUNCTION__;
  constexpr std::string_view kKey = "T = ";
  constexpr size_t kBegin = kFn.find(kKey);
  if constexpr (kBegin == std::string_view::npos) {
    return "?";
  } else {
    constexpr std::string_view kRest = kFn.substr(kBegin + kKey.size());
    constexpr size_t kEnd = kRest.find_first_of(";]");
    return kRest.substr(0, kEnd);
  }
#else
  return "?";
#endif
}

// The compile-time concatenation of several static string_views.
template <const std::string_view&... kParts>
struct JoinedName {
  static constexpr auto kChars = [] {
    std::array<char, (kParts.size() + ... + 0)> chars{};
    size_t i = 0;
    ((std::string_view(kParts).copy(chars.data() + i, kParts.size()), i += kParts.size()), ...);
    return chars;
  }();
  static constexpr std::string_view kValue{kChars.data(), kChars.size()};
};

inline constexpr std::string_view kNullablePrefix = "Nullable<";
inline constexpr std::string_view kCloseAngle = ">";

// S::kName if S has one, else a placeholder (user serdes need not name themselves).
template <class S>
inline constexpr std::string_view kSerdeName = [] {
  if constexpr (requires { std::string_view(S::kName); }) {
    return std::string_view(S::kName);
  } else {
    return std::string_view("UserSerde");
  }
}();

// Joins error-message pieces. Debian's Abseil is built with its own
// absl::string_view, so absl::StrCat does not take std::string_view; this
// works under either Abseil configuration. Error paths only.
inline std::string Concat(std::initializer_list<std::string_view> parts) {
  size_t size = 0;
  for (std::string_view p : parts) size += p.size();
  std::string out;
  out.reserve(size);
  for (std::string_view p : parts) out.append(p.data(), p.size());
  return out;
}

inline absl::Status NullBytesError(std::string_view serde_name) {
  return absl::InvalidArgumentError(Concat(
      {serde_name, "Serde: null bytes (wrap the serde in Nullable<> to accept nulls)"}));
}

// Big-endian fixed-width integer coding, one byte swap and one copy each way. (g++ 12 at
// -O2 left the byte-at-a-time loops this replaced as loops: ~50 instructions per 8 bytes,
// and every store key, envelope and position is coded with them.)
template <std::unsigned_integral U>
constexpr U ToBigEndian(U v) noexcept {
  if constexpr (std::endian::native == std::endian::big || sizeof(U) == 1) {
    return v;
  } else if constexpr (sizeof(U) == 2) {
    return __builtin_bswap16(v);
  } else if constexpr (sizeof(U) == 4) {
    return __builtin_bswap32(v);
  } else {
    static_assert(sizeof(U) == 8, "big-endian coding of 1, 2, 4 or 8 bytes");
    return __builtin_bswap64(v);
  }
}

template <std::unsigned_integral U>
inline void StoreBigEndian(U v, char* out) noexcept {
  const U big = ToBigEndian(v);
  std::memcpy(out, &big, sizeof(U));
}

template <std::unsigned_integral U>
inline U LoadBigEndian(const char* in) noexcept {
  U big;
  std::memcpy(&big, in, sizeof(U));
  return ToBigEndian(big);  // a swap is its own inverse
}

// The serde for a Java fixed-width number; Traits supply the name and the
// mapping between T and its unsigned bit pattern.
template <class Traits>
class FixedWidthSerde {
 public:
  using Type = typename Traits::Type;
  static constexpr std::string_view kName = Traits::kName;

  void Serialize(const Type& value, std::string& buf) const {
    char bytes[kWidth];
    StoreBigEndian(Traits::ToBits(value), bytes);
    buf.assign(bytes, kWidth);
  }

  [[nodiscard]] absl::Status Deserialize(std::string_view bytes, Type& out) const {
    if (bytes.data() == nullptr) [[unlikely]] {
      return NullBytesError(kName);
    }
    if (bytes.size() != kWidth) [[unlikely]] {
      return absl::InvalidArgumentError(Concat({kName, "Serde: expected ", std::to_string(kWidth),
                                                " bytes, got ", std::to_string(bytes.size())}));
    }
    out = Traits::FromBits(LoadBigEndian<Bits>(bytes.data()));
    return absl::OkStatus();
  }

 private:
  using Bits = decltype(Traits::ToBits(std::declval<Type>()));
  static constexpr size_t kWidth = sizeof(Bits);
};

struct Int32Traits {
  using Type = int32_t;
  static constexpr std::string_view kName = "Int32";
  static constexpr uint32_t ToBits(int32_t v) noexcept { return static_cast<uint32_t>(v); }
  static constexpr int32_t FromBits(uint32_t b) noexcept { return static_cast<int32_t>(b); }
};

struct Int64Traits {
  using Type = int64_t;
  static constexpr std::string_view kName = "Int64";
  static constexpr uint64_t ToBits(int64_t v) noexcept { return static_cast<uint64_t>(v); }
  static constexpr int64_t FromBits(uint64_t b) noexcept { return static_cast<int64_t>(b); }
};

struct DoubleTraits {
  static_assert(std::numeric_limits<double>::is_iec559 && sizeof(double) == 8,
                "DoubleSerde needs IEEE 754 binary64 doubles");
  using Type = double;
  static constexpr std::string_view kName = "Double";
  // Java's Double.doubleToLongBits, which the Kafka serializer uses, writes
  // every NaN as the canonical 0x7ff8000000000000.
  static constexpr uint64_t kJavaCanonicalNaN = 0x7ff8000000000000ULL;
  static constexpr uint64_t ToBits(double v) noexcept {
    return v != v ? kJavaCanonicalNaN : std::bit_cast<uint64_t>(v);
  }
  // Like Java's longBitsToDouble, NaN payloads are kept on the way in.
  static constexpr double FromBits(uint64_t b) noexcept { return std::bit_cast<double>(b); }
};

}  // namespace internal

// ---------------------------------------------------------------------------
// Built-in serdes.

// UTF-8 text, bytes as-is (no validation, no terminator). Kafka null
// deserializes to the empty string, so null and "" cannot be told apart; use
// Nullable<StringSerde> where they must be.
struct StringSerde {
  using Type = std::string;
  static constexpr std::string_view kName = "String";

  void Serialize(const std::string& value, std::string& buf) const { buf.assign(value); }
  // The value's own bytes: sinks write them without copying into a buffer first.
  std::string_view AsBytes(const std::string& value) const { return value; }
  [[nodiscard]] absl::Status Deserialize(std::string_view bytes, std::string& out) const {
    out.assign(bytes.data() == nullptr ? std::string_view() : bytes);
    return absl::OkStatus();
  }
};

// Opaque bytes, as-is. Kafka null deserializes to empty Bytes (see StringSerde).
struct BytesSerde {
  using Type = Bytes;
  static constexpr std::string_view kName = "Bytes";

  void Serialize(const Bytes& value, std::string& buf) const { buf.assign(value.view()); }
  std::string_view AsBytes(const Bytes& value) const { return value.view(); }
  [[nodiscard]] absl::Status Deserialize(std::string_view bytes, Bytes& out) const {
    out.assign(bytes.data() == nullptr ? std::string_view() : bytes);
    return absl::OkStatus();
  }
};

// 4-byte big-endian two's complement, as Kafka's IntegerSerializer.
using Int32Serde = internal::FixedWidthSerde<internal::Int32Traits>;
// 8-byte big-endian two's complement, as Kafka's LongSerializer.
using Int64Serde = internal::FixedWidthSerde<internal::Int64Traits>;
// 8-byte big-endian IEEE 754, as Kafka's DoubleSerializer (NaN is written as
// 0x7ff8000000000000 like Java; other NaN payloads are not preserved).
using DoubleSerde = internal::FixedWidthSerde<internal::DoubleTraits>;

// The "no key" / "no value" type: always Kafka null on the wire.
using Void = std::monostate;

// Always writes Kafka null. Like Kafka's VoidDeserializer, any non-null payload
// (even an empty one) is an error rather than being silently dropped.
struct VoidSerde {
  using Type = Void;
  static constexpr std::string_view kName = "Void";

  void Serialize(const Void&, std::string& buf) const { buf.clear(); }
  [[nodiscard]] absl::Status Deserialize(std::string_view bytes, Void&) const {
    if (bytes.data() != nullptr) [[unlikely]] {
      return absl::InvalidArgumentError(internal::Concat(
          {"VoidSerde: expected null bytes, got ", std::to_string(bytes.size()), " bytes"}));
    }
    return absl::OkStatus();
  }
  bool IsNull(const Void&) const { return true; }
};

// Adds Kafka null to any serde: null <-> std::nullopt. Serializing nullopt
// clears buf; sinks check IsNull first and write null. S must not already be
// nullable (there would be two nulls).
template <Serde S>
  requires(!NullableSerde<S>)
class Nullable {
 public:
  using Type = std::optional<typename S::Type>;
  static constexpr std::string_view kName =
      internal::JoinedName<internal::kNullablePrefix, internal::kSerdeName<S>,
                           internal::kCloseAngle>::kValue;

  constexpr Nullable() = default;
  constexpr explicit Nullable(S inner) : inner_(std::move(inner)) {}

  const S& inner() const noexcept { return inner_; }

  void Serialize(const Type& value, std::string& buf) const {
    if (value.has_value()) {
      inner_.Serialize(*value, buf);
    } else {
      buf.clear();
    }
  }

  [[nodiscard]] absl::Status Deserialize(std::string_view bytes, Type& out) const {
    if (bytes.data() == nullptr) {
      out.reset();
      return absl::OkStatus();
    }
    // Keep an engaged out's storage (e.g. string capacity) for reuse.
    if (!out.has_value()) out.emplace();
    return inner_.Deserialize(bytes, *out);
  }

  bool IsNull(const Type& value) const { return !value.has_value(); }

 private:
  [[no_unique_address]] S inner_;
};

// ---------------------------------------------------------------------------
// Default serdes.

template <>
struct DefaultSerde<std::string> {
  using type = StringSerde;
};
template <>
struct DefaultSerde<Bytes> {
  using type = BytesSerde;
};
template <>
struct DefaultSerde<int32_t> {
  using type = Int32Serde;
};
template <>
struct DefaultSerde<int64_t> {
  using type = Int64Serde;
};
template <>
struct DefaultSerde<double> {
  using type = DoubleSerde;
};
template <>
struct DefaultSerde<Void> {
  using type = VoidSerde;
};
template <class T>
  requires HasDefaultSerde<T> && (!NullableSerde<DefaultSerdeFor<T>>)
struct DefaultSerde<std::optional<T>> {
  using type = Nullable<DefaultSerdeFor<T>>;
};

}  // namespace sluice

template <>
struct std::hash<sluice::Bytes> {
  size_t operator()(const sluice::Bytes& b) const noexcept {
    return std::hash<std::string_view>()(b.view());
  }
};

#endif  // SLUICE_SERDE_H_
