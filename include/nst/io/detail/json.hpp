// nst/io/detail/json.hpp — a small strict JSON reader and string quoting, for safetensors headers.
//
// It reads exactly what a safetensors header may contain: objects, arrays, strings and
// non-negative integers (up to 2^64-1). Anything else (floats, negative numbers, true/false/null,
// duplicate keys, invalid UTF-8, nesting deeper than 16, more than 2^20 values) is a format_error
// naming the byte offset, so a hostile header cannot slip through a lenient parser nor make it
// allocate much more than its own size. Object members keep their order.
//
//   json_value root = parse_json(R"({"a": {"shape": [2, 3]}})", "load_safetensors: 'x'");
//   root.find("a")->find("shape")->items[1].integer;   // 3
//   json_quote("tab\there")                             // "\"tab\\there\""
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../core/error.hpp"

namespace nst {
namespace detail {

struct json_value {
  enum class kind { object, array, string, integer };
  kind type = kind::object;
  std::string text;               // string
  std::uint64_t integer = 0;      // integer
  std::vector<json_value> items;  // array elements, or object member values
  std::vector<std::string> keys;  // object member names, parallel to items

  const json_value* find(const std::string& key) const {
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == key) return &items[i];
    return nullptr;
  }
};

inline const char* json_kind_name(json_value::kind type) {
  switch (type) {
    case json_value::kind::object: return "an object";
    case json_value::kind::array: return "an array";
    case json_value::kind::string: return "a string";
    case json_value::kind::integer: return "an integer";
  }
  return "?";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid (overlong
// forms, surrogates and code points above U+10FFFF are invalid).
inline std::size_t utf8_sequence_length(const std::string& s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  std::size_t length;
  std::uint32_t code;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) { length = 2; code = lead & 0x1Fu; }
  else if (lead >= 0xE0 && lead <= 0xEF) { length = 3; code = lead & 0x0Fu; }
  else if (lead >= 0xF0 && lead <= 0xF4) { length = 4; code = lead & 0x07u; }
  else return 0;
  if (s.size() - i < length) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0u) != 0x80u) return 0;
    code = (code << 6) | (byte(i + k) & 0x3Fu);
  }
  const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
  const bool surrogate = code >= 0xD800 && code <= 0xDFFF;
  return overlong || surrogate || code > 0x10FFFF ? 0 : length;
}

// Offset of the first byte that is not valid UTF-8, or npos.
inline std::size_t find_invalid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string::npos;
}

class json_parser {
 public:
  static constexpr int max_depth = 16;
  // Each value costs about 100 bytes in memory for as little as 2 in the text ("0,"): without a
  // bound a 100 MB header would take 5 GB. 2^20 values are ~100 MB, and ~100,000 tensors' entries.
  static constexpr std::size_t max_values = std::size_t{1} << 20;

  json_parser(const std::string& text, std::string where) : text_(text), where_(std::move(where)) {}

  json_value parse() {
    const std::size_t bad = find_invalid_utf8(text_);
    if (bad != std::string::npos) fail(bad, "invalid UTF-8");
    json_value root = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail(pos_, "unexpected text after the JSON value");
    return root;
  }

 private:
  [[noreturn]] void fail(std::size_t at, const std::string& problem) const {
    NST_THROW(format_error, 303, where_, ": malformed JSON header at byte ", at, ": ", problem);
  }

  void skip_whitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r'))
      ++pos_;
  }

  char peek() {
    skip_whitespace();
    if (pos_ == text_.size()) fail(pos_, "unexpected end of the header");
    return text_[pos_];
  }

  void expect(char c) {
    if (peek() != c) fail(pos_, std::string("expected '") + c + "'");
    ++pos_;
  }

  json_value parse_value(int depth) {
    if (depth >= max_depth) fail(pos_, "nesting deeper than " + std::to_string(max_depth));
    if (++values_ > max_values) fail(pos_, "more than " + std::to_string(max_values) + " values");
    const char c = peek();
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') {
      json_value v;
      v.type = json_value::kind::string;
      v.text = parse_string();
      return v;
    }
    if (c >= '0' && c <= '9') return parse_integer();
    if (c == '-') fail(pos_, "negative numbers are not allowed");
    fail(pos_, std::string("unexpected character '") + c +
                   "' (only objects, arrays, strings and non-negative integers are allowed)");
  }

  json_value parse_object(int depth) {
    json_value v;
    v.type = json_value::kind::object;
    expect('{');
    if (peek() == '}') {
      ++pos_;
      return v;
    }
    for (;;) {
      const std::size_t key_at = pos_;
      if (peek() != '"') fail(pos_, "expected a string key");
      std::string key = parse_string();
      NST_CHECK(v.find(key) == nullptr, format_error, 305, where_, ": duplicate key '", key,
                "' in the JSON header (byte ", key_at, ")");
      expect(':');
      v.keys.push_back(std::move(key));
      v.items.push_back(parse_value(depth + 1));
      if (peek() == ',') { ++pos_; continue; }
      expect('}');
      return v;
    }
  }

  json_value parse_array(int depth) {
    json_value v;
    v.type = json_value::kind::array;
    expect('[');
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      v.items.push_back(parse_value(depth + 1));
      if (peek() == ',') { ++pos_; continue; }
      expect(']');
      return v;
    }
  }

  json_value parse_integer() {
    json_value v;
    v.type = json_value::kind::integer;
    const std::size_t start = pos_;
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')
      fail(pos_, "numbers must not have leading zeros");
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const std::uint64_t digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (v.integer > (UINT64_MAX - digit) / 10) fail(start, "integer does not fit in 64 bits");
      v.integer = v.integer * 10 + digit;
      ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E'))
      fail(start, "only integers are allowed");
    return v;
  }

  unsigned hex4() {
    if (text_.size() - pos_ < 4) fail(pos_, "truncated \\u escape");
    unsigned value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') value |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') value |= static_cast<unsigned>(c - 'A' + 10);
      else fail(pos_ - 1, "bad hex digit in \\u escape");
    }
    return value;
  }

  static void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string parse_string() {
    const std::size_t start = pos_++;  // the opening quote
    std::string out;
    for (;;) {
      if (pos_ == text_.size()) fail(start, "unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail(pos_ - 1, "control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ == text_.size()) fail(start, "unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t code = hex4();
          if (code >= 0xDC00 && code <= 0xDFFF) fail(pos_ - 6, "lone low surrogate in \\u escape");
          if (code >= 0xD800 && code <= 0xDBFF) {
            if (text_.compare(pos_, 2, "\\u") != 0) fail(pos_, "lone high surrogate in \\u escape");
            pos_ += 2;
            const std::uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail(pos_ - 6, "bad low surrogate in \\u escape");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default: fail(pos_ - 1, std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  const std::string& text_;
  std::string where_;
  std::size_t pos_ = 0;
  std::size_t values_ = 0;
};

// Parses `text`; `where` starts every error message ("load_safetensors: 'x.safetensors'").
inline json_value parse_json(const std::string& text, const std::string& where) {
  return json_parser(text, where).parse();
}

// `s` as a JSON string literal (quotes added; `"`, `\` and control characters escaped).
inline std::string json_quote(const std::string& s) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace detail
}  // namespace nst
