// The stored-value envelope and per-key positions (see state_store.h).
#include <cstring>

#include "sluice/internal/state_store.h"

namespace sluice::internal {
namespace {

constexpr size_t kMaxVarint = 10;

// Writes `v` as a varint at `p` (room for kMaxVarint bytes); returns the end.
char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// Reads a varint from the front of `in`; a one-byte varint (a position's count, source
// and sub) takes the short way.
inline bool GetVarint(std::string_view* in, uint64_t* v) {
  const char* p = in->data();
  const char* const end = p + in->size();
  if (p != end && static_cast<uint8_t>(*p) < 0x80) {
    *v = static_cast<uint8_t>(*p);
    in->remove_prefix(1);
    return true;
  }
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && p != end; shift += 7) {
    const auto byte = static_cast<uint8_t>(*p++);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      in->remove_prefix(static_cast<size_t>(p - in->data()));
      return true;
    }
  }
  return false;
}

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace

// The varints are written into room made at the end of `out` at once, then the string
// is cut to what they took: one size change instead of a push_back per byte.
char* PositionSet::WriteTo(char* p) const {
  p = WriteVarint(p, entries_.size());
  for (const WritePosition& e : entries_) {
    p = WriteVarint(p, e.source);
    p = WriteVarint(p, ZigZag(e.offset));
    p = WriteVarint(p, e.sub);
  }
  return p;
}

size_t PositionSet::MaxBytes() const { return kMaxVarint * (1 + 3 * entries_.size()); }

void PositionSet::AppendTo(std::string* out) const {
  const size_t old = out->size();
  out->resize(old + MaxBytes());
  out->resize(static_cast<size_t>(WriteTo(out->data() + old) - out->data()));
}

bool PositionSet::ParseFrom(std::string_view* in) {
  entries_.clear();
  uint64_t n = 0;
  if (!GetVarint(in, &n) || n > 1024) return false;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t source = 0, offset = 0, sub = 0;
    if (!GetVarint(in, &source) || !GetVarint(in, &offset) || !GetVarint(in, &sub)) return false;
    entries_.push_back({static_cast<uint32_t>(source), UnZigZag(offset), static_cast<uint32_t>(sub)});
  }
  return true;
}

void EncodeStored(std::string_view value, int64_t timestamp, const PositionSet& positions,
                  std::string* out) {
  out->resize(kMaxVarint + positions.MaxBytes() + value.size());
  char* p = WriteVarint(out->data(), ZigZag(timestamp));
  p = positions.WriteTo(p);
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  out->resize(static_cast<size_t>(p - out->data()) + value.size());
}

bool DecodeStored(std::string_view bytes, StoredValue* out) {
  uint64_t ts = 0;
  if (!GetVarint(&bytes, &ts)) return false;
  out->timestamp = UnZigZag(ts);
  if (!out->positions.ParseFrom(&bytes)) return false;
  out->value = bytes;
  return true;
}

absl::Status KeyValueBytesStore::DropBefore(std::string_view end) {
  absl::StatusOr<std::unique_ptr<StoreIterator>> it = Range(std::nullopt, end);
  if (!it.ok()) return it.status();
  std::vector<std::string> keys;
  for (; (*it)->Valid(); (*it)->Next()) keys.emplace_back((*it)->key());
  if (absl::Status s = (*it)->status(); !s.ok()) return s;
  it->reset();
  for (const std::string& key : keys) {
    if (absl::Status s = Delete(key); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::optional<std::string> PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<uint8_t>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

}  // namespace sluice::internal
