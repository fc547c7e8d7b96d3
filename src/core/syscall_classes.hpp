// Data behind SyscallTable: strace's syscall classes and argument positions, by name.
#pragma once

#include <span>
#include <string_view>

#include "core/syscall_table.hpp"

namespace syschaos::syscall_data {

struct Class {
  std::string_view name;                    // "%file"
  std::span<const std::string_view> calls;  // names; ones this arch lacks are skipped
};
std::span<const Class> classes();

struct ArgSpec {
  std::string_view name;
  SyscallArgs args;
};
std::span<const ArgSpec> arg_specs();

}  // namespace syschaos::syscall_data
