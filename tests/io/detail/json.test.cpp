#include <nst/io/detail/json.hpp>

#include "../../support/support.hpp"

namespace {
using nst::detail::json_value;
json_value parse(const std::string& text) { return nst::detail::parse_json(text, "test"); }
}  // namespace

TEST_CASE("json: objects keep member order; arrays, strings and integers", "[io][weights][json]") {
  const json_value v = parse(R"( {"b": {"shape": [2, 0, 18446744073709551615]}, "a": "x\"\\\/\n\u00e9\ud83d\ude00"} )");
  REQUIRE(v.type == json_value::kind::object);
  REQUIRE(v.keys == std::vector<std::string>{"b", "a"});
  const json_value* shape = v.find("b")->find("shape");
  REQUIRE(shape->type == json_value::kind::array);
  CHECK(shape->items[0].integer == 2);
  CHECK(shape->items[1].integer == 0);
  CHECK(shape->items[2].integer == UINT64_MAX);
  CHECK(v.find("a")->text == "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(v.find("missing") == nullptr);
  CHECK(parse("{}").keys.empty());
  CHECK(parse("[]").items.empty());
}

TEST_CASE("json: refuses everything a safetensors header must not contain", "[io][weights][json]") {
  const auto refuses = [](const std::string& text, const std::string& why) {
    INFO(text);
    CHECK_THROWS_WITH(parse(text), Catch::Contains("format_error.303") && Catch::Contains(why));
  };
  refuses("{\"a\": 1.5}", "only integers");
  refuses("{\"a\": 1e3}", "only integers");
  refuses("{\"a\": -1}", "negative");
  refuses("{\"a\": 01}", "leading zeros");
  refuses("{\"a\": 18446744073709551616}", "64 bits");
  refuses("{\"a\": true}", "unexpected character 't'");
  refuses("{\"a\": null}", "unexpected character 'n'");
  refuses("{\"a\": 1} x", "after the JSON value");
  refuses("{\"a\": 1", "end of the header");
  refuses("{\"a: 1}", "unterminated string");
  refuses("{\"a\" 1}", "expected ':'");
  refuses("{\"a\": [1 2]}", "expected ']'");
  refuses("{\"a\": \"\\q\"}", "unknown escape");
  refuses("{\"a\": \"\\ud800\"}", "lone high surrogate");
  refuses("{\"a\": \"\\udc00\"}", "lone low surrogate");
  refuses("{\"a\": \"\\u12g4\"}", "bad hex digit");
  refuses("{\"a\": \"tab\there\"}", "control character");
  refuses("{\"a\": \"\xff\"}", "invalid UTF-8");
  refuses("{\"a\": \"\xc0\xaf\"}", "invalid UTF-8");        // overlong '/'
  refuses("{\"a\": \"\xed\xa0\x80\"}", "invalid UTF-8");    // encoded surrogate
  refuses(std::string(17, '[') + std::string(17, ']'), "nesting deeper than 16");
  refuses("", "end of the header");
  CHECK_NOTHROW(parse(std::string(15, '[') + std::string(15, ']')));
  CHECK_THROWS_WITH(parse("{\"a\": 1, \"a\": 2}"), Catch::Contains("format_error.305") && Catch::Contains("duplicate key 'a'"));
}

TEST_CASE("json: json_quote escapes what JSON requires and round-trips", "[io][weights][json]") {
  const std::string raw = std::string("q\"b\\n\n\x01 \xc3\xa9", 10);
  const std::string quoted = nst::detail::json_quote(raw);
  CHECK(quoted == "\"q\\\"b\\\\n\\u000a\\u0001 \xc3\xa9\"");
  CHECK(parse("[" + quoted + "]").items[0].text == raw);
}
