#include "bench/nexmark/udf.h"

#include <chrono>
#include <cstdio>

namespace sluice::nexmark {

std::string DayOf(int64_t epoch_ms) {
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_time<milliseconds>(milliseconds(epoch_ms)));
  const year_month_day ymd(day);
  char out[16];
  std::snprintf(out, sizeof out, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return out;
}

}  // namespace sluice::nexmark
