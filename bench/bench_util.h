// Helpers shared by the state and join benchmarks: scratch directories, big-endian
// int64 values, aborting checks, record renumbering and a Zipf sampler.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include "absl/status/status.h"
#include "sluice/internal/node.h"

namespace sluice::bench {

// The benchmark's name, for messages ("state_bench: ...").
inline const char*& ProgramName() {
  static const char* name = "bench";
  return name;
}

// A fresh directory `<base>/<prefix>XXXXXX`; `base` empty: the temp directory.
inline std::filesystem::path MakeTempDir(const std::string& base, const char* prefix) {
  std::filesystem::path root = base.empty() ? std::filesystem::temp_directory_path()
                                            : std::filesystem::path(base);
  std::filesystem::create_directories(root);
  std::string pattern = (root / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "%s: mkdtemp %s failed\n", ProgramName(), pattern.c_str());
    std::abort();
  }
  return std::filesystem::path(pattern);
}

inline void RemoveDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

inline void PutBig64(int64_t v, char* out) {
  auto u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
}
inline int64_t GetBig64(std::string_view s) {
  if (s.size() != 8) std::abort();
  uint64_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<uint8_t>(c);
  return static_cast<int64_t>(v);
}

inline void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s: %s\n", ProgramName(), what, std::string(s.message()).c_str());
    std::abort();
  }
}
inline void Check(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s: %s\n", ProgramName(), what, s.ToString().c_str());
    std::abort();
  }
}
inline rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// A task skips records below its position, so every pass over cycled input gets fresh
// offsets. Every side pays for this.
inline void Renumber(std::vector<internal::RawRecord>& records, int64_t& next_offset) {
  for (internal::RawRecord& r : records) r.offset = next_offset++;
}

// Ranks 0..n-1 drawn with probability proportional to 1 / (rank + 1)^s.
class ZipfSampler {
 public:
  ZipfSampler(size_t n, double s) : cdf_(n) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
      cdf_[i] = sum;
    }
    for (double& c : cdf_) c /= sum;
  }
  template <class Rng>
  size_t operator()(Rng& rng) {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    return std::min<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin(),
                            cdf_.size() - 1);
  }

 private:
  std::vector<double> cdf_;
};

}  // namespace sluice::bench
