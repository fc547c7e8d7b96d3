#include "observe/cgroup_stat_files.hpp"

#include <vector>

#include "core/text_fields.hpp"

namespace syschaos {

namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::string_view line : split(text, '\n')) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Adds without wrapping: a sum of per-device counters cannot meaningfully exceed 2^64, and
// a wrapped value would look like a counter reset downstream.
uint64_t saturating_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

}  // namespace

Result<std::map<std::string, uint64_t, std::less<>>> parse_flat_keyed(std::string_view text) {
  std::map<std::string, uint64_t, std::less<>> values;
  for (std::string_view line : lines_of(text)) {
    auto words = split_words(line);
    if (words.size() != 2) return Error(fmt::format("malformed line '{}' (want KEY VALUE)", line));
    // Some kernels print signed values in memory.stat (e.g. a transiently negative per-cpu
    // sum clamped elsewhere); a key whose value is not an unsigned number is skipped rather
    // than failing the whole file, since the sampler reads only a few known keys.
    if (auto value = parse_number<uint64_t>(words[1])) values.emplace(std::string(words[0]), *value);
  }
  return values;
}

Result<std::optional<uint64_t>> parse_single_value(std::string_view text) {
  auto lines = lines_of(text);
  if (lines.size() != 1) return Error(fmt::format("want one value, got {} lines", lines.size()));
  if (lines[0] == "max") return std::optional<uint64_t>();
  auto value = parse_number<uint64_t>(lines[0]);
  if (!value) return Error(fmt::format("not a number: '{}'", lines[0]));
  return std::optional<uint64_t>(*value);
}

std::optional<uint64_t> v1_memory_limit(uint64_t value) {
  if (value >= (uint64_t{1} << 62)) return std::nullopt;
  return value;
}

Result<IoBytes> parse_io_stat(std::string_view text) {
  IoBytes total;
  for (std::string_view line : lines_of(text)) {
    auto words = split_words(line);
    if (words.empty() || words[0].find(':') == std::string_view::npos)
      return Error(fmt::format("malformed io.stat line '{}'", line));
    for (size_t i = 1; i < words.size(); ++i) {
      size_t eq = words[i].find('=');
      if (eq == std::string_view::npos)
        return Error(fmt::format("malformed io.stat field '{}'", words[i]));
      std::string_view key = words[i].substr(0, eq);
      if (key != "rbytes" && key != "wbytes") continue;
      auto value = parse_number<uint64_t>(words[i].substr(eq + 1));
      if (!value) return Error(fmt::format("malformed io.stat field '{}'", words[i]));
      uint64_t& sum = key == "rbytes" ? total.read : total.write;
      sum = saturating_add(sum, *value);
    }
  }
  return total;
}

Result<IoBytes> parse_blkio_service_bytes(std::string_view text) {
  IoBytes total;
  for (std::string_view line : lines_of(text)) {
    auto words = split_words(line);
    if (words.size() == 2 && words[0] == "Total") continue;
    if (words.size() != 3 || words[0].find(':') == std::string_view::npos)
      return Error(fmt::format("malformed blkio line '{}'", line));
    auto value = parse_number<uint64_t>(words[2]);
    if (!value) return Error(fmt::format("malformed blkio line '{}'", line));
    if (words[1] == "Read") total.read = saturating_add(total.read, *value);
    if (words[1] == "Write") total.write = saturating_add(total.write, *value);
  }
  return total;
}

}  // namespace syschaos
