// Numbers and words out of text: /proc and cgroup files, rule strings. One definition of
// "the whole field is a number" so that no parser accepts "12kB" as 12 where another refuses it.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

namespace syschaos {

// The whole of `text` as a T (decimal; no sign for unsigned types, no leading '+', no space,
// nothing left over), or nullopt. Floating-point T accepts what std::from_chars does.
template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The parts of `text` between separators, empty ones included ("a,,b" -> "a", "", "b";
// "" -> one empty part).
inline std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

// The words of `text`, separated by any run of spaces, tabs and newlines (the layout of
// /proc/net/dev, /proc/PID/stat and io, cgroup stat files); empty words are not returned.
inline std::vector<std::string_view> split_words(std::string_view text) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n'; };
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && blank(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !blank(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

}  // namespace syschaos
