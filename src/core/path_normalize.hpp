// Lexical path handling, as the kernel would walk a path if no component were a symlink.
#pragma once

#include <string>
#include <string_view>

namespace syschaos {

// Joins a relative path to its base directory and removes "", "." and ".." components:
// join_and_normalize("/srv/www", "../etc//x/./y") == "/srv/etc/x/y". An absolute path
// ignores the base. ".." at the root stays at the root, as in the kernel.
std::string join_and_normalize(std::string_view base, std::string_view path);

}  // namespace syschaos
