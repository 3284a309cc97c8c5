// A minimal leveled logger to stderr. The level comes from SLUICE_LOG_LEVEL
// (error, warn, info, debug; default info). Thread-safe: one write(2) per line.
#pragma once

#include <string_view>

#include "sluice/internal/str.h"

namespace sluice::internal {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, std::string_view message);

template <class... Args>
void Log(LogLevel level, const Args&... args) {
  if (LogEnabled(level)) LogLine(level, internal::Cat(args...));
}

}  // namespace sluice::internal
