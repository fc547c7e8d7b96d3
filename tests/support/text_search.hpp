// Test support: counting what a generated document (HTML, SVG) contains.
#pragma once

#include <cstddef>
#include <string>

namespace syschaos::testing {

// How many times `needle` occurs in `text`, overlapping occurrences included.
inline size_t count_occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

}  // namespace syschaos::testing
