// LiveView: the top-like terminal view of `syschaos monitor`. On a terminal it redraws in
// place each interval; otherwise (a pipe, a log file) it prints one block per interval.
#pragma once

#include <cstdio>
#include <string>

#include "observe/monitor.hpp"

namespace syschaos::cli {

class LiveView final : public IntervalSink {
 public:
  LiveView(std::FILE* out, std::string title, size_t max_rows = 15);
  void on_interval(const Interval& interval) override;
  // The text of one frame; separated out so it can be tested.
  static std::string render(const Interval& interval, const std::string& title, size_t max_rows);

 private:
  std::FILE* out_;
  std::string title_;
  size_t max_rows_;
  bool tty_;
};

std::string human_bytes(double bytes);
std::string human_ns(double ns);

}  // namespace syschaos::cli
