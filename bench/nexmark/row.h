// RowSerde<T>: the compact binary encoding of Nexmark query results (and of the values
// the queries keep in state or send through repartition topics). A row type lists its
// fields with `Fields()` (std::tie of its members); each field is written in order:
//   int64_t, int32_t   8 bytes big-endian (int32 widened)
//   double             its IEEE-754 bits, 8 bytes big-endian
//   bool               1 byte
//   std::string        4-byte big-endian length, then the bytes
//   std::vector<U>     4-byte big-endian count, then each element
//   a row              its fields, in order
// RowText(row) prints a row for test messages.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "sluice/serde.h"

namespace sluice::nexmark {

template <class T>
concept RowType = requires(T& t) { t.Fields(); };

namespace row_internal {

template <class T>
struct IsVector : std::false_type {};
template <class U>
struct IsVector<std::vector<U>> : std::true_type {};

// Sluice's big-endian coding: a byte swap, not a loop over the bytes (g++ 12 at -O2
// leaves such loops as loops).
inline void Put64(uint64_t v, std::string& out) {
  char b[8];
  internal::StoreBigEndian(v, b);
  out.append(b, 8);
}
inline void Put32(uint32_t v, std::string& out) {
  char b[4];
  internal::StoreBigEndian(v, b);
  out.append(b, 4);
}

template <class T>
void Write(const T& v, std::string& out) {
  if constexpr (std::is_same_v<T, bool>) {
    out.push_back(v ? 1 : 0);
  } else if constexpr (std::is_integral_v<T>) {
    Put64(static_cast<uint64_t>(static_cast<int64_t>(v)), out);
  } else if constexpr (std::is_same_v<T, double>) {
    Put64(std::bit_cast<uint64_t>(v), out);
  } else if constexpr (std::is_same_v<T, std::string>) {
    Put32(static_cast<uint32_t>(v.size()), out);
    out.append(v);
  } else if constexpr (IsVector<T>::value) {
    Put32(static_cast<uint32_t>(v.size()), out);
    for (const auto& e : v) Write(e, out);
  } else {
    std::apply([&](const auto&... f) { (Write(f, out), ...); }, const_cast<T&>(v).Fields());
  }
}

// Reads from `in`, advancing it; false when the bytes run out.
inline bool Get64(std::string_view& in, uint64_t* v) {
  if (in.size() < 8) return false;
  *v = internal::LoadBigEndian<uint64_t>(in.data());
  in.remove_prefix(8);
  return true;
}
inline bool Get32(std::string_view& in, uint32_t* v) {
  if (in.size() < 4) return false;
  *v = internal::LoadBigEndian<uint32_t>(in.data());
  in.remove_prefix(4);
  return true;
}

template <class T>
bool Read(std::string_view& in, T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    if (in.empty()) return false;
    v = in[0] != 0;
    in.remove_prefix(1);
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    uint64_t x = 0;
    if (!Get64(in, &x)) return false;
    v = static_cast<T>(static_cast<int64_t>(x));
    return true;
  } else if constexpr (std::is_same_v<T, double>) {
    uint64_t x = 0;
    if (!Get64(in, &x)) return false;
    v = std::bit_cast<double>(x);
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    uint32_t n = 0;
    if (!Get32(in, &n) || in.size() < n) return false;
    v.assign(in.data(), n);
    in.remove_prefix(n);
    return true;
  } else if constexpr (IsVector<T>::value) {
    uint32_t n = 0;
    if (!Get32(in, &n) || n > in.size()) return false;  // every element takes >= 1 byte
    v.clear();
    v.resize(n);
    for (auto& e : v) {
      if (!Read(in, e)) return false;
    }
    return true;
  } else {
    return std::apply([&](auto&... f) { return (Read(in, f) && ...); }, v.Fields());
  }
}

template <class T>
void Text(const T& v, std::string& out) {
  if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T> || std::is_same_v<T, double>) {
    out += std::to_string(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    out += '"';
    out += v;
    out += '"';
  } else if constexpr (IsVector<T>::value) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out += ", ";
      Text(v[i], out);
    }
    out += ']';
  } else {
    out += '{';
    bool first = true;
    std::apply(
        [&](const auto&... f) {
          ((out += first ? "" : ", ", first = false, Text(f, out)), ...);
        },
        const_cast<T&>(v).Fields());
    out += '}';
  }
}

}  // namespace row_internal

template <RowType T>
class RowSerde {
 public:
  using Type = T;
  void Serialize(const T& row, std::string& out) const {
    out.clear();
    row_internal::Write(row, out);
  }
  absl::Status Deserialize(std::string_view bytes, T& out) const {
    if (bytes.data() == nullptr) return absl::InvalidArgumentError("nexmark row: null bytes");
    std::string_view in = bytes;
    if (!row_internal::Read(in, out) || !in.empty()) {
      return absl::InvalidArgumentError("nexmark row: " + std::to_string(bytes.size()) +
                                        " bytes do not decode as this row type");
    }
    return absl::OkStatus();
  }
};

template <RowType T>
std::string RowText(const T& row) {
  std::string out;
  row_internal::Text(row, out);
  return out;
}

}  // namespace sluice::nexmark

// Every row type's default serde is its RowSerde.
template <sluice::nexmark::RowType T>
struct sluice::DefaultSerde<T> {
  using type = sluice::nexmark::RowSerde<T>;
};
