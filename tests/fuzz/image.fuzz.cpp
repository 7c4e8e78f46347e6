// image.fuzz.cpp — libFuzzer harness for load_image: nst's header checks and stb_image's
// decoders (PNG, JPEG, BMP, TGA, GIF, PSD, HDR, PIC, PNM), compiled from Debian's stb_image.h
// with the same instrumentation (stb_implementation.cpp) so that the fuzzer sees inside them.
//
//   tests/fuzz/run.sh 60            (builds, seeds and runs every harness for 60 s)
#include <nst/io/image.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nst_fuzz::input_file file("image");
  const std::string& path = file.write(data, size);
  try {
    nst::load_image<float>(path);
  } catch (const nst::error&) {
  }
  return 0;
}
