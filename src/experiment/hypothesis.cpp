#include "experiment/hypothesis.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "experiment/metric_catalog.hpp"

namespace syschaos::experiment {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The operator and where it sits; braces are skipped so that nothing inside {…} can be taken
// for one.
struct OperatorMatch {
  size_t position = std::string_view::npos;
  size_t length = 0;
  Comparison comparison = Comparison::less_equal;
};

Result<OperatorMatch> find_operator(std::string_view text) {
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    // ≤ and ≥ (UTF-8), as people paste them from documents.
    if (depth == 0 && text.substr(i, 3) == "\xe2\x89\xa4") return OperatorMatch{i, 3, Comparison::less_equal};
    if (depth == 0 && text.substr(i, 3) == "\xe2\x89\xa5")
      return OperatorMatch{i, 3, Comparison::greater_equal};
    if (c == '{') ++depth;
    if (c == '}') --depth;
    if (depth > 0) continue;
    char next = i + 1 < text.size() ? text[i + 1] : '\0';
    auto match = [&](size_t len, Comparison cmp) -> Result<OperatorMatch> {
      return OperatorMatch{i, len, cmp};
    };
    switch (c) {
      case '<': return next == '=' ? match(2, Comparison::less_equal) : match(1, Comparison::less);
      case '>':
        return next == '=' ? match(2, Comparison::greater_equal) : match(1, Comparison::greater);
      case '=':
        if (next == '=') return match(2, Comparison::equal);
        if (next == '<' || next == '>')
          return Error(fmt::format("operator '={}' is not known (write {}=)", next, next));
        return Error("operator '=' is not known (write == to compare)");
      case '!':
        if (next == '=') return match(2, Comparison::not_equal);
        return Error("operator '!' is not known (write != to compare)");
      default: break;
    }
  }
  return OperatorMatch{};
}

std::optional<double> parse_number(std::string_view text, size_t& used) {
  double value = 0;
  const char* begin = text.data();
  if (!text.empty() && text.front() == '+') ++begin;  // from_chars refuses a leading '+'
  auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
  if (ec != std::errc() || !std::isfinite(value)) return std::nullopt;
  used = static_cast<size_t>(end - text.data());
  return value;
}

// The factor that converts a value written with `unit` into the metric's own unit; nullopt
// when the unit does not fit the metric.
std::optional<double> unit_factor(MetricUnit metric_unit, std::string_view unit) {
  std::string u = lower(unit);
  if (u.empty()) return 1.0;
  switch (metric_unit) {
    case MetricUnit::ratio:
      if (u == "%") return 0.01;
      break;
    case MetricUnit::seconds:
      if (u == "ns") return 1e-9;
      if (u == "us" || u == "\xc2\xb5s") return 1e-6;
      if (u == "ms") return 1e-3;
      if (u == "s" || u == "sec") return 1.0;
      if (u == "m" || u == "min") return 60.0;
      break;
    case MetricUnit::per_second:
      if (u == "/s") return 1.0;
      if (u == "/min" || u == "/m") return 1.0 / 60;
      break;
    case MetricUnit::bytes:
      if (u == "b") return 1.0;
      if (u == "kb") return 1e3;
      if (u == "mb") return 1e6;
      if (u == "gb") return 1e9;
      if (u == "kib") return 1024.0;
      if (u == "mib") return 1024.0 * 1024;
      if (u == "gib") return 1024.0 * 1024 * 1024;
      break;
    case MetricUnit::cores:
      if (u == "cores" || u == "core") return 1.0;
      break;
    case MetricUnit::count:
    case MetricUnit::boolean:
    case MetricUnit::exit_code: break;
  }
  return std::nullopt;
}

const char* units_accepted(MetricUnit unit) {
  switch (unit) {
    case MetricUnit::ratio: return "a ratio: write 0.99 or 99%";
    case MetricUnit::seconds: return "seconds: write 0.2, 200ms, 1.5s, 500us, 2m";
    case MetricUnit::per_second: return "per second: write 100 or 100/s";
    case MetricUnit::bytes: return "bytes: write 512MiB, 1GB, 1048576";
    case MetricUnit::cores: return "CPU cores: write 0.5";
    case MetricUnit::count: return "a count: a plain number";
    case MetricUnit::boolean: return "a boolean: true, false, 1 or 0";
    case MetricUnit::exit_code: return "an exit code: a plain number";
  }
  return "";
}

Result<double> parse_absolute(std::string_view text, const MetricRef& metric) {
  const MetricUnit unit = metric.info->unit;
  if (unit == MetricUnit::boolean) {
    std::string v = lower(text);
    if (v == "true" || v == "yes" || v == "1") return 1.0;
    if (v == "false" || v == "no" || v == "0") return 0.0;
    return Error(fmt::format("'{}' is not a value for {} ({})", text, metric.name(),
                             units_accepted(unit)));
  }
  size_t used = 0;
  auto number = parse_number(text, used);
  if (!number) return Error(fmt::format("'{}' is not a number", text));
  std::string_view suffix = trim(text.substr(used));
  auto factor = unit_factor(unit, suffix);
  if (!factor)
    return Error(fmt::format("unit '{}' does not fit {} ({})", suffix, metric.name(),
                             units_accepted(unit)));
  return *number * *factor;
}

// "2x baseline", "2 x baseline", "2*baseline", "1.5×baseline", "baseline". nullopt when the
// text does not end with "baseline".
Result<std::optional<double>> parse_relative(std::string_view text) {
  constexpr std::string_view kBaseline = "baseline";
  std::string low = lower(text);
  if (!std::string_view(low).ends_with(kBaseline)) {
    if (low.find(kBaseline) != std::string::npos)
      return Error(fmt::format("'{}': a relative bound is written 'Nx baseline' (e.g. 2x baseline)",
                               text));
    return std::optional<double>{};
  }
  std::string_view factor_text = trim(text.substr(0, text.size() - kBaseline.size()));
  if (factor_text.empty()) return std::optional<double>{1.0};
  if (factor_text.ends_with("\xc3\x97"))  // ×
    factor_text.remove_suffix(2);
  else if (factor_text.back() == 'x' || factor_text.back() == 'X' || factor_text.back() == '*')
    factor_text.remove_suffix(1);
  else
    return Error(fmt::format("'{}': a relative bound is written 'Nx baseline' (e.g. 2x baseline)",
                             text));
  factor_text = trim(factor_text);
  size_t used = 0;
  auto factor = parse_number(factor_text, used);
  if (!factor || used != factor_text.size())
    return Error(fmt::format("'{}' is not a number (in '{}')", factor_text, text));
  if (*factor < 0) return Error(fmt::format("'{}': the factor must not be negative", text));
  return std::optional<double>{*factor};
}

}  // namespace

const char* comparison_symbol(Comparison comparison) {
  switch (comparison) {
    case Comparison::less: return "<";
    case Comparison::less_equal: return "<=";
    case Comparison::greater: return ">";
    case Comparison::greater_equal: return ">=";
    case Comparison::equal: return "==";
    case Comparison::not_equal: return "!=";
  }
  return "?";
}

bool compare(double value, Comparison comparison, double bound) {
  const bool same =
      std::fabs(value - bound) <= 1e-9 * std::max({1.0, std::fabs(value), std::fabs(bound)});
  switch (comparison) {
    case Comparison::less: return value < bound && !same;
    case Comparison::less_equal: return value <= bound || same;
    case Comparison::greater: return value > bound && !same;
    case Comparison::greater_equal: return value >= bound || same;
    case Comparison::equal: return same;
    case Comparison::not_equal: return !same;
  }
  return false;
}

Result<Threshold> parse_threshold(const std::string& raw) {
  std::string_view text = trim(raw);
  auto fail = [&](const Error& e) { return e.context(fmt::format("threshold '{}'", text)); };
  if (text.empty()) return Error("empty threshold");
  auto op = find_operator(text);
  if (!op) return fail(op.error());

  Threshold threshold;
  threshold.text = std::string(text);
  if (op->position == std::string_view::npos) {
    // A metric alone: only a boolean says something by itself ("process.alive").
    auto metric = parse_metric(text);
    if (!metric) return fail(metric.error());
    if (metric->info->unit != MetricUnit::boolean)
      return fail(Error(fmt::format(
          "{} is not a boolean metric; give a bound, e.g. '{} <= 2x baseline'", metric->name(),
          metric->name())));
    threshold.metric = metric->name();
    threshold.comparison = Comparison::equal;
    threshold.value = 1;
    return threshold;
  }

  std::string_view left = trim(text.substr(0, op->position));
  std::string_view right = trim(text.substr(op->position + op->length));
  if (left.empty()) return fail(Error("no metric before the operator"));
  if (right.empty()) return fail(Error("no value after the operator"));
  if (right.front() == '=' || right.front() == '<' || right.front() == '>')
    return fail(Error(fmt::format("operator '{}{}' is not known", text.substr(op->position, op->length),
                                  right.front())));
  auto metric = parse_metric(left);
  if (!metric) return fail(metric.error());
  threshold.metric = metric->name();
  threshold.comparison = op->comparison;

  auto relative = parse_relative(right);
  if (!relative) return fail(relative.error());
  if (*relative) {
    if (metric->info->whole_run || metric->info->unit == MetricUnit::boolean)
      return fail(Error(fmt::format("{} cannot be compared with the baseline (write an absolute "
                                    "value)", metric->name())));
    threshold.value = **relative;
    threshold.relative_to_baseline = true;
    return threshold;
  }
  auto value = parse_absolute(right, *metric);
  if (!value) return fail(value.error());
  threshold.value = *value;
  return threshold;
}

Result<Hypothesis> parse_hypothesis(const std::vector<std::string>& texts) {
  Hypothesis hypothesis;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto threshold = parse_threshold(texts[i]);
    if (!threshold) return threshold.error().context(fmt::format("hypothesis {}", i + 1));
    hypothesis.thresholds.push_back(std::move(*threshold));
  }
  return hypothesis;
}

}  // namespace syschaos::experiment
