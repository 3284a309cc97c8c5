#include "operators/ordered_collector.h"

#include <algorithm>
#include <numeric>

namespace sluice::internal {

absl::Status OrderedCollector::Send(const OutRecord& r) {
  // A changelog's order is the order of the store's writes: not held.
  if (r.changelog) return target_.Send(r);
  Held h;
  auto append = [this](std::string_view s) {
    size_t at = arena_.size();
    arena_.append(s);
    return at;
  };
  h.topic = append(r.topic);
  h.topic_len = static_cast<uint32_t>(r.topic.size());
  h.key = append(r.key);
  h.key_len = static_cast<uint32_t>(r.key.size());
  h.key_null = r.key.data() == nullptr;
  h.value = append(r.value);
  h.value_len = static_cast<uint32_t>(r.value.size());
  h.value_null = r.value.data() == nullptr;
  h.partition = r.partition;
  h.timestamp = r.timestamp;
  h.headers = r.headers;
  h.seq = r.seq;
  held_.push_back(h);
  return absl::OkStatus();
}

absl::Status OrderedCollector::Flush() {
  order_.resize(held_.size());
  std::iota(order_.begin(), order_.end(), 0u);
  std::stable_sort(order_.begin(), order_.end(),
                   [this](uint32_t a, uint32_t b) { return held_[a].seq < held_[b].seq; });
  absl::Status status;
  for (uint32_t i : order_) {
    const Held& h = held_[i];
    const char* base = arena_.data();
    OutRecord out;
    out.topic = std::string_view(base + h.topic, h.topic_len);
    out.key = h.key_null ? std::string_view() : std::string_view(base + h.key, h.key_len);
    out.value = h.value_null ? std::string_view() : std::string_view(base + h.value, h.value_len);
    out.partition = h.partition;
    out.timestamp = h.timestamp;
    out.headers = h.headers;
    out.seq = h.seq;
    status = target_.Send(out);
    if (!status.ok()) break;
  }
  Discard();
  return status;
}

void OrderedCollector::Discard() {
  held_.clear();
  arena_.clear();
}

}  // namespace sluice::internal
