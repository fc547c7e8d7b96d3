#include "fs/blocking_call_threads.hpp"

#include <signal.h>

#include <chrono>

namespace syschaos::fs {

void BlockingCallThreads::run(std::function<void()> job) {
  std::lock_guard lk(mu_);
  // Threads that finished are joined here, so the list holds only live waiters and a few
  // just-finished ones.
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->done.load()) {
      it->thread.join();
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  Waiter& w = waiters_.emplace_back();
  int sig = wake_signal_;
  w.thread = std::thread([&w, sig, job = std::move(job)] {
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, sig);
    ::pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
    job();
    w.done.store(true);
  });
}

size_t BlockingCallThreads::waiting() const {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (const auto& w : waiters_)
    if (!w.done.load()) ++n;
  return n;
}

BlockingCallThreads::~BlockingCallThreads() {
  stopping_.store(true);
  std::lock_guard lk(mu_);
  // A signal sent just before a thread enters its call is not seen by that call: sent again
  // until every thread is out.
  for (;;) {
    bool any = false;
    for (auto& w : waiters_) {
      if (w.done.load()) continue;
      any = true;
      ::pthread_kill(w.thread.native_handle(), wake_signal_);
    }
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (auto& w : waiters_) w.thread.join();
}

}  // namespace syschaos::fs
