// JsonSerde<T>: JSON keys and values through nlohmann/json (opt-in header; the
// target using it links nlohmann_json::nlohmann_json).
//
// T is any type nlohmann/json can convert: a user struct with ADL
// `to_json`/`from_json` (or NLOHMANN_DEFINE_TYPE_*), a standard type it
// supports, or `nlohmann::json` itself. `std::optional<U>` is handled here
// (nlohmann 3.11 does not) and makes the serde nullable.
//
// Example:
//
//   namespace shop {
//   struct Order { std::string id; int64_t cents = 0; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Order, id, cents)
//   }  // namespace shop
//
//   sluice::JsonSerde<shop::Order> serde;
//   std::string buf;
//   serde.Serialize({"o-1", 250}, buf);       // {"cents":250,"id":"o-1"}
//   shop::Order order;
//   absl::Status s = serde.Deserialize(buf, order);
//   // Malformed or wrongly-shaped JSON -> InvalidArgumentError:
//   //   "JsonSerde<shop::Order>: [json.exception.parse_error.101] parse error ..."
//
//   template <> struct sluice::DefaultSerde<shop::Order> {
//     using type = sluice::JsonSerde<shop::Order>;
//   };
//
// Semantics:
//   - Serialize writes compact JSON (`dump()`); invalid UTF-8 in strings is
//     replaced by U+FFFD rather than throwing, so Serialize cannot fail except
//     by an exception from the user's own to_json. NaN and infinities are
//     written as `null`, as JSON has no spelling for them.
//   - Deserialize parses the whole payload strictly (no trailing bytes, no
//     comments) and converts with from_json. Every std::exception raised on the
//     way - nlohmann's parse_error/type_error/out_of_range, or one thrown by the
//     user's from_json - is returned as InvalidArgumentError carrying its
//     message; only std::bad_alloc (and non-std exceptions a user's from_json
//     might throw) propagate.
//   - Kafka null bytes are an error, except for T = std::optional<U>, where
//     both Kafka null and the JSON literal `null` deserialize to std::nullopt
//     and IsNull(nullopt) tells sinks to write Kafka null. For other types, use
//     Nullable<JsonSerde<T>> to accept Kafka null. For T = nlohmann::json, the
//     JSON literal `null` is an ordinary value.
//   - Not allocation-free: parsing builds an nlohmann::json document first.

#ifndef SLUICE_SERDE_JSON_H_
#define SLUICE_SERDE_JSON_H_

#include <concepts>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "sluice/serde.h"

namespace sluice {

namespace internal {

template <class T>
inline constexpr bool kIsStdOptional = false;
template <class U>
inline constexpr bool kIsStdOptional<std::optional<U>> = true;

// T converts both ways through nlohmann's adl_serializer (ADL to_json/from_json
// or an adl_serializer specialisation).
template <class T>
concept JsonConvertibleValue =
    std::same_as<T, nlohmann::json> ||
    requires(nlohmann::json& j, const nlohmann::json& cj, const T& value, T& out) {
      nlohmann::adl_serializer<T>::to_json(j, value);
      nlohmann::adl_serializer<T>::from_json(cj, out);
    };

template <class T>
struct JsonValueType {
  using type = T;
};
template <class U>
struct JsonValueType<std::optional<U>> {
  using type = U;
};

}  // namespace internal

// T itself, or U for T = std::optional<U>, must convert to and from JSON.
template <class T>
concept JsonConvertible =
    std::default_initializable<typename internal::JsonValueType<T>::type> &&
    internal::JsonConvertibleValue<typename internal::JsonValueType<T>::type>;

template <JsonConvertible T>
class JsonSerde {
 public:
  using Type = T;
  static constexpr std::string_view kName = "Json";

  void Serialize(const T& value, std::string& buf) const {
    if constexpr (internal::kIsStdOptional<T>) {
      if (!value.has_value()) {
        buf.assign("null");
        return;
      }
      Dump(*value, buf);
    } else {
      Dump(value, buf);
    }
  }

  [[nodiscard]] absl::Status Deserialize(std::string_view bytes, T& out) const {
    if (bytes.data() == nullptr) {
      if constexpr (internal::kIsStdOptional<T>) {
        out.reset();
        return absl::OkStatus();
      } else {
        return absl::InvalidArgumentError(internal::Concat(
            {"JsonSerde<", internal::TypeName<T>(),
             ">: null bytes (use JsonSerde<std::optional<T>> or wrap the serde in "
             "Nullable<> to accept nulls)"}));
      }
    }
    try {
      nlohmann::json doc = nlohmann::json::parse(bytes.data(), bytes.data() + bytes.size());
      if constexpr (internal::kIsStdOptional<T>) {
        if (doc.is_null()) {
          out.reset();
        } else {
          if (!out.has_value()) out.emplace();
          Convert(std::move(doc), *out);
        }
      } else {
        Convert(std::move(doc), out);
      }
    } catch (const std::bad_alloc&) {
      throw;  // out of memory is not a bad record
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          internal::Concat({"JsonSerde<", internal::TypeName<T>(), ">: ", e.what()}));
    }
    return absl::OkStatus();
  }

  bool IsNull(const T& value) const
    requires internal::kIsStdOptional<T>
  {
    return !value.has_value();
  }

 private:
  template <class V>
  static void Dump(const V& value, std::string& buf) {
    constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
    if constexpr (std::same_as<V, nlohmann::json>) {
      buf = value.dump(-1, ' ', false, kReplace);
    } else {
      buf = nlohmann::json(value).dump(-1, ' ', false, kReplace);
    }
  }

  template <class V>
  static void Convert(nlohmann::json&& doc, V& out) {
    if constexpr (std::same_as<V, nlohmann::json>) {
      out = std::move(doc);
    } else {
      doc.get_to(out);  // from_json into the caller's object, reusing its storage
    }
  }
};

template <>
struct DefaultSerde<nlohmann::json> {
  using type = JsonSerde<nlohmann::json>;
};

}  // namespace sluice

#endif  // SLUICE_SERDE_JSON_H_
