// AppStateMachine: the App's state, its allowed transitions (one table), the listener,
// and waiting for a state. Any thread may read or change it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "sluice/app.h"

namespace sluice::internal {

class AppStateMachine {
 public:
  static bool IsAllowed(AppState from, AppState to);

  AppState state() const;
  // Moves to `to` if the table allows it from the current state; returns whether it did.
  // The listener runs on the calling thread, outside the lock.
  bool TransitionTo(AppState to);
  bool Await(AppState target, std::chrono::milliseconds timeout) const;
  void SetListener(StateListener listener);

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  AppState state_ = AppState::kCreated;  // GUARDED_BY(mu_)
  StateListener listener_;               // GUARDED_BY(mu_)
};

}  // namespace sluice::internal
