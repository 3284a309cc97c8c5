#include "engine/state_machine.h"

namespace sluice {

std::string_view ToString(AppState state) {
  switch (state) {
    case AppState::kCreated: return "CREATED";
    case AppState::kRebalancing: return "REBALANCING";
    case AppState::kRunning: return "RUNNING";
    case AppState::kPendingShutdown: return "PENDING_SHUTDOWN";
    case AppState::kNotRunning: return "NOT_RUNNING";
    case AppState::kPendingError: return "PENDING_ERROR";
    case AppState::kError: return "ERROR";
  }
  return "UNKNOWN";
}

namespace internal {

bool AppStateMachine::IsAllowed(AppState from, AppState to) {
  using S = AppState;
  switch (from) {
    case S::kCreated: return to == S::kRebalancing || to == S::kPendingShutdown || to == S::kPendingError;
    case S::kRebalancing:
      return to == S::kRunning || to == S::kRebalancing || to == S::kPendingShutdown ||
             to == S::kPendingError;
    case S::kRunning:
      return to == S::kRebalancing || to == S::kPendingShutdown || to == S::kPendingError;
    case S::kPendingShutdown: return to == S::kNotRunning;
    case S::kPendingError: return to == S::kError;
    case S::kNotRunning:
    case S::kError: return false;
  }
  return false;
}

AppState AppStateMachine::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

bool AppStateMachine::TransitionTo(AppState to) {
  AppState from;
  StateListener listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    from = state_;
    if (!IsAllowed(from, to)) return false;
    state_ = to;
    listener = listener_;
  }
  changed_.notify_all();
  if (listener) listener(to, from);
  return true;
}

bool AppStateMachine::Await(AppState target, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  auto done = [&] {
    return state_ == target || state_ == AppState::kNotRunning || state_ == AppState::kError;
  };
  if (timeout == std::chrono::milliseconds::max()) {
    changed_.wait(lock, done);
  } else {
    changed_.wait_for(lock, timeout, done);
  }
  return state_ == target;
}

void AppStateMachine::SetListener(StateListener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

}  // namespace internal
}  // namespace sluice
