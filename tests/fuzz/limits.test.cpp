// limits.test.cpp — hostile files that declare enormous sizes must be refused from what they
// declare, before anything that large is allocated (issue 8). Each case here allocated (or tried
// to) before its fix; with the fix it is a format_error in milliseconds and a few kilobytes.
// The image-size limits (core/limits.hpp) are tested in tests/io/image.test.cpp.
#include <nst/io/pth.hpp>
#include <nst/io/safetensors.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "../io/detail/weight_test_support.hpp"

namespace {
using namespace nst_test;

std::string pickle_long(std::int64_t v) { return op(0x8a) + op(8) + le_bytes(static_cast<std::uint64_t>(v), 8); }

// A state dict {"t": tensor of `size` elements (stride 1) of a FloatStorage "0" that declares
// `storage_numel` elements}, as the pickle of a .pth file.
std::string huge_tensor_state_dict(std::int64_t storage_numel, std::int64_t size) {
  const std::string storage = pickle_tuple({pickle_str("storage"), pickle_global("torch", "FloatStorage"), pickle_str("0"),
                                            pickle_str("cpu"), pickle_long(storage_numel)}) + "Q";
  const std::string tensor = pickle_global("torch._utils", "_rebuild_tensor_v2") +
                             pickle_tuple({storage, pickle_long(0), pickle_tuple({pickle_long(size)}),
                                           pickle_tuple({pickle_long(1)}), op(0x89),
                                           pickle_global("collections", "OrderedDict") + ")R"}) + "R";
  return pickle_proto2(pickle_global("collections", "OrderedDict") + ")R(" + pickle_str("t") + tensor + "u");
}

}  // namespace

TEST_CASE("limits: a .pth tensor of 2^40 elements whose storage holds 6 is refused without allocating",
          "[fuzz][io][limits]") {
  scratch_dir dir;
  const std::int64_t huge = std::int64_t{1} << 40;  // 4 TiB as float
  const std::string six_floats = f32_bytes({0, 1, 2, 3, 4, 5});
  const std::string zip = dir.write("huge.zip.pth", make_pth_zip(huge_tensor_state_dict(huge, huge), {{"0", six_floats}}));
  CHECK_THROWS_WITH(nst::load_pth<float>(zip), Catch::Contains("format_error.337") && Catch::Contains("holds 24 bytes") &&
                                                   Catch::Contains("1099511627776 elements"));
  // The legacy format: the list of storage keys, then storage "0" as an element count and bytes.
  const std::string legacy = dir.write("huge.legacy.pth", legacy_pth_header() + huge_tensor_state_dict(huge, huge) +
                                                              pickle_proto2("(" + pickle_str("0") + "l") +
                                                              le_bytes(6, 8) + six_floats);
  CHECK_THROWS_WITH(nst::load_pth<float>(legacy), Catch::Contains("format_error.337") && Catch::Contains("holds 24 bytes"));
  // What the file declares is still listed by inspect, which reads no data.
  CHECK(nst::inspect_pth(zip).at(0).dims == nst::shape({huge}));
}

TEST_CASE("limits: a safetensors header declaring a 10^12-element tensor is refused without allocating",
          "[fuzz][io][limits]") {
  scratch_dir dir;
  const std::string header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000],\"data_offsets\":[0,4000000000000]}}";
  const std::string path = dir.write("huge.safetensors", safetensors_bytes(header, f32_bytes({1, 2})));
  CHECK_THROWS_WITH(nst::load_safetensors<float>(path),
                    Catch::Contains("format_error.307") && Catch::Contains("4000000000000 bytes") &&
                        Catch::Contains("truncated file?"));
  CHECK_THROWS_AS(nst::inspect_safetensors(path), nst::format_error);
}

TEST_CASE("limits: a safetensors header of millions of tiny JSON values is refused while parsing",
          "[fuzz][io][limits]") {
  // 2 bytes of text per value ("0,") but ~100 bytes of memory each: a 100 MB header once took
  // 5 GB before its rank was checked. The JSON reader now stops at 2^20 values.
  scratch_dir dir;
  std::string zeros = "0";
  for (int i = 0; i < 1 << 20; ++i) zeros += ",0";
  const std::string path = dir.write("wide.safetensors",
                                     safetensors_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[" + zeros + "],\"data_offsets\":[0,0]}}", ""));
  CHECK_THROWS_WITH(nst::load_safetensors<float>(path),
                    Catch::Contains("format_error.303") && Catch::Contains("more than 1048576 values"));
  // A header with many tensors well below the bound still loads.
  std::string header = "{";
  for (int i = 0; i < 2000; ++i)
    header += (i ? ",\"t" : "\"t") + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" +
              std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
  const std::string many = dir.write("many.safetensors", safetensors_bytes(header + "}", std::string(8000, '\0')));
  CHECK(nst::load_safetensors<float>(many).names.size() == 2000);
}
