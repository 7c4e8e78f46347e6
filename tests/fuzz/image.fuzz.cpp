// image.fuzz.cpp — libFuzzer harness for load_image: nst's checks (format signatures, JPEG
// Huffman tables, size limits) and the stb_image decoders it hands files to (PNG, JPEG, BMP, TGA),
// compiled from Debian's stb_image.h with the same instrumentation (stb_implementation.cpp) so
// that the fuzzer sees inside them.
//
//   tests/fuzz/run.sh 60 image      (builds, seeds and runs the harness for 60 s)
#include <nst/io/image.hpp>

#include "fuzz_input.hpp"

// UndefinedBehaviorSanitizer's options for this program: stop at the first report (the one check
// made recoverable in stb must still be fatal elsewhere) and skip the known one in ubsan.supp.
// UBSAN_OPTIONS, when set, is applied after these.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:suppressions=" NST_FUZZ_UBSAN_SUPPRESSIONS; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nst_fuzz::input_file file("image");
  const std::string& path = file.write(data, size);
  try {
    nst::load_image<float>(path);
  } catch (const nst::error&) {
  }
  return 0;
}
