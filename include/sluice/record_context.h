// RecordContext: where the record being processed came from, for functions that choose
// an output topic per record.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice {

struct RecordContext {
  std::string_view topic;  // the source topic
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp = 0;
};

}  // namespace sluice
