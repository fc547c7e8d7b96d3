#include "core/fault_parser.hpp"

#include <charconv>
#include <cmath>

#include "core/errno_names.hpp"
#include "core/text_fields.hpp"

namespace syschaos {

Result<void> apply_fault_key(FaultRule& rule, std::string_view key, std::string_view value,
                             bool& saw_error) {
  auto& a = rule.action;
  if (key == "error") {
    if (saw_error) return Error("only one error= per rule (use error=EIO*3|EINTR for several)");
    auto errs = parse_weighted_errnos(value);
    if (!errs) return errs.error();
    a.errors = std::move(*errs);
    saw_error = true;
  } else if (key == "retval") {
    auto v = parse_retval(value);
    if (!v) return v.error();
    a.retval = *v;
  } else if (key == "signal") {
    auto sig = parse_signal(value);
    if (!sig) return sig.error();
    a.signal = *sig;
  } else if (key == "syscall") {
    auto pure = SyscallTable::native().parse_set("%pure");
    auto nr = SyscallTable::native().number(value);
    if (!nr) return Error(fmt::format("unknown syscall '{}' in syscall=", value));
    if (!pure->test(*nr))
      return Error(fmt::format("syscall={} is not a pure syscall (see %pure); only those can "
                               "stand in for the injected call", value));
    a.substitute_nr = *nr;
  } else if (key == "delay_enter" || key == "delay_exit") {
    auto d = parse_duration(value, "us");
    if (!d) return d.error().context(key);
    (key == "delay_enter" ? a.delay_enter : a.delay_exit) = *d;
  } else if (key == "poke_enter" || key == "poke_exit") {
    auto pokes = parse_pokes(value);
    if (!pokes) return pokes.error().context(key);
    (key == "poke_enter" ? a.poke_enter : a.poke_exit) = std::move(*pokes);
  } else if (key == "when") {
    auto w = parse_when(value);
    if (!w) return w.error();
    rule.when = *w;
  } else if (key == "prob" || key == "probability") {
    auto p = parse_probability(value);
    if (!p) return p.error();
    rule.probability = *p;
  } else if (key == "max") {
    auto n = parse_count(value, "max");
    if (!n) return n.error();
    rule.max_hits = *n;
  } else if (key == "after") {
    auto d = parse_duration(value, "s");
    if (!d) return d.error().context("after");
    rule.start_after = *d;
  } else if (key == "for") {
    auto d = parse_duration(value, "s");
    if (!d) return d.error().context("for");
    if (d->count() == 0) return Error("for= must be longer than 0");
    rule.active_for = *d;
  } else if (key == "path") {
    if (value.empty()) return Error("path= needs a glob");
    rule.filters.path_globs.emplace_back(value);
  } else if (key == "fd") {
    return parse_fd_filter(value, rule.filters);
  } else if (key == "comm") {
    if (value.empty()) return Error("comm= needs a name or glob");
    rule.filters.comm_globs.emplace_back(value);
  } else {
    return Error(fmt::format("unknown key '{}' (known: error, retval, signal, syscall, delay_enter, "
                             "delay_exit, poke_enter, poke_exit, when, prob, max, after, for, "
                             "path, fd, comm)", key));
  }
  return ok();
}

std::string WhenTrigger::describe() const {
  std::string out = std::to_string(first);
  if (last != UINT64_MAX && last != first) out += ".." + std::to_string(last);
  if (last == first) return out;
  out += "+";
  if (step != 1) out += std::to_string(step);
  return out;
}

std::optional<FdKind> parse_fd_kind(std::string_view name) {
  static constexpr std::pair<std::string_view, FdKind> kinds[] = {
      {"file", FdKind::file}, {"dir", FdKind::dir},   {"socket", FdKind::socket},
      {"pipe", FdKind::pipe}, {"fifo", FdKind::pipe}, {"char", FdKind::chr},
      {"block", FdKind::blk}, {"anon", FdKind::anon}};
  for (auto [n, k] : kinds)
    if (n == name) return k;
  return std::nullopt;
}

std::string_view fd_kind_name(FdKind kind) {
  switch (kind) {
    case FdKind::file: return "file";
    case FdKind::dir: return "dir";
    case FdKind::socket: return "socket";
    case FdKind::pipe: return "pipe";
    case FdKind::chr: return "char";
    case FdKind::blk: return "block";
    case FdKind::anon: return "anon";
    case FdKind::unknown: break;
  }
  return "unknown";
}

std::string FaultAction::describe(int chosen_err) const {
  std::vector<std::string> parts;
  if (chosen_err) {
    parts.push_back("error=" + errno_name(chosen_err));
  } else if (!errors.empty()) {
    std::string e = "error=";
    for (size_t i = 0; i < errors.size(); ++i) {
      if (i) e += "|";
      e += errno_name(errors[i].err);
      if (errors.size() > 1 && errors[i].weight != 1) e += "*" + std::to_string(errors[i].weight);
    }
    parts.push_back(e);
  }
  if (retval) parts.push_back(fmt::format("retval={}", *retval));
  if (signal) parts.push_back("signal=" + signal_name(signal));
  if (delay_enter.count()) parts.push_back("delay_enter=" + format_duration(delay_enter));
  if (delay_exit.count()) parts.push_back("delay_exit=" + format_duration(delay_exit));
  if (!poke_enter.empty()) parts.push_back("poke_enter");
  if (!poke_exit.empty()) parts.push_back("poke_exit");
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? ":" : "") + parts[i];
  return out;
}

Result<std::vector<WeightedErrno>> parse_weighted_errnos(std::string_view text) {
  std::vector<WeightedErrno> out;
  if (text.empty()) return Error("error= needs an errno");
  for (auto part : split(text, '|')) {
    WeightedErrno w;
    auto star = part.find('*');
    if (star != part.npos) {
      auto weight = parse_number<unsigned>(part.substr(star + 1));
      if (!weight || *weight == 0)
        return Error(fmt::format("invalid weight in '{}': use ERRNO*N with N >= 1", part));
      w.weight = *weight;
      part = part.substr(0, star);
    }
    auto err = parse_errno(part);
    if (!err) return err.error();
    w.err = *err;
    out.push_back(w);
  }
  return out;
}

Result<WhenTrigger> parse_when(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error(fmt::format("invalid when='{}': {} (form: first[..last][+[step]])", text, why));
  };
  WhenTrigger w;
  std::string_view s = text;
  size_t plus = s.find('+');
  std::string_view range = s.substr(0, plus);
  size_t dots = range.find("..");
  auto first = parse_number<uint64_t>(range.substr(0, dots));
  if (!first || *first == 0) return bad("first must be a number >= 1");
  w.first = *first;
  if (dots != range.npos) {
    auto last = parse_number<uint64_t>(range.substr(dots + 2));
    if (!last || *last < w.first) return bad("last must be a number >= first");
    w.last = *last;
  } else if (plus == s.npos) {
    w.last = w.first;  // "N": the N-th call only
  }
  if (plus != s.npos) {
    std::string_view step = s.substr(plus + 1);
    if (!step.empty()) {
      auto st = parse_number<uint64_t>(step);
      if (!st || *st == 0) return bad("step must be a number >= 1");
      w.step = *st;
    }
  }
  return w;
}

Result<double> parse_probability(std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  double p = std::strtod(s.c_str(), &end);
  bool percent = end && *end == '%' && end[1] == '\0';
  if (end == s.c_str() || (!percent && *end != '\0') || !std::isfinite(p))
    return Error(fmt::format("invalid probability '{}': use a number in 0..1 or a percentage", text));
  if (percent) p /= 100.0;
  if (p < 0 || p > 1) return Error(fmt::format("probability '{}' is outside 0..1", text));
  return p;
}

Result<uint64_t> parse_count(std::string_view text, std::string_view what) {
  auto n = parse_number<uint64_t>(text);
  if (!n || *n == 0) return Error(fmt::format("invalid {}='{}': must be a whole number >= 1", what, text));
  return *n;
}

Result<int64_t> parse_retval(std::string_view text) {
  auto v = parse_number<int64_t>(text);
  if (!v) {
    // strace accepts hexadecimal too.
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
      uint64_t u = 0;
      auto [p, ec] = std::from_chars(text.data() + 2, text.data() + text.size(), u, 16);
      if (ec == std::errc() && p == text.data() + text.size()) return static_cast<int64_t>(u);
    }
    return Error(fmt::format("invalid retval '{}': must be an integer", text));
  }
  return *v;
}

Result<std::vector<Poke>> parse_pokes(std::string_view text) {
  std::vector<Poke> out;
  for (auto item : split(text, ',')) {
    // @argN=HEX
    if (item.rfind("@arg", 0) != 0) return Error(fmt::format("invalid poke '{}': use @argN=HEX", item));
    auto eq = item.find('=');
    if (eq == item.npos) return Error(fmt::format("invalid poke '{}': use @argN=HEX", item));
    auto n = parse_number<int>(item.substr(4, eq - 4));
    if (!n || *n < 1 || *n > 7) return Error(fmt::format("invalid poke argument in '{}': @arg1..@arg7", item));
    std::string_view hex = item.substr(eq + 1);
    if (hex.empty() || hex.size() % 2 || hex.size() > 2048)
      return Error(fmt::format("invalid poke data in '{}': an even number of hex digits", item));
    Poke p;
    p.arg = *n - 1;
    for (size_t i = 0; i < hex.size(); i += 2) {
      uint8_t byte = 0;
      auto [ptr, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, byte, 16);
      if (ec != std::errc() || ptr != hex.data() + i + 2)
        return Error(fmt::format("invalid poke data in '{}': not hexadecimal", item));
      p.data.push_back(byte);
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<void> parse_fd_filter(std::string_view text, FaultFilters& filters) {
  for (auto item : split(text, '|')) {
    for (auto sub : split(item, ',')) {
      if (auto kind = parse_fd_kind(sub)) {
        filters.fd_kinds.push_back(*kind);
      } else if (auto n = parse_number<int>(sub); n && *n >= 0) {
        filters.fd_numbers.push_back(*n);
      } else {
        return Error(fmt::format("invalid fd filter '{}': use file, dir, socket, pipe, char, "
                                 "block, anon or an fd number", sub));
      }
    }
  }
  return ok();
}

Result<void> validate_rule(const FaultRule& rule) {
  if (rule.syscalls.none()) return Error("the rule's syscall set is empty");
  const auto& a = rule.action;
  if (!a.errors.empty() && a.retval) return Error("error= and retval= are mutually exclusive");
  if (a.empty()) return Error("no action: give error=, retval=, signal=, delay_enter=, delay_exit=, poke_enter= or poke_exit=");
  if (a.substitute_nr && !a.replaces_call())
    return Error("syscall= only makes sense with error= or retval=");
  if (!rule.filters.path_globs.empty()) {
    const auto& table = SyscallTable::native();
    for (int nr = 0; nr <= table.max_nr(); ++nr)
      if (rule.syscalls.test(nr) && !table.args(nr).has_path())
        return Error(fmt::format("path= filter, but {} takes no path (path= applies to calls such "
                                 "as openat, stat, execve; see %file)", table.name(nr)));
  }
  if (!rule.filters.fd_kinds.empty() || !rule.filters.fd_numbers.empty()) {
    const auto& table = SyscallTable::native();
    for (int nr = 0; nr <= table.max_nr(); ++nr)
      if (rule.syscalls.test(nr) && table.args(nr).fd < 0)
        return Error(fmt::format("fd= filter, but {} takes no file descriptor (see %desc, %net)",
                                 table.name(nr)));
  }
  return ok();
}

Result<FaultRule> parse_fault(std::string_view text) {
  auto fail = [&](const Error& e) { return Error(fmt::format("fault '{}': {}", text, e.message())); };
  std::string_view s = text;
  bool fault_form = false;
  if (s.rfind("inject=", 0) == 0) {
    s.remove_prefix(7);
  } else if (s.rfind("fault=", 0) == 0) {
    s.remove_prefix(6);
    fault_form = true;
  }
  auto parts = split(s, ':');
  FaultRule rule;
  rule.source = std::string(text);
  auto set = SyscallTable::native().parse_set(parts[0]);
  if (!set) return fail(set.error());
  rule.syscalls = *set;
  bool saw_error = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    auto eq = parts[i].find('=');
    if (eq == parts[i].npos) return fail(Error(fmt::format("'{}' is not key=value", parts[i])));
    auto r = apply_fault_key(rule, parts[i].substr(0, eq), parts[i].substr(eq + 1), saw_error);
    if (!r) return fail(r.error());
  }
  if (fault_form && rule.action.errors.empty() && !rule.action.retval)
    rule.action.errors.push_back({ENOSYS, 1});
  if (auto v = validate_rule(rule); !v) return fail(v.error());
  return rule;
}

}  // namespace syschaos
