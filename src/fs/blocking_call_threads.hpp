// BlockingCallThreads: runs system calls that may block for an unbounded time (a flock(2)
// waiting for another process's lock) on threads of their own, never on a FUSE worker.
//
// The FUSE workers are a fixed pool: were they to wait for locks, as many waiters as workers
// would leave no worker to serve anything else, including the LOCK_UN that ends the wait: the
// whole mount would hang. Each blocking call here gets a thread for as long as it waits.
// At destruction every thread still waiting is interrupted with `wake_signal` (a handler
// that does nothing, installed without SA_RESTART, so the call returns EINTR) and joined;
// its job sees stopping() and answers.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace syschaos::fs {

class BlockingCallThreads {
 public:
  explicit BlockingCallThreads(int wake_signal) : wake_signal_(wake_signal) {}
  ~BlockingCallThreads();
  BlockingCallThreads(const BlockingCallThreads&) = delete;
  BlockingCallThreads& operator=(const BlockingCallThreads&) = delete;

  // Runs job on a new thread. The job must answer its request whatever happens, and must
  // give up (answer EINTR) when its call returns EINTR and stopping() is true.
  void run(std::function<void()> job);
  bool stopping() const { return stopping_.load(); }
  size_t waiting() const;

 private:
  struct Waiter {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  int wake_signal_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::list<Waiter> waiters_;  // a list: elements stay put while their threads run
};

}  // namespace syschaos::fs
