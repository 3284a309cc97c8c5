// Cat(): string concatenation for error messages. Debian's Abseil is built with its own
// absl::string_view (not std::string_view), so absl::StrCat does not take a
// std::string_view; this helper takes both, plus numbers.
#pragma once

#include <concepts>
#include <string>
#include <string_view>
#include <functional>
#include <type_traits>

#include "absl/hash/hash.h"

namespace sluice::internal {

template <class T>
void CatAppend(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, char>) {
    out += v;
  } else if constexpr (std::is_arithmetic_v<T>) {
    out += std::to_string(v);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out += std::string_view(v);
  } else {
    // absl::string_view and other views with data() and size().
    out.append(v.data(), v.size());
  }
}

template <class... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (CatAppend(out, args), ...);
  return out;
}

}  // namespace sluice::internal

namespace sluice::internal {

// Transparent hashing for maps keyed by std::string and looked up by std::string_view
// (absl's own StringHash takes absl::string_view, which std::string_view does not
// convert to in Debian's Abseil).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const {
    return absl::Hash<absl::string_view>{}(absl::string_view(s.data(), s.size()));
  }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

}  // namespace sluice::internal
