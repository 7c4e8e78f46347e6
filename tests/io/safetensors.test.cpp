#include <nst/io/safetensors.hpp>

#include <cmath>

#include "detail/weight_test_support.hpp"

namespace {
using namespace nst_test;

// A valid two-tensor file: "a" F32 [2] then "b" F16 [1,3], and its metadata.
std::string two_tensors(const std::string& extra_members = "") {
  const std::string header = "{\"__metadata__\":{\"k\":\"v\"}" + extra_members +
                             ",\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"b\":{\"dtype\":\"F16\",\"shape\":[1,3],\"data_offsets\":[8,14]}}";
  return safetensors_bytes(header, f32_bytes({1.5f, -2.0f}) + std::string("\x00\x3c\x00\xc0\x00\x7c", 6));
}

std::string with_tensors(const std::string& members, const std::string& data) {
  return safetensors_bytes("{" + members + "}", data);
}

void refuses(const scratch_dir& dir, const std::string& bytes, const std::string& error, const std::string& why) {
  const std::string path = dir.write("bad.safetensors", bytes);
  CHECK_THROWS_WITH(nst::load_safetensors<float>(path), Catch::Contains(error) && Catch::Contains(why) &&
                                                         Catch::Contains("bad.safetensors"));
}
}  // namespace

TEST_CASE("safetensors: loads the VGG-layout fixture exactly, in file order, as float and double",
          "[io][weights][safetensors]") {
  const auto f = nst::load_safetensors<float>(weight_fixture("vgg_tiny.safetensors"));
  CHECK(f.format == "safetensors");
  check_matches_expected(f, "vgg_tiny");
  CHECK(f.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"source", "nst make_weight_fixtures.py"}});
  check_matches_expected(nst::load_safetensors<double>(weight_fixture("vgg_tiny.safetensors")), "vgg_tiny");
}

TEST_CASE("safetensors: a filter skips tensors without reading them", "[io][weights][safetensors]") {
  const auto all = nst::load_safetensors<float>(weight_fixture("vgg_tiny.safetensors"));
  const auto features = nst::load_safetensors<float>(weight_fixture("vgg_tiny.safetensors"), [](const std::string& n) {
    return n.rfind("features.", 0) == 0;
  });
  CHECK(features.names.size() == 32);
  CHECK_FALSE(features.contains("classifier.0.weight"));
  std::uint64_t feature_bytes = 0;
  for (const auto& name : features.names) feature_bytes += 4 * static_cast<std::uint64_t>(all.at(name).size());
  CHECK(features.data_bytes_read == feature_bytes);
  CHECK(all.data_bytes_read > feature_bytes);
  CHECK_THROWS_WITH(features.at("classifier.0.weight"),
                    Catch::Contains("lookup_error.500") && Catch::Contains("'classifier.0.weight'") &&
                        Catch::Contains("32 tensors") && Catch::Contains("features.0.weight"));
}

TEST_CASE("safetensors: F16 and BF16 convert exactly as torch converts them", "[io][weights][safetensors]") {
  const auto w = nst::load_safetensors<float>(weight_fixture("dtypes.safetensors"));
  const auto same_bits = [](const nst::tensor<float>& a, const nst::tensor<float>& b) {
    REQUIRE(a.shape() == b.shape());
    for (nst::index_t i = 0; i < a.size(); ++i)
      if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) || std::signbit(a[i]) != std::signbit(b[i]))
        return false;
    return true;
  };
  CHECK(same_bits(w.at("x.f16"), w.at("x.f16_as_f32")));
  CHECK(same_bits(w.at("x.bf16"), w.at("x.bf16_as_f32")));
  CHECK(same_bits(w.at("x.f64"), w.at("x.f32")));  // the F64 copy holds float values exactly
  CHECK(w.at("x.f16")[4] == 65504.0f);
  CHECK(std::isinf(w.at("x.f16")[5]));                  // 65520 rounds to infinity in half
  CHECK(w.at("x.f16")[6] == std::ldexp(1.0f, -24));    // smallest subnormal
  const auto d = nst::load_safetensors<double>(weight_fixture("dtypes.safetensors"));
  for (nst::index_t i = 0; i < 24; ++i) {
    const double f16 = d.at("x.f16")[i], expected = d.at("x.f16_as_f32")[i];
    CHECK((f16 == expected || (std::isnan(f16) && std::isnan(expected))));
  }
  CHECK(nst::inspect_safetensors(weight_fixture("dtypes.safetensors"))[1].type == nst::dtype::f16);
}

TEST_CASE("safetensors: inspect lists names, dtypes and shapes without data", "[io][weights][safetensors]") {
  std::map<std::string, std::string> metadata;
  const auto infos = nst::inspect_safetensors(weight_fixture("dtypes.safetensors"), &metadata);
  REQUIRE(infos.size() == 6);
  const std::vector<nst::dtype> types{nst::dtype::f32, nst::dtype::f16, nst::dtype::bf16,
                                      nst::dtype::f64, nst::dtype::f32, nst::dtype::f32};
  for (std::size_t i = 0; i < infos.size(); ++i) {
    CHECK(infos[i].type == types[i]);
    CHECK(infos[i].dims == nst::shape({4, 6}));
  }
  CHECK(infos[2].name == "x.bf16");
  CHECK(metadata.at("purpose") == "dtype conversion");
}

TEST_CASE("safetensors: save round-trips float (F32) and double (F64), aligned, in the given order",
          "[io][weights][safetensors]") {
  scratch_dir dir;
  std::map<std::string, nst::tensor<double>> tensors{{"z.weight", random_tensor<double>({3, 2, 1, 2}, 1)},
                                                     {"a.bias", random_tensor<double>({5}, 2)},
                                                     {"scalar", nst::tensor<double>(nst::shape{}, 7.25)},
                                                     {"empty", nst::tensor<double>({0, 4})}};
  const std::vector<std::string> order{"z.weight", "empty", "a.bias", "scalar"};
  const std::map<std::string, std::string> metadata{{"note", "quote \" and \xc3\xa9"}, {"layers", "a,z"}};
  const std::string path = dir.file("out.safetensors");
  nst::save_safetensors(path, tensors, order, metadata);
  const auto back = nst::load_safetensors<double>(path);
  CHECK(back.names == order);
  CHECK(back.metadata == metadata);
  for (const auto& name : order) {
    REQUIRE(back.at(name).shape() == tensors.at(name).shape());
    CHECK(std::equal(back.at(name).begin(), back.at(name).end(), tensors.at(name).begin()));
  }
  CHECK(nst::inspect_safetensors(path)[0].type == nst::dtype::f64);
  const std::string bytes = read_file_bytes(path);
  CHECK(nst::detail::load_u64(bytes.data()) % 8 == 0);  // header padded: data 8-byte aligned

  const auto f = nst::load_safetensors<float>(weight_fixture("vgg_tiny.safetensors"));
  nst::save_safetensors(path, f.tensors, f.names, f.metadata);
  check_matches_expected(nst::load_safetensors<float>(path), "vgg_tiny");
  CHECK(nst::inspect_safetensors(path)[0].type == nst::dtype::f32);
  CHECK(dir.listing() == std::vector<std::string>{"out.safetensors"});  // no temporary left behind
}

TEST_CASE("safetensors: save is atomic and checks its arguments", "[io][weights][safetensors]") {
  scratch_dir dir;
  const std::string path = dir.write("keep.safetensors", "old contents");
  std::map<std::string, nst::tensor<float>> tensors{{"w", random_tensor<float>({2, 2}, 3)}};
  CHECK_THROWS_WITH(nst::save_safetensors(path, tensors, {"w", "missing"}, {}),
                    Catch::Contains("value_error.240") && Catch::Contains("'missing'"));
  CHECK_THROWS_WITH(nst::save_safetensors(path, tensors, {}, {}),
                    Catch::Contains("value_error.240") && Catch::Contains("'w' is missing from the order"));
  CHECK_THROWS_WITH(nst::save_safetensors(path, tensors, {"w", "w"}, {}), Catch::Contains("twice"));
  std::map<std::string, nst::tensor<float>> reserved{{"__metadata__", random_tensor<float>({1}, 4)}};
  CHECK_THROWS_WITH(nst::save_safetensors(path, reserved, {"__metadata__"}, {}), Catch::Contains("value_error.241"));
  CHECK_THROWS_WITH(nst::save_safetensors(path, tensors, {"w"}, {{"k", "\xff"}}), Catch::Contains("not valid UTF-8"));
  CHECK(read_file_bytes(path) == "old contents");

  // The rename fails (the target is a non-empty directory): io_error, nothing left behind.
  std::filesystem::create_directories(dir.file("taken/inside"));
  CHECK_THROWS_WITH(nst::save_safetensors(dir.file("taken"), tensors, {"w"}, {}),
                    Catch::Contains("io_error.423") && Catch::Contains("taken"));
  CHECK(std::filesystem::is_directory(dir.file("taken/inside")));
  CHECK_THROWS_WITH(nst::save_safetensors(dir.file("no/such/dir/x.safetensors"), tensors, {"w"}, {}),
                    Catch::Contains("io_error.421"));
  auto names = dir.listing();
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"keep.safetensors", "taken"});

  nst::save_safetensors(path, tensors, {"w"}, {});
  CHECK(nst::load_safetensors<float>(path).at("w")[3] == tensors.at("w")[3]);
}

TEST_CASE("safetensors: lying or malformed headers are format errors naming the problem",
          "[io][weights][safetensors]") {
  scratch_dir dir;
  REQUIRE(nst::load_safetensors<float>(dir.write("good.safetensors", two_tensors())).at("b")[2] == INFINITY);
  const std::string good = two_tensors();
  refuses(dir, good.substr(0, 5), "format_error.301", "8-byte header length");
  refuses(dir, le_bytes(std::uint64_t{1} << 40, 8) + "{}", "format_error.302", "exceeds the 104857600-byte limit");
  refuses(dir, le_bytes(5000, 8) + "{}", "format_error.302", "runs past the end of the file");
  refuses(dir, safetensors_bytes("[1]", ""), "format_error.303", "does not start with '{'");
  refuses(dir, safetensors_bytes("{\"a\":", ""), "format_error.303", "malformed JSON header");
  refuses(dir, two_tensors(",\"a\":{}"), "format_error.305", "duplicate key 'a'");
  refuses(dir, with_tensors("\"a\":[]", ""), "format_error.304", "not an object");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F32\",\"shape\":[]}", ""), "format_error.304", "needs the fields");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":\"\"}", "1234"),
          "format_error.304", "unknown field 'x'");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}", "1234"),
          "format_error.304", "shape holds a string");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}", "1234"),
          "format_error.306", "unknown dtype 'F33'");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}", "1234"),
          "format_error.307", "end before they begin");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}", "1234"),
          "format_error.308", "2 elements");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,4]}", "1234"),
          "format_error.309", "rank 7");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]}", ""),
          "format_error.309", "overflow");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}", ""),
          "format_error.308", "2305843009213693952 elements");
  refuses(dir, two_tensors().substr(0, good.size() - 1), "format_error.307", "truncated file?");
  refuses(dir, two_tensors() + "x", "format_error.307", "unindexed bytes");
  refuses(dir, with_tensors("\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}", "12345678"),
          "format_error.307", "(a hole)");
  refuses(dir,
          with_tensors("\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}",
                       "12345678"),
          "format_error.307", "overlap");
  refuses(dir, safetensors_bytes("{\"__metadata__\":{\"k\":1}}", ""), "format_error.310", "not a string");
  refuses(dir, safetensors_bytes("{\"__metadata__\":[]}", ""), "format_error.310", "not an object");

  // A spec dtype nst does not convert: refused when loaded, fine when filtered out.
  const std::string ints = with_tensors("\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                                        "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}",
                                        le_bytes(3, 8) + f32_bytes({0.5f}));
  refuses(dir, ints, "format_error.306", "tensor 'i' has dtype I64");
  const auto f = nst::load_safetensors<float>(dir.write("ints.safetensors", ints), [](const std::string& n) { return n == "f"; });
  CHECK(f.at("f")[0] == 0.5f);

  // Empty tensors and space padding are valid.
  const auto e = nst::load_safetensors<float>(dir.write(
      "empty.safetensors", safetensors_bytes("{\"e\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[0,0]}}   ", "")));
  CHECK(e.at("e").shape() == nst::shape({0, 3}));
}

TEST_CASE("safetensors: every truncation of a valid file is a format error", "[io][weights][safetensors]") {
  scratch_dir dir;
  const std::string good = read_file_bytes(weight_fixture("dtypes.safetensors"));
  for_each_truncation(dir, good, good.size(), 1, [](const std::string& path, std::size_t n) {
    INFO("prefix of " << n << " bytes");
    CHECK_THROWS_AS(nst::load_safetensors<float>(path), nst::format_error);
  });
  CHECK_THROWS_WITH(nst::load_safetensors<float>(dir.file("missing.safetensors")),
                    Catch::Contains("io_error.400") && Catch::Contains("missing.safetensors"));
}

TEST_CASE("safetensors: the shared VGG19 conv1_1..conv3_4 weights", "[io][weights][safetensors][shared]") {
  NST_REQUIRE_SHARED("weights/vgg19-conv1_1-conv3_4.safetensors");
  const std::string path = shared_path("weights/vgg19-conv1_1-conv3_4.safetensors");
  const auto w = nst::load_safetensors<float>(path);
  const std::vector<std::pair<std::string, nst::index_t>> layers{
      {"conv1_1", 3}, {"conv1_2", 64}, {"conv2_1", 64}, {"conv2_2", 128},
      {"conv3_1", 128}, {"conv3_2", 256}, {"conv3_3", 256}, {"conv3_4", 256}};
  const std::vector<nst::index_t> outputs{64, 64, 128, 128, 256, 256, 256, 256};
  REQUIRE(w.names.size() == 16);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    CHECK(w.names[2 * i] == layers[i].first + ".weight");
    CHECK(w.names[2 * i + 1] == layers[i].first + ".bias");
    CHECK(w.at(layers[i].first + ".weight").shape() == nst::shape({outputs[i], layers[i].second, 3, 3}));
    CHECK(w.at(layers[i].first + ".bias").shape() == nst::shape({outputs[i]}));
  }
  CHECK(w.metadata.at("architecture") == "vgg19");
  CHECK(w.metadata.at("kernel_layout") == "OIHW");
  CHECK(w.metadata.at("layers") == "conv1_1,conv1_2,conv2_1,conv2_2,conv3_1,conv3_2,conv3_3,conv3_4");
  CHECK_THAT(w.metadata.at("input"), Catch::Contains("BGR") && Catch::Contains("103.939"));
  std::size_t non_finite = 0;
  for (const auto& name : w.names)
    for (float v : w.at(name)) non_finite += !std::isfinite(v);
  CHECK(non_finite == 0);
  CHECK(w.data_bytes_read == 9302272);
}
