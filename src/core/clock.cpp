#include "core/clock.hpp"

#include <time.h>

#include <algorithm>
#include <thread>

namespace syschaos {

double unix_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

bool sleep_until_unless_stopped(std::chrono::steady_clock::time_point until,
                                const std::atomic<bool>* stop) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kStep = std::chrono::milliseconds(50);
  while (Clock::now() < until) {
    if (stop && stop->load()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(kStep, until - Clock::now()));
  }
  return !(stop && stop->load());
}

}  // namespace syschaos
