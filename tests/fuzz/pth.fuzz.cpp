// pth.fuzz.cpp — libFuzzer harness for the PyTorch .pth reader: the zip container, the
// restricted unpickler and the legacy (PyTorch 0.x) format, through load_pth and inspect_pth.
//
//   tests/fuzz/run.sh 60            (builds, seeds and runs every harness for 60 s)
#include <nst/io/pth.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nst_fuzz::input_file file("pth");
  const std::string& path = file.write(data, size);
  try {
    nst::inspect_pth(path);
  } catch (const nst::error&) {
  }
  try {
    nst::load_pth<float>(path);
  } catch (const nst::error&) {
  }
  return 0;
}
