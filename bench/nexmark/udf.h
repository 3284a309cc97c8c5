// The scalar functions some Nexmark queries call (Flink SQL built-ins and its count_char
// UDF), shared by the Sluice queries and the reference implementations.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::nexmark {

// Flink's q1/q14 currency conversion.
inline double ToEuro(int64_t cents) { return 0.908 * static_cast<double>(cents); }

// count_char(s, c): how many bytes of `s` equal `c`.
inline int64_t CountChar(std::string_view s, char c) {
  int64_t n = 0;
  for (char x : s) n += x == c ? 1 : 0;
  return n;
}

// HOUR(dateTime) in UTC.
inline int HourOfDay(int64_t epoch_ms) {
  const int64_t day_ms = 24 * 3600 * 1000;
  const int64_t in_day = ((epoch_ms % day_ms) + day_ms) % day_ms;
  return static_cast<int>(in_day / (3600 * 1000));
}

// q14's bidTimeType.
inline std::string BidTimeType(int64_t epoch_ms) {
  const int h = HourOfDay(epoch_ms);
  if (h >= 8 && h <= 18) return "dayTime";
  if (h <= 6 || h >= 20) return "nightTime";
  return "otherTime";
}

// DATE_FORMAT(dateTime, 'yyyy-MM-dd') in UTC.
std::string DayOf(int64_t epoch_ms);

// REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2): the value of the first
// `channel_id=` at the start of `url` or after a '&'; nullopt if there is none.
inline std::optional<std::string> ChannelIdParameter(std::string_view url) {
  constexpr std::string_view kName = "channel_id=";
  for (size_t at = url.find(kName); at != std::string_view::npos; at = url.find(kName, at + 1)) {
    if (at != 0 && url[at - 1] != '&') continue;
    const size_t begin = at + kName.size();
    const size_t end = url.find('&', begin);
    return std::string(url.substr(begin, end == std::string_view::npos ? url.npos : end - begin));
  }
  return std::nullopt;
}

// SPLIT_INDEX(s, sep, index): the 0-based index-th piece of `s` split at `sep`; nullopt
// past the last piece.
inline std::optional<std::string> SplitIndex(std::string_view s, char sep, int index) {
  size_t begin = 0;
  for (int i = 0; i < index; ++i) {
    const size_t at = s.find(sep, begin);
    if (at == std::string_view::npos) return std::nullopt;
    begin = at + 1;
  }
  const size_t end = s.find(sep, begin);
  return std::string(s.substr(begin, end == std::string_view::npos ? s.npos : end - begin));
}

// Lower-case ASCII.
inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace sluice::nexmark
