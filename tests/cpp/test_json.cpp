// The strict JSON reader of safetensors headers (cpp/src/json.hpp).
#include <string>

#include "json.hpp"
#include "test_util.hpp"

namespace vaekit::testing {
namespace {

using detail::JsonLimits;
using detail::JsonValue;
using detail::parse_json;

TEST(Json, ReadsAHeaderShapedDocument) {
  const JsonValue root = parse_json(
      R"( {"__metadata__": {"kind": "VAE"}, "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}} )");
  ASSERT_EQ(root.type, JsonValue::Type::Object);
  ASSERT_EQ(root.keys.size(), 2u);
  EXPECT_EQ(root.keys[0], "__metadata__");
  EXPECT_EQ(root.find("__metadata__")->find("kind")->string, "VAE");
  const JsonValue& shape = *root.find("w")->find("shape");
  ASSERT_EQ(shape.items.size(), 2u);
  EXPECT_EQ(shape.items[1].integer, 3);
  EXPECT_EQ(root.find("missing"), nullptr);
}

TEST(Json, DecodesEscapesAndSurrogatePairs) {
  const JsonValue value = parse_json(R"("a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00")");
  EXPECT_EQ(value.string, "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(parse_json("\"caf\xc3\xa9\"").string, "caf\xc3\xa9");  // raw UTF-8 is kept
}

TEST(Json, ReadsTheExtremeIntegers) {
  EXPECT_EQ(parse_json("9223372036854775807").integer, INT64_MAX);
  EXPECT_EQ(parse_json("-9223372036854775808").integer, INT64_MIN);
  EXPECT_EQ(parse_json("-0").integer, 0);
}

TEST(Json, QuotesWhatItReadsBack) {
  const std::string text = std::string("tab\tquote\"back\\slash\x01 caf\xc3\xa9");
  EXPECT_EQ(parse_json(detail::json_quote(text)).string, text);
}

TEST(Json, RejectsEverythingOutsideTheStrictSubset) {
  const char* const invalid[] = {
      "",                        // nothing
      "{",                       // unterminated object
      "[1, 2",                   // unterminated array
      "{\"a\": 1,}",             // trailing comma
      "[1,]",                    // trailing comma
      "{\"a\" 1}",               // missing colon
      "{a: 1}",                  // unquoted key
      "{\"a\": 1, \"a\": 2}",    // duplicate key
      "1.5",                     // fraction
      "1e3",                     // exponent
      "01",                      // leading zero
      "-",                       // sign alone
      "9223372036854775808",     // above int64
      "-9223372036854775809",    // below int64
      "true", "false", "null",   // not used in headers
      "\"abc",                   // unterminated string
      "\"a\nb\"",                // raw control character
      "\"\\x\"",                 // unknown escape
      "\"\\u12\"",               // short \u escape
      "\"\\ud800\"",             // lone high surrogate
      "\"\\udc00\"",             // lone low surrogate
      "\"\\ud800\\u0041\"",      // high surrogate + non-surrogate
      "\"\xff\"",                // invalid UTF-8 byte
      "\"\xc3\"",                // truncated UTF-8 sequence
      "\"\xc0\xaf\"",            // overlong encoding
      "\"\xed\xa0\x80\"",        // encoded surrogate
      "\"\xf4\x90\x80\x80\"",    // above U+10FFFF
      "{} {}",                   // trailing content
      "[1] x",                   // trailing content
  };
  for (const char* text : invalid) EXPECT_THROW(parse_json(text), InvalidArgument) << "input: " << text;
}

TEST(Json, BoundsNestingAndSize) {
  JsonLimits limits;
  limits.max_depth = 4;
  EXPECT_NO_THROW(parse_json("[[[[1]]]]", limits));
  EXPECT_THROW(parse_json("[[[[[1]]]]]", limits), InvalidArgument);
  // Deep nesting far beyond any stack: refused at the limit, no recursion past it.
  EXPECT_THROW(parse_json(std::string(1000000, '['), limits), InvalidArgument);
  limits.max_values = 10;
  EXPECT_NO_THROW(parse_json("[1,2,3,4,5,6,7,8,9]", limits));
  EXPECT_THROW(parse_json("[1,2,3,4,5,6,7,8,9,10]", limits), InvalidArgument);
}

TEST(Json, NamesTheOffendingByte) {
  try {
    parse_json("[1, 2, x]");
    FAIL() << "no exception";
  } catch (const InvalidArgument& error) {
    EXPECT_NE(std::string(error.what()).find("byte 7"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace vaekit::testing
