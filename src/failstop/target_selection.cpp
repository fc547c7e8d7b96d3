#include "failstop/target_selection.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

namespace syschaos::failstop {

namespace {

Result<double> parse_number(std::string_view text, std::string_view what) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
    return Error(fmt::format("bad {} '{}'", what, text));
  return v;
}

Result<double> parse_percent(std::string_view text) {
  if (!text.ends_with('%')) return Error(fmt::format("bad percent '{}' (want e.g. 30%)", text));
  auto v = parse_number(text.substr(0, text.size() - 1), "percent");
  if (!v) return v.error();
  if (*v <= 0 || *v > 100) return Error(fmt::format("percent must be in (0, 100], not {}", text));
  return v;
}

size_t percent_of(size_t n, double percent) {
  return std::max<size_t>(1, static_cast<size_t>(std::floor(static_cast<double>(n) * percent / 100.0 + 1e-9)));
}

}  // namespace

std::string Selection::to_string() const {
  switch (kind) {
    case Kind::kAll: return "all";
    case Kind::kOne: return "one";
    case Kind::kCount: return fmt::format("{}", static_cast<size_t>(value));
    case Kind::kPercent: return fmt::format("{}%", value);
    case Kind::kRandomPercent: return fmt::format("random:{}%", value);
  }
  return "?";
}

Result<Selection> parse_selection(std::string_view text) {
  if (text == "all") return Selection{Selection::Kind::kAll, 0};
  if (text == "one") return Selection{Selection::Kind::kOne, 1};
  if (text.starts_with("random:")) {
    auto p = parse_percent(text.substr(7));
    if (!p) return p.error().context("--select");
    return Selection{Selection::Kind::kRandomPercent, *p};
  }
  if (text.ends_with('%')) {
    auto p = parse_percent(text);
    if (!p) return p.error().context("--select");
    return Selection{Selection::Kind::kPercent, *p};
  }
  size_t count = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (ec != std::errc() || end != text.data() + text.size() || count == 0)
    return Error(fmt::format("--select must be all, one, N, P% or random:P%, not '{}'", text));
  return Selection{Selection::Kind::kCount, static_cast<double>(count)};
}

Result<std::vector<size_t>> select_targets(size_t n, const Selection& selection, Rng& rng) {
  if (n == 0) return std::vector<size_t>{};
  size_t want = n;
  switch (selection.kind) {
    case Selection::Kind::kAll: want = n; break;
    case Selection::Kind::kOne: want = 1; break;
    case Selection::Kind::kCount:
      want = static_cast<size_t>(selection.value);
      if (want > n) return Error(fmt::format("--select {} but there are only {} targets", want, n));
      break;
    case Selection::Kind::kPercent: want = percent_of(n, selection.value); break;
    case Selection::Kind::kRandomPercent: want = 1 + rng.below(percent_of(n, selection.value)); break;
  }
  // Partial Fisher-Yates: the first `want` slots are a uniform sample.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = 0; i < want && want < n; ++i) std::swap(order[i], order[i + rng.below(n - i)]);
  order.resize(want);
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace syschaos::failstop
