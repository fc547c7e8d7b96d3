#include "core/duration.hpp"

#include <cmath>
#include <cstdlib>

namespace syschaos {

namespace {

// Nanoseconds per unit; nullopt-like 0 for an unknown unit.
double unit_scale(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "µs") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m" || unit == "min") return 60e9;
  if (unit == "h") return 3600e9;
  return 0;
}

}  // namespace

Result<Nanos> parse_duration(std::string_view text, std::string_view default_unit) {
  std::string s(text);
  if (s.empty()) return Error("empty duration");
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(begin, &end);
  if (end == begin || errno != 0 || !std::isfinite(value))
    return Error(fmt::format("invalid duration '{}'", text));
  if (value < 0) return Error(fmt::format("negative duration '{}'", text));
  std::string_view unit(end);
  if (unit.empty()) unit = default_unit;
  double scale = unit_scale(unit);
  if (scale == 0)
    return Error(fmt::format("invalid duration '{}': unknown unit '{}' (use ns, us, ms, s, m, h)",
                             text, unit));
  double ns = value * scale;
  if (ns > 9.2e18) return Error(fmt::format("duration '{}' is too long", text));
  return Nanos(static_cast<int64_t>(std::llround(ns)));
}

std::string format_duration(Nanos d) {
  auto ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 1'000'000'000 == 0) return fmt::format("{}s", ns / 1'000'000'000);
  if (ns >= 1'000'000'000) return fmt::format("{:g}s", ns / 1e9);
  if (ns % 1'000'000 == 0) return fmt::format("{}ms", ns / 1'000'000);
  if (ns >= 1'000'000) return fmt::format("{:g}ms", ns / 1e6);
  if (ns % 1'000 == 0) return fmt::format("{}us", ns / 1'000);
  return fmt::format("{}ns", ns);
}

}  // namespace syschaos
