#include "src/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>

#include "absl/strings/str_format.h"

namespace sluice::internal {
namespace {

LogLevel LevelFromEnv() {
  const char* env = std::getenv("SLUICE_LOG_LEVEL");
  std::string_view v = env ? env : "info";
  if (v == "error") return LogLevel::kError;
  if (v == "warn") return LogLevel::kWarn;
  if (v == "debug") return LogLevel::kDebug;
  return LogLevel::kInfo;
}

}  // namespace

bool LogEnabled(LogLevel level) {
  static const LogLevel threshold = LevelFromEnv();
  return level <= threshold;
}

void LogLine(LogLevel level, std::string_view message) {
  static constexpr const char* kNames[] = {"ERROR", "WARN", "INFO", "DEBUG"};
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::string line = absl::StrFormat("%02d:%02d:%02d.%03d sluice %-5s %s\n", tm.tm_hour, tm.tm_min,
                                     tm.tm_sec, ms, kNames[static_cast<int>(level)], message);
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace sluice::internal
