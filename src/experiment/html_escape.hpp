// Text from users (experiment names, fault specs, command output, target names) goes into
// report.html only through these, so a name like "<script>" stays text.
#pragma once

#include <string>
#include <string_view>

namespace syschaos::experiment {

// Escapes & < > " ' — safe in element content and in double- or single-quoted attributes.
// Bytes that are not valid UTF-8 become U+FFFD, control characters other than tab and
// newline are dropped (they are not allowed in HTML text).
std::string escape_html(std::string_view text);

// An HTML id / URL fragment made from any string: letters, digits, '-' and '_' are kept,
// every other byte becomes ".xx" (its hex value), so distinct inputs give distinct ids.
std::string html_id(std::string_view prefix, std::string_view text);

}  // namespace syschaos::experiment
