#include <nst/io/detail/unpickler.hpp>

#include "weight_test_support.hpp"

namespace {
using nst::detail::pickle_value;
using namespace nst_test;
using namespace std::string_literals;

nst::detail::unpickle_result run(const std::string& bytes) {
  nst::detail::memory_reader in(bytes, "test", "the pickle");
  return nst::detail::unpickle(in, "test");
}

void refuses(const std::string& bytes, const std::string& error, const std::string& why) {
  CHECK_THROWS_WITH(run(bytes), Catch::Contains(error) && Catch::Contains(why));
}
}  // namespace

TEST_CASE("unpickler: plain values of protocol 2 to 5", "[io][weights][unpickler]") {
  // (None, True, False, 7, 300, 65535, -2, LONG1 -32768, LONG1 2^40, 2.5, 'py2', 'uni', b'b')
  const std::string body = "(N" + op(0x88) + op(0x89) + "K\x07" + "M" + le_bytes(300, 2) + "M" + le_bytes(65535, 2) +
                           "J" + le_bytes(0xFFFFFFFE, 4) + op(0x8a) + op(2) + le_bytes(0x8000, 2) + op(0x8a) + op(6) +
                           le_bytes(std::uint64_t{1} << 40, 6) + "G" + std::string("\x40\x04\0\0\0\0\0\0", 8) +
                           pickle_py2_str("py2") + op(0x8c) + op(3) + "uni" + "C" + op(1) + "b" + "t";
  for (const char* proto : {"\x80\x02", "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00", "\x80\x05"}) {
    const std::string bytes = std::string(proto, proto[1] == 4 ? 11 : 2) + body + ".";
    const auto result = run(bytes);
    const auto& v = result.root->items;
    REQUIRE(v.size() == 13);
    CHECK(v[0]->is(pickle_value::kind::none));
    CHECK((v[1]->is(pickle_value::kind::boolean) && v[1]->integer == 1));
    CHECK(v[2]->integer == 0);
    CHECK(v[3]->integer == 7);
    CHECK(v[4]->integer == 300);
    CHECK(v[5]->integer == 65535);
    CHECK(v[6]->integer == -2);
    CHECK(v[7]->integer == -32768);
    CHECK(v[8]->integer == (std::int64_t{1} << 40));
    CHECK(v[9]->floating == 2.5);
    CHECK((v[10]->is(pickle_value::kind::string) && v[10]->text == "py2"));
    CHECK(v[11]->text == "uni");
    CHECK((v[12]->is(pickle_value::kind::bytes) && v[12]->text == "b"));
  }
}

TEST_CASE("unpickler: containers, memo and Python 2 OrderedDict pairs", "[io][weights][unpickler]") {
  // OrderedDict([['a', [1, 2]], ['b', (3,)]]), as Python 2 pickled an OrderedDict.
  const std::string list = "((" + pickle_str("a") + "(K\x01K\x02l" + "l" + "(" + pickle_py2_str("b") + "K\x03" +
                           op(0x85) + "l" + "l";
  const auto root = run(pickle_proto2(pickle_global("collections", "OrderedDict") + pickle_tuple({list}) + "R")).root;
  REQUIRE(root->is(pickle_value::kind::dict));
  REQUIRE(root->items.size() == 4);
  CHECK(root->items[0]->text == "a");
  CHECK(root->items[1]->items[1]->integer == 2);
  CHECK(root->items[2]->text == "b");
  CHECK(root->items[3]->is(pickle_value::kind::tuple));

  // MEMOIZE / BINGET share one value; SETITEMS fills a dict; BUILD on an OrderedDict is accepted.
  const std::string dict = "\x80\x05" + pickle_global("collections", "OrderedDict") + op(0x94) + ")R" + op(0x94) + "(" +
                           pickle_str("x") + "K\x05" + op(0x94) + pickle_str("y") + "h\x02" + "u" + "}" + pickle_str("_metadata") +
                           "}" + "s" + "b.";
  const auto d = run(dict).root;
  REQUIRE(d->items.size() == 4);
  CHECK(d->items[3]->is(pickle_value::kind::integer));
  CHECK(d->items[3]->integer == 5);
}

TEST_CASE("unpickler: tensors, storages and parameters become plain values", "[io][weights][unpickler]") {
  const std::string tensor = pickle_global("torch._utils", "_rebuild_tensor_v2") +
                             pickle_tuple({pickle_float_storage("0", 6), "K\0"s, pickle_tuple({"K\x02", "K\x03"}),
                                           pickle_tuple({"K\x03", "K\x01"}), op(0x89),
                                           pickle_global("collections", "OrderedDict") + ")R"}) + "R";
  const std::string parameter = pickle_global("torch._utils", "_rebuild_parameter") +
                                pickle_tuple({tensor, op(0x88), pickle_global("collections", "OrderedDict") + ")R"}) + "R";
  const auto result = run(pickle_proto2(parameter));
  REQUIRE(result.root->is(pickle_value::kind::tensor));
  CHECK(result.root->text == "torch._utils._rebuild_tensor_v2");
  REQUIRE(result.root->items.size() == 6);
  CHECK(result.root->items[0]->is(pickle_value::kind::persistent_id));
  REQUIRE(result.persistent_ids.size() == 1);
  CHECK(result.persistent_ids[0]->items[1]->text == "torch.FloatStorage");
  CHECK(result.persistent_ids[0]->items[2]->text == "0");
}

TEST_CASE("unpickler: code-running globals and opcodes are refused, nothing runs", "[io][weights][unpickler]") {
  refuses(pickle_proto2(pickle_global("os", "system") + pickle_tuple({pickle_str("touch /tmp/nst-pwned")}) + "R"),
          "format_error.326", "os.system");
  refuses(pickle_proto2(pickle_str("builtins") + pickle_str("eval") + op(0x93) + pickle_tuple({pickle_str("1")}) + "R"),
          "format_error.326", "builtins.eval");
  refuses(pickle_proto2(pickle_global("torch", "LongStorage")), "format_error.326", "storage type torch.LongStorage");
  refuses(pickle_proto2(pickle_global("torch", "FloatStorage") + ")R"), "format_error.326", "is a type");
  refuses(pickle_proto2("(ios\nsystem\n"), "format_error.325", "opcode INST (0x69)");
  refuses(pickle_proto2("(" + pickle_global("collections", "OrderedDict") + "o"), "format_error.325", "opcode OBJ");
  refuses(pickle_proto2(pickle_global("collections", "OrderedDict") + ")" + op(0x81)), "format_error.325", "NEWOBJ");
  refuses(pickle_proto2(op(0x82) + op(1)), "format_error.325", "EXT1");
  refuses(pickle_proto2("I1\n"), "format_error.325", "opcode INT");
  refuses(pickle_proto2(op(0xff)), "format_error.325", "unknown opcode 0xff");
  refuses("\x80\x06N.", "format_error.325", "protocol 6");
  CHECK_FALSE(file_exists("/tmp/nst-pwned"));
}

TEST_CASE("unpickler: malformed programs and exhausted limits are errors", "[io][weights][unpickler]") {
  refuses(pickle_proto2("NN"), "format_error.327", "2 values");
  refuses(pickle_proto2("(N"), "format_error.327", "open MARKs");
  refuses(pickle_proto2("a"), "format_error.327", "stack underflow");
  refuses(pickle_proto2("t"), "format_error.327", "no MARK");
  refuses(pickle_proto2("N(a"), "format_error.327", "stack underflow");  // MARK hides the list below it
  refuses(pickle_proto2("NNa"), "format_error.327", "APPEND applied to None");
  refuses(pickle_proto2("}(Nu"), "format_error.327", "key without a value");
  refuses(pickle_proto2("h\x07"), "format_error.330", "memo entry 7");
  refuses(pickle_proto2("X" + le_bytes(0xFFFFFFF0u, 4)), "format_error.328", "string of 4294967280 bytes");
  refuses(pickle_proto2(op(0x8b) + le_bytes(5000, 4)), "format_error.328", "integer of 5000 bytes");
  refuses(pickle_proto2(std::string(101, '(')), "format_error.328", "nested MARKs");
  std::string churn;  // creates and drops values: the count is bounded, not just the live ones
  for (int i = 0; i < (1 << 20) + 1; ++i) churn += "N0";
  refuses(pickle_proto2(churn + "N"), "format_error.328", "creates more than 1048576 values");
  // 120 lists, each appended into the one below it: depth 120.
  refuses(pickle_proto2(std::string(120, ']') + std::string(119, 'a')), "format_error.328", "deeper than 100");
  // A list put inside itself, and a list modified after being nested: no cycles can form.
  refuses(pickle_proto2("]q\x00h\x00" "a"s), "format_error.328", "inside itself");
  refuses(pickle_proto2("]q\x00]h\x00" "a0Na"s), "format_error.327", "already inside another one");
  refuses(pickle_proto2("c" + std::string(300, 'x') + "\n"), "format_error.328", "longer than 256");
  refuses(pickle_proto2(pickle_global("torch._utils", "_rebuild_tensor") + pickle_tuple({"N"}) + "R"),
          "format_error.329", "takes 4 arguments");
  refuses(pickle_proto2("NQ"), "format_error.327", "persistent id is None");
  refuses("", "format_error.301", "truncated");
}

TEST_CASE("unpickler: every truncation of a real state-dict pickle is a clean error", "[io][weights][unpickler]") {
  const std::string bytes = read_file_bytes(weight_fixture("vgg_tiny.legacy.pth"));
  // A legacy file's fourth pickle is the state dict.
  std::size_t state_begin = 0, state_end = 0;
  {
    nst::detail::memory_reader in(bytes, "test", "file");
    for (int i = 0; i < 3; ++i) nst::detail::unpickle(in, "test");
    state_begin = static_cast<std::size_t>(in.position());
    nst::detail::unpickle(in, "test");
    state_end = static_cast<std::size_t>(in.position());
  }
  const std::string state = bytes.substr(state_begin, state_end - state_begin);
  REQUIRE(run(state).root->is(pickle_value::kind::dict));
  for (std::size_t n = 0; n < state.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK_THROWS_AS(run(state.substr(0, n)), nst::format_error);
  }
}
