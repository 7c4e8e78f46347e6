#include <nst/io/pth.hpp>

#include "detail/weight_test_support.hpp"

namespace {
using namespace nst_test;

std::string pickle_long(std::int64_t v) { return op(0x8a) + op(8) + le_bytes(static_cast<std::uint64_t>(v), 8); }

std::string int_tuple(const std::vector<std::int64_t>& values) {
  std::vector<std::string> items;
  for (std::int64_t v : values) items.push_back(pickle_long(v));
  return pickle_tuple(items);
}

// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
std::string tensor_v2(const std::string& storage, std::int64_t offset, const std::vector<std::int64_t>& size,
                      const std::vector<std::int64_t>& stride) {
  return pickle_global("torch._utils", "_rebuild_tensor_v2") +
         pickle_tuple({storage, pickle_long(offset), int_tuple(size), int_tuple(stride), op(0x89),
                       pickle_global("collections", "OrderedDict") + ")R"}) + "R";
}

// An OrderedDict pickle (protocol 2) of already-pickled key/value pairs.
std::string state_dict(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string body = pickle_global("collections", "OrderedDict") + ")R(";
  for (const auto& item : items) body += item.first + item.second;
  return pickle_proto2(body + "u");
}

// A zip .pth with one float storage "0" of `values` and the given state dict pickle.
std::string zip_pth(const std::string& pickle, const std::vector<float>& values) {
  return make_pth_zip(pickle, {{"0", f32_bytes(values)}});
}

// The offset of the central directory header of the entry called `name`.
std::size_t central_header_of(const std::string& zip, const std::string& name) {
  for (std::size_t at = zip.find("PK\x01\x02"); at != std::string::npos; at = zip.find("PK\x01\x02", at + 4)) {
    const std::size_t length = static_cast<unsigned char>(zip[at + 28]) + 256u * static_cast<unsigned char>(zip[at + 29]);
    if (zip.compare(at + 46, length, name) == 0 && length == name.size()) return at;
  }
  FAIL("no central directory entry " << name);
  return 0;
}

void refuses(const scratch_dir& dir, const std::string& bytes, const std::string& error, const std::string& why) {
  const std::string path = dir.write("bad.pth", bytes);
  CHECK_THROWS_WITH(nst::load_pth<float>(path), Catch::Contains(error) && Catch::Contains(why) && Catch::Contains("bad.pth"));
}

bool is_feature(const std::string& name) { return name.rfind("features.", 0) == 0; }
}  // namespace

TEST_CASE("pth: zip, legacy and PyTorch 0.x legacy files load exactly, as float and double", "[io][weights][pth]") {
  for (const auto& file : {std::make_pair("vgg_tiny.zip.pth", "pth-zip"), std::make_pair("vgg_tiny.legacy.pth", "pth-legacy"),
                           std::make_pair("vgg_tiny.legacy_v1.pth", "pth-legacy")}) {
    INFO(file.first);
    const auto f = nst::load_pth<float>(weight_fixture(file.first));
    CHECK(f.format == file.second);
    CHECK(f.metadata.empty());
    check_matches_expected(f, "vgg_tiny");
    check_matches_expected(nst::load_pth<double>(weight_fixture(file.first)), "vgg_tiny");
  }
}

TEST_CASE("pth: views with offsets and strides, shared storages, rank 0, empty, F16/BF16/F64", "[io][weights][pth]") {
  for (const char* file : {"views.zip.pth", "views.legacy.pth"}) {  // pickle protocol 5 and 2
    INFO(file);
    check_matches_expected(nst::load_pth<float>(weight_fixture(file)), "views");
    check_matches_expected(nst::load_pth<double>(weight_fixture(file)), "views");
  }
  const auto infos = nst::inspect_pth(weight_fixture("views.zip.pth"));
  REQUIRE(infos.size() == 10);
  CHECK(infos[1].name == "slice");
  CHECK(infos[4].dims == nst::shape{});
  CHECK(infos[5].dims == nst::shape({0, 6}));
  CHECK(infos[6].type == nst::dtype::f16);
  CHECK(infos[7].type == nst::dtype::f16);
  CHECK(infos[8].type == nst::dtype::bf16);
  CHECK(infos[9].type == nst::dtype::f64);
  CHECK(infos[0].type == nst::dtype::f32);
}

TEST_CASE("pth: a checkpoint dict holding the state dict under 'state_dict'", "[io][weights][pth]") {
  check_matches_expected(nst::load_pth<float>(weight_fixture("nested.zip.pth")), "nested");
}

TEST_CASE("pth: a filter skips the classifier without reading it", "[io][weights][pth]") {
  const auto all = nst::load_pth<float>(weight_fixture("vgg_tiny.zip.pth"));
  std::uint64_t feature_bytes = 0;
  for (const auto& name : all.names)
    if (is_feature(name)) feature_bytes += 4 * static_cast<std::uint64_t>(all.at(name).size());
  for (const char* file : {"vgg_tiny.zip.pth", "vgg_tiny.legacy.pth", "vgg_tiny.legacy_v1.pth"}) {
    INFO(file);
    const auto w = nst::load_pth<float>(weight_fixture(file), is_feature);
    CHECK(w.names.size() == 32);
    CHECK(w.names.front() == "features.0.weight");
    CHECK(w.names.back() == "features.34.bias");
    CHECK_FALSE(w.contains("classifier.0.weight"));
    CHECK(w.data_bytes_read == feature_bytes);
  }
  CHECK(all.data_bytes_read > feature_bytes);
}

TEST_CASE("pth: a legacy file as Python 2 and PyTorch 0.x wrote it", "[io][weights][pth]") {
  // Python 2 str keys (SHORT_BINSTRING), OrderedDict([[key, value], ...]), _rebuild_tensor (v1),
  // and a storage view (view_metadata) as torch 0.x could save.
  const auto storage = [](const std::string& view) {
    return pickle_tuple({pickle_py2_str("storage"), pickle_global("torch", "FloatStorage"), pickle_py2_str("140"),
                         pickle_py2_str("cpu"), "K\x06", view}) + "Q";
  };
  const auto rebuild_v1 = [](const std::string& s, std::int64_t offset, const std::vector<std::int64_t>& size,
                             const std::vector<std::int64_t>& stride) {
    return pickle_global("torch._utils", "_rebuild_tensor") +
           pickle_tuple({s, pickle_long(offset), int_tuple(size), int_tuple(stride)}) + "R";
  };
  const std::string pairs =
      "(" + pickle_tuple({pickle_py2_str("w"), rebuild_v1(storage("N"), 1, {2, 2}, {1, 2})}) +
      pickle_tuple({pickle_py2_str("v"), rebuild_v1(storage(pickle_tuple({pickle_py2_str("141"), "K\x02", "K\x03"})), 1, {2}, {1})}) +
      "l";
  const std::string file = legacy_pth_header() +
                           pickle_proto2(pickle_global("collections", "OrderedDict") + pickle_tuple({pairs}) + "R") +
                           pickle_proto2("](" + pickle_py2_str("140") + "e") + le_bytes(6, 8) +
                           f32_bytes({0, 1, 2, 3, 4, 5});
  scratch_dir dir;
  const auto w = nst::load_pth<float>(dir.write("py2.pth", file));
  CHECK(w.format == "pth-legacy");
  REQUIRE(w.names == std::vector<std::string>{"w", "v"});
  CHECK(w.at("w").shape() == nst::shape({2, 2}));
  CHECK(std::vector<float>(w.at("w").begin(), w.at("w").end()) == std::vector<float>{1, 3, 2, 4});
  CHECK(std::vector<float>(w.at("v").begin(), w.at("v").end()) == std::vector<float>{3, 4});
}

TEST_CASE("pth: hostile pickles are refused before anything runs", "[io][weights][pth]") {
  scratch_dir dir;
  const std::string attack = pickle_proto2(pickle_global("os", "system") + pickle_tuple({pickle_str("touch /tmp/nst-pwned")}) + "R");
  refuses(dir, zip_pth(attack, {1}), "format_error.326", "os.system");
  refuses(dir, legacy_pth_header() + attack, "format_error.326", "os.system");
  refuses(dir, zip_pth(pickle_proto2(pickle_global("torch", "load") + ")R"), {1}), "format_error.326", "torch.load");
  refuses(dir, zip_pth(pickle_proto2(pickle_global("torch", "LongStorage")), {1}), "format_error.326", "torch.LongStorage");
  refuses(dir, zip_pth(pickle_proto2("(ibuiltins\nexec\n"), {1}), "format_error.325", "INST");
  refuses(dir, zip_pth(pickle_proto2(std::string(500, '(')), {1}), "format_error.328", "nested MARKs");
  CHECK_FALSE(file_exists("/tmp/nst-pwned"));
}

TEST_CASE("pth: corrupt and lying files are format errors naming the problem", "[io][weights][pth]") {
  scratch_dir dir;
  const std::string one = pickle_float_storage("0", 6);
  REQUIRE(nst::load_pth<float>(dir.write("ok.pth", zip_pth(state_dict({{pickle_str("t"), tensor_v2(one, 0, {2, 3}, {3, 1})}}),
                                                           {0, 1, 2, 3, 4, 5})))
              .at("t")[5] == 5.0f);
  const auto with_tensor = [&](const std::string& storage, std::int64_t offset, const std::vector<std::int64_t>& size,
                               const std::vector<std::int64_t>& stride) {
    return zip_pth(state_dict({{pickle_str("t"), tensor_v2(storage, offset, size, stride)}}), {0, 1, 2, 3, 4, 5});
  };
  const std::string gpu = pickle_tuple({pickle_str("storage"), pickle_global("torch.cuda", "HalfStorage"), pickle_str("0"),
                                        pickle_str("cuda:0"), "K\x02"}) + "Q";
  const auto from_gpu = nst::load_pth<float>(dir.write("gpu.pth", make_pth_zip(state_dict({{pickle_str("h"), tensor_v2(gpu, 1, {1}, {1})}}),
                                                                           {{"0", std::string("\x00\x3c\x00\xc0", 4)}})));
  CHECK(from_gpu.at("h")[0] == -2.0f);  // a GPU-saved half storage: same bytes on disk
  refuses(dir, with_tensor(one, 0, {7}, {1}), "format_error.338", "reaches past the end of its storage");
  refuses(dir, with_tensor(one, 5, {2}, {1}), "format_error.338", "reaches past the end");
  refuses(dir, with_tensor(one, 7, {1}, {1}), "format_error.338", "starts at element 7");
  refuses(dir, with_tensor(one, 0, {2}, {-1}), "format_error.338", "negative stride");
  refuses(dir, with_tensor(one, 0, {2, 3}, {3}), "format_error.338", "2 sizes but 1 strides");
  refuses(dir, with_tensor(one, 0, {std::int64_t{1} << 40, std::int64_t{1} << 40}, {0, 0}), "format_error.309", "overflow");
  refuses(dir, with_tensor(one, 0, {4, 3}, {0, 1}), "format_error.338", "expanded");
  refuses(dir, with_tensor(one, 0, {1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1}), "format_error.309", "rank 7");
  refuses(dir, with_tensor(pickle_float_storage("0", 7), 0, {2}, {1}), "format_error.337", "holds 24 bytes");
  refuses(dir, with_tensor(pickle_tuple({pickle_str("storage"), pickle_global("torch", "FloatStorage"), pickle_str("0"),
                                         pickle_str("cpu"), pickle_long(std::int64_t{1} << 62)}) + "Q", 0, {2}, {1}),
          "format_error.337", "holds 24 bytes");
  refuses(dir, with_tensor(pickle_float_storage("9", 6), 0, {2}, {1}), "format_error.317", "no entry 'archive/data/9'");
  refuses(dir, with_tensor(pickle_tuple({pickle_str("module")}) + "Q", 0, {2}, {1}), "format_error.337", "persistent id");
  refuses(dir, with_tensor("N", 0, {2}, {1}), "format_error.337", "not a storage");
  refuses(dir, zip_pth(state_dict({{pickle_str("a"), "K\x01"}}), {1}), "format_error.336", "'a': an int");
  refuses(dir, zip_pth(pickle_proto2("N"), {1}), "format_error.336", "None, not a state dict");
  refuses(dir, zip_pth(state_dict({{pickle_str("t"), tensor_v2(one, 0, {1}, {1})}, {pickle_str("t"), tensor_v2(one, 1, {1}, {1})}}),
                       {0, 1, 2, 3, 4, 5}),
          "format_error.340", "'t' appears twice");
  refuses(dir, make_zip({{"archive/other.pkl", "x"}}), "format_error.317", "no <name>/data.pkl");
  refuses(dir, make_zip({{"archive/data.pkl", "\x80\x02N."}, {"archive/byteorder", "big"}}), "format_error.320", "big-endian");
  refuses(dir, "hello, world", "format_error.300", "neither a zip archive nor a pickle");
  refuses(dir, "", "format_error.300", "neither");

  // Patched copies of torch's own files.
  const std::string zip = read_file_bytes(weight_fixture("vgg_tiny.zip.pth"));
  std::string compressed = zip;
  compressed[central_header_of(zip, "vgg_tiny.zip/data/0") + 10] = 8;
  refuses(dir, compressed, "format_error.316", "compressed (method 8)");
  std::string renamed = zip;
  renamed[central_header_of(zip, "vgg_tiny.zip/data/0") + 46 + 18] = 'X';
  refuses(dir, renamed, "format_error.317", "no entry 'vgg_tiny.zip/data/0'");
  CHECK(nst::load_pth<float>(dir.write("skip.pth", compressed), [](const std::string& n) {
          return n != "features.0.weight";  // the tensor of storage 0 is never read
        }).names.size() == 37);

  const std::string legacy = read_file_bytes(weight_fixture("vgg_tiny.legacy.pth"));
  std::string bad_magic = legacy;
  bad_magic[5] ^= 1;
  refuses(dir, bad_magic, "format_error.335", "magic number");
  std::string big_endian = legacy_pth_header();
  big_endian[big_endian.size() - 3] = static_cast<char>(0x89);  // little_endian: False
  refuses(dir, big_endian, "format_error.320", "big-endian");
  std::string huge_count = legacy;
  const std::size_t first_count = legacy.size() - 17796 - 38 * 8;  // the storages: 38 counts + 17796 bytes
  huge_count[first_count + 6] = 0x10;
  refuses(dir, huge_count, "format_error.301", "declares");
}

TEST_CASE("pth: every truncation of torch's files is a clean format error", "[io][weights][pth]") {
  scratch_dir dir;
  for (const char* name : {"vgg_tiny.zip.pth", "vgg_tiny.legacy.pth", "views.zip.pth", "views.legacy.pth"}) {
    const std::string good = read_file_bytes(weight_fixture(name));
    for_each_truncation(dir, good, 600, 37, [&](const std::string& path, std::size_t n) {
      INFO(name << " cut to " << n << " bytes");
      CHECK_THROWS_AS(nst::load_pth<float>(path), nst::format_error);
    });
  }
  CHECK_THROWS_WITH(nst::load_pth<float>(dir.file("absent.pth")), Catch::Contains("io_error.400") && Catch::Contains("absent.pth"));
}
