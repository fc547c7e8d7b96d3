// DelayedReplyQueue: runs a task after a delay without holding the FUSE worker that received
// the request. One timer thread keeps a deadline heap; tasks that are due go to a small pool
// of executor threads (they do the file operation and reply), so a slow backing operation
// does not delay the timer for the other requests. With 50% of requests delayed 10 ms the
// mean cost is ~5 ms: the undelayed half never waits behind the delayed half.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace syschaos::fs {

class DelayedReplyQueue {
 public:
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void()>;

  explicit DelayedReplyQueue(unsigned executors);
  ~DelayedReplyQueue();  // runs everything still pending at once, then joins
  DelayedReplyQueue(const DelayedReplyQueue&) = delete;
  DelayedReplyQueue& operator=(const DelayedReplyQueue&) = delete;

  void schedule(Clock::time_point when, Task task);
  // Makes every pending task due now (used at unmount: no request stays unanswered).
  void flush();
  size_t pending() const;

 private:
  struct Item {
    Clock::time_point when;
    uint64_t seq;
    mutable Task task;
    bool operator>(const Item& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  void timer_loop();
  void executor_loop();

  mutable std::mutex mu_;
  std::condition_variable timer_cv_, ready_cv_;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap_;
  std::deque<Task> ready_;
  uint64_t seq_ = 0;
  bool stopping_ = false;
  size_t running_ = 0;
  std::thread timer_;
  std::vector<std::thread> executors_;
};

}  // namespace syschaos::fs
