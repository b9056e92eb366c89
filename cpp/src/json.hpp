// A small, strict JSON reader for safetensors headers (private to the library).
//
// It reads the subset a safetensors header uses: objects, arrays, strings
// (with every escape, UTF-8 validated) and integers. Fractions, exponents,
// true, false and null are rejected, as are duplicate keys, trailing content
// and anything beyond the limits below: the input comes from files we did not
// write, so every problem is an InvalidArgument naming the byte offset, and no
// input makes the parser recurse or allocate without bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vaekit::detail {

struct JsonLimits {
  int max_depth = 8;                 // nesting of objects and arrays
  std::size_t max_values = 1 << 20;  // values of any kind in the document
};

struct JsonValue {
  enum class Type { Object, Array, String, Integer };
  Type type = Type::Integer;
  std::int64_t integer = 0;
  std::string string;
  std::vector<JsonValue> items;   // Array elements, or Object values
  std::vector<std::string> keys;  // Object keys, in file order, parallel to items

  // The value of `key` in an object, or null.
  const JsonValue* find(std::string_view key) const;
  const char* type_name() const;
};

// Parses `text` as one JSON value (whitespace around it allowed, nothing else).
JsonValue parse_json(std::string_view text, const JsonLimits& limits = {});

// `value` as a JSON string literal: quoted, with '"', '\\' and control
// characters escaped (the bytes are written as given: UTF-8 in, UTF-8 out).
std::string json_quote(std::string_view value);

}  // namespace vaekit::detail
