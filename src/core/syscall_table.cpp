#include "core/syscall_table.hpp"

#include <seccomp.h>

#include <cstdlib>
#include <regex>

#include "core/syscall_classes.hpp"

namespace syschaos {

SyscallTable::SyscallTable() {
  for (int nr = 0; nr < kMaxSyscallNr; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (!name) continue;
    if (names_.size() <= static_cast<size_t>(nr)) names_.resize(nr + 1);
    names_[nr] = name;
    std::free(name);
  }
  args_.resize(names_.size());
  // Calls of the fd classes work on the fd in their first argument unless a spec says more.
  for (const auto& cls : syscall_data::classes()) {
    if (cls.name != "%desc" && cls.name != "%net") continue;
    for (auto call : cls.calls)
      if (auto nr = number(call)) args_[*nr].fd = 0;
  }
  for (const auto& spec : syscall_data::arg_specs())
    if (auto nr = number(spec.name)) args_[*nr] = spec.args;
}

const SyscallTable& SyscallTable::native() {
  static const SyscallTable table;
  return table;
}

std::optional<int> SyscallTable::number(std::string_view name) const {
  std::string n(name);
  int nr = seccomp_syscall_resolve_name(n.c_str());
  // libseccomp answers negative "pseudo" numbers for calls this architecture lacks.
  if (nr < 0 || nr >= static_cast<int>(names_.size()) || names_[nr] != n) return std::nullopt;
  return nr;
}

std::string SyscallTable::name(int nr) const {
  if (nr >= 0 && nr < static_cast<int>(names_.size()) && !names_[nr].empty()) return names_[nr];
  return fmt::format("syscall_{}", nr);
}

const SyscallArgs& SyscallTable::args(int nr) const {
  static const SyscallArgs none;
  if (nr < 0 || nr >= static_cast<int>(args_.size())) return none;
  return args_[nr];
}

std::vector<std::string> SyscallTable::class_names() {
  std::vector<std::string> out;
  for (const auto& cls : syscall_data::classes()) out.emplace_back(cls.name);
  return out;
}

Result<SyscallSet> SyscallTable::parse_set(std::string_view spec) const {
  SyscallSet set;
  bool negate = false;
  if (!spec.empty() && spec.front() == '!') {
    negate = true;
    spec.remove_prefix(1);
  }
  if (spec.empty()) return Error("empty syscall set");
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    std::string_view item = spec.substr(pos, comma == std::string_view::npos ? spec.npos : comma - pos);
    pos = comma == std::string_view::npos ? spec.size() + 1 : comma + 1;
    if (item.empty()) return Error(fmt::format("empty name in syscall set '{}'", spec));
    bool optional = false;
    if (item.front() == '?') {
      optional = true;
      item.remove_prefix(1);
    }
    if (item == "all") {
      for (size_t nr = 0; nr < names_.size(); ++nr)
        if (!names_[nr].empty()) set.set(nr);
    } else if (item.front() == '%') {
      const syscall_data::Class* found = nullptr;
      for (const auto& cls : syscall_data::classes())
        if (cls.name == item) found = &cls;
      if (!found) {
        if (optional) continue;
        return Error(fmt::format("unknown syscall class '{}' (known: %file, %desc, %net, %process, "
                                 "%memory, %signal, %ipc, %stat, %lstat, %fstat, %%stat, %statfs, "
                                 "%fstatfs, %%statfs, %clock, %creds, %pure)", item));
      }
      for (auto call : found->calls)
        if (auto nr = number(call)) set.set(*nr);
    } else if (item.front() == '/') {
      std::regex re;
      try {
        re = std::regex(std::string(item.substr(1)), std::regex::extended);
      } catch (const std::regex_error& e) {
        return Error(fmt::format("invalid syscall regex '{}': {}", item.substr(1), e.what()));
      }
      bool any = false;
      for (size_t nr = 0; nr < names_.size(); ++nr)
        if (!names_[nr].empty() && std::regex_search(names_[nr], re)) {
          set.set(nr);
          any = true;
        }
      if (!any && !optional) return Error(fmt::format("regex '{}' matches no syscall", item.substr(1)));
    } else {
      auto nr = number(item);
      if (!nr) {
        if (optional) continue;
        return Error(fmt::format("unknown syscall '{}'", item));
      }
      set.set(*nr);
    }
  }
  if (negate) {
    SyscallSet all;
    for (size_t nr = 0; nr < names_.size(); ++nr)
      if (!names_[nr].empty()) all.set(nr);
    set = all & ~set;
  }
  return set;
}

}  // namespace syschaos
