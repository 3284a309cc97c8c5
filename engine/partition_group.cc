#include "engine/partition_group.h"

#include <algorithm>
#include <limits>

namespace sluice::internal {

PartitionGroup::PartitionGroup(std::vector<std::string> topics, int32_t partition,
                               int64_t max_idle_ms, size_t max_buffered)
    : topics_(std::move(topics)), partition_(partition), max_idle_ms_(max_idle_ms),
      max_buffered_(std::max<size_t>(max_buffered, 1)), held_(topics_.size()) {}

PartitionGroup::~PartitionGroup() { Clear(); }

int64_t PartitionGroup::Timestamp(const rd_kafka_message_t* m) {
  return rd_kafka_message_timestamp(m, nullptr);
}

bool PartitionGroup::Add(rd_kafka_message_t* message) {
  const char* topic = rd_kafka_topic_name(message->rkt);
  for (size_t i = 0; i < topics_.size(); ++i) {
    if (topics_[i] == topic) {
      held_[i].messages.push_back(message);
      held_[i].empty_since_ms = -1;
      return true;
    }
  }
  return false;
}

PartitionGroup::FlowChange PartitionGroup::Flow() {
  FlowChange change;
  for (size_t i = 0; i < held_.size(); ++i) {
    Held& h = held_[i];
    if (!h.paused && h.messages.size() > max_buffered_) {
      h.paused = true;
      change.pause.push_back(i);
    } else if (h.paused && h.messages.size() <= max_buffered_ / 2) {
      h.paused = false;
      change.resume.push_back(i);
    }
  }
  return change;
}

std::optional<PartitionGroup::Run> PartitionGroup::Next(
    int64_t now_ms, const std::function<Lag(size_t)>& lag) {
  size_t best = held_.size();
  for (size_t i = 0; i < held_.size(); ++i) {
    Held& h = held_[i];
    if (h.messages.empty()) {
      if (max_idle_ms_ < 0) continue;
      const Lag l = lag(i);
      if (l == Lag::kCaughtUp) continue;
      if (h.empty_since_ms < 0) h.empty_since_ms = now_ms;
      // Behind: 0 waits until caught up, N at most N ms. Unknown: a bounded wait.
      const int64_t limit = l == Lag::kUnknown ? std::max(max_idle_ms_, kUnknownLagWaitMs)
                            : max_idle_ms_ == 0 ? std::numeric_limits<int64_t>::max()
                                                : max_idle_ms_;
      if (now_ms - h.empty_since_ms < limit) return std::nullopt;
      continue;
    }
    if (best == held_.size() || Timestamp(h.messages.front()) < Timestamp(held_[best].messages.front())) {
      best = i;
    }
  }
  if (best == held_.size()) return std::nullopt;
  // Up to the next smallest head among the others (ties go to the earlier partition).
  int64_t limit = std::numeric_limits<int64_t>::max();
  for (size_t i = 0; i < held_.size(); ++i) {
    if (i != best && !held_[i].messages.empty()) limit = std::min(limit, Timestamp(held_[i].messages.front()));
  }
  const std::deque<rd_kafka_message_t*>& q = held_[best].messages;
  size_t count = 1;
  while (count < q.size() && Timestamp(q[count]) <= limit) ++count;
  return Run{best, count};
}

void PartitionGroup::Take(const Run& run, std::vector<rd_kafka_message_t*>* out) {
  std::deque<rd_kafka_message_t*>& q = held_[run.index].messages;
  out->insert(out->end(), q.begin(), q.begin() + static_cast<std::ptrdiff_t>(run.count));
  q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(run.count));
}

bool PartitionGroup::empty() const {
  return std::all_of(held_.begin(), held_.end(), [](const Held& h) { return h.messages.empty(); });
}

void PartitionGroup::Clear() {
  for (Held& h : held_) {
    for (rd_kafka_message_t* m : h.messages) rd_kafka_message_destroy(m);
    h.messages.clear();
  }
}

}  // namespace sluice::internal
