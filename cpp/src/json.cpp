// The strict JSON reader of json.hpp: a recursive-descent parser whose
// recursion is bounded by JsonLimits::max_depth.
#include "json.hpp"

#include <limits>
#include <unordered_set>

#include "vaekit/common.hpp"

namespace vaekit::detail {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const JsonLimits& limits) : text_(text), limits_(limits) {}

  JsonValue parse_document() {
    skip_whitespace();
    JsonValue value = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected content after the top-level value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw InvalidArgument("invalid JSON at byte " + std::to_string(pos_) + ": " + problem);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(text_[pos_]); }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  void expect(char c) {
    if (at_end() || text_[pos_] != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  JsonValue parse_value(int depth) {
    if (++n_values_ > limits_.max_values) fail("more than " + std::to_string(limits_.max_values) + " values");
    if (at_end()) fail("unexpected end of input");
    const unsigned char c = peek();
    if (c == '{' || c == '[') {
      if (depth >= limits_.max_depth) fail("nesting deeper than " + std::to_string(limits_.max_depth));
      return c == '{' ? parse_object(depth + 1) : parse_array(depth + 1);
    }
    if (c == '"') {
      JsonValue value;
      value.type = JsonValue::Type::String;
      value.string = parse_string();
      return value;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_integer();
    if (c == 't' || c == 'f' || c == 'n') fail("true, false and null are not used in a safetensors header");
    fail("unexpected character");
  }

  // The elements of an object or array after its opening bracket: element()
  // parses one, separated by commas, up to `close`.
  template <class Element>
  void parse_sequence(char close, const char* what, Element&& element) {
    skip_whitespace();
    if (!at_end() && text_[pos_] == close) {
      ++pos_;
      return;
    }
    for (;;) {
      skip_whitespace();
      element();
      skip_whitespace();
      if (at_end()) fail(std::string("unterminated ") + what);
      if (text_[pos_] == close) {
        ++pos_;
        return;
      }
      expect(',');
    }
  }

  JsonValue parse_object(int depth) {
    JsonValue value;
    value.type = JsonValue::Type::Object;
    expect('{');
    std::unordered_set<std::string> seen;  // a set: a linear search per key would be quadratic
    parse_sequence('}', "object", [&] {
      if (at_end() || peek() != '"') fail("expected a string key");
      std::string key = parse_string();
      if (!seen.insert(key).second) fail("duplicate key \"" + key + "\"");
      skip_whitespace();
      expect(':');
      skip_whitespace();
      value.keys.push_back(std::move(key));
      value.items.push_back(parse_value(depth));
    });
    return value;
  }

  JsonValue parse_array(int depth) {
    JsonValue value;
    value.type = JsonValue::Type::Array;
    expect('[');
    parse_sequence(']', "array", [&] { value.items.push_back(parse_value(depth)); });
    return value;
  }

  // -?(0|[1-9][0-9]*), within int64.
  JsonValue parse_integer() {
    const bool negative = peek() == '-';
    if (negative) ++pos_;
    if (at_end() || peek() < '0' || peek() > '9') fail("expected a digit");
    if (peek() == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')
      fail("leading zeros are not allowed");
    // Accumulate the magnitude as a negative number: -2^63 fits, 2^63 does not.
    std::int64_t total = 0;
    constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      const int digit = peek() - '0';
      if (total < (kMin + digit) / 10) fail("integer out of the 64-bit range");
      total = total * 10 - digit;
      ++pos_;
    }
    if (!at_end() && (peek() == '.' || peek() == 'e' || peek() == 'E'))
      fail("only integers are expected in a safetensors header");
    if (!negative && total == kMin) fail("integer out of the 64-bit range");
    JsonValue value;
    value.integer = negative ? total : -total;
    return value;
  }

  unsigned hex_digits() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const unsigned char c = peek();
      unsigned digit;
      if (c >= '0' && c <= '9') digit = c - '0';
      else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      else fail("invalid hexadecimal digit in a \\u escape");
      code = code * 16 + digit;
      ++pos_;
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
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

  // One escape after the backslash; \uD800-\uDBFF must be followed by a low surrogate.
  void parse_escape(std::string& out) {
    if (at_end()) fail("truncated escape");
    const char c = text_[pos_++];
    switch (c) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': break;
      default: --pos_; fail("invalid escape");
    }
    unsigned code = hex_digits();
    if (code >= 0xDC00 && code <= 0xDFFF) fail("unpaired low surrogate in a \\u escape");
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (pos_ + 2 > text_.size() || text_[pos_] != '\\' || text_[pos_ + 1] != 'u')
        fail("unpaired high surrogate in a \\u escape");
      pos_ += 2;
      const unsigned low = hex_digits();
      if (low < 0xDC00 || low > 0xDFFF) fail("unpaired high surrogate in a \\u escape");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
  }

  // A well-formed UTF-8 sequence starting at pos_ (RFC 3629: no overlong
  // forms, no surrogates, nothing above U+10FFFF), copied to out.
  void copy_utf8_sequence(std::string& out) {
    const unsigned char lead = peek();
    int length;
    unsigned min_code;
    unsigned code;
    if (lead >= 0xC2 && lead <= 0xDF) length = 2, min_code = 0x80, code = lead & 0x1F;
    else if (lead >= 0xE0 && lead <= 0xEF) length = 3, min_code = 0x800, code = lead & 0x0F;
    else if (lead >= 0xF0 && lead <= 0xF4) length = 4, min_code = 0x10000, code = lead & 0x07;
    else fail("invalid UTF-8");
    if (pos_ + length > text_.size()) fail("truncated UTF-8 sequence");
    for (int i = 1; i < length; ++i) {
      const unsigned char c = static_cast<unsigned char>(text_[pos_ + i]);
      if ((c & 0xC0) != 0x80) fail("invalid UTF-8");
      code = (code << 6) | (c & 0x3F);
    }
    if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) fail("invalid UTF-8");
    out.append(text_.substr(pos_, length));
    pos_ += length;
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      const unsigned char c = peek();
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        ++pos_;
        parse_escape(out);
      } else if (c < 0x20) {
        fail("unescaped control character in a string");
      } else if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
      } else {
        copy_utf8_sequence(out);
      }
    }
  }

  std::string_view text_;
  JsonLimits limits_;
  std::size_t pos_ = 0;
  std::size_t n_values_ = 0;
};

}  // namespace

const JsonValue* JsonValue::find(std::string_view key) const {
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) return &items[i];
  return nullptr;
}

const char* JsonValue::type_name() const {
  switch (type) {
    case Type::Object: return "an object";
    case Type::Array: return "an array";
    case Type::String: return "a string";
    default: return "an integer";
  }
}

JsonValue parse_json(std::string_view text, const JsonLimits& limits) {
  return Parser(text, limits).parse_document();
}

std::string json_quote(std::string_view value) {
  static const char* const kHex = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : value) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace vaekit::detail
