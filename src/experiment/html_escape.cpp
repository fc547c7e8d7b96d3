#include "experiment/html_escape.hpp"

#include <cstdint>

namespace syschaos::experiment {

namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not one.
size_t utf8_sequence_length(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  uint8_t b0 = byte(i);
  size_t len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  if (len == 2 && b0 < 0xC2) return 0;                           // overlong
  if (len == 3 && b0 == 0xE0 && byte(i + 1) < 0xA0) return 0;    // overlong
  if (len == 3 && b0 == 0xED && byte(i + 1) >= 0xA0) return 0;   // surrogates
  if (len == 4 && b0 == 0xF0 && byte(i + 1) < 0x90) return 0;    // overlong
  if (len == 4 && (b0 > 0xF4 || (b0 == 0xF4 && byte(i + 1) >= 0x90))) return 0;  // > U+10FFFF
  return len;
}

}  // namespace

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    switch (c) {
      case '&': out += "&amp;"; ++i; continue;
      case '<': out += "&lt;"; ++i; continue;
      case '>': out += "&gt;"; ++i; continue;
      case '"': out += "&quot;"; ++i; continue;
      case '\'': out += "&#39;"; ++i; continue;
      default: break;
    }
    size_t len = utf8_sequence_length(text, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
      continue;
    }
    if (len == 1 && static_cast<uint8_t>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') {
      ++i;
      continue;
    }
    if (len == 1 && c == 0x7F) {
      ++i;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

std::string html_id(std::string_view prefix, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(prefix);
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_') {
      out += static_cast<char>(c);
    } else {
      out += '.';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

}  // namespace syschaos::experiment
