#include "fs/delayed_reply_queue.hpp"

namespace syschaos::fs {

DelayedReplyQueue::DelayedReplyQueue(unsigned executors) {
  if (executors == 0) executors = 1;
  timer_ = std::thread([this] { timer_loop(); });
  for (unsigned i = 0; i < executors; ++i) executors_.emplace_back([this] { executor_loop(); });
}

DelayedReplyQueue::~DelayedReplyQueue() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    while (!heap_.empty()) {
      ready_.push_back(std::move(heap_.top().task));
      heap_.pop();
    }
  }
  timer_cv_.notify_all();
  ready_cv_.notify_all();
  timer_.join();
  for (auto& t : executors_) t.join();  // executors drain ready_ before leaving
}

void DelayedReplyQueue::schedule(Clock::time_point when, Task task) {
  bool earliest;
  {
    std::lock_guard lk(mu_);
    if (stopping_) {
      ready_.push_back(std::move(task));
      ready_cv_.notify_one();
      return;
    }
    earliest = heap_.empty() || when < heap_.top().when;
    heap_.push(Item{when, seq_++, std::move(task)});
  }
  if (earliest) timer_cv_.notify_one();
}

void DelayedReplyQueue::flush() {
  {
    std::lock_guard lk(mu_);
    while (!heap_.empty()) {
      ready_.push_back(std::move(heap_.top().task));
      heap_.pop();
    }
  }
  ready_cv_.notify_all();
}

size_t DelayedReplyQueue::pending() const {
  std::lock_guard lk(mu_);
  return heap_.size() + ready_.size() + running_;
}

void DelayedReplyQueue::timer_loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    if (heap_.empty()) {
      timer_cv_.wait(lk);
      continue;
    }
    auto now = Clock::now();
    bool moved = false;
    while (!heap_.empty() && heap_.top().when <= now) {
      ready_.push_back(std::move(heap_.top().task));
      heap_.pop();
      moved = true;
    }
    if (moved) ready_cv_.notify_all();
    if (!heap_.empty()) timer_cv_.wait_until(lk, heap_.top().when);
  }
}

void DelayedReplyQueue::executor_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    ready_cv_.wait(lk, [&] { return stopping_ || !ready_.empty(); });
    if (ready_.empty()) {
      if (stopping_) return;
      continue;
    }
    Task t = std::move(ready_.front());
    ready_.pop_front();
    ++running_;
    lk.unlock();
    t();
    lk.lock();
    --running_;
  }
}

}  // namespace syschaos::fs
