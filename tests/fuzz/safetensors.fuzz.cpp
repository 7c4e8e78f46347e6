// safetensors.fuzz.cpp — libFuzzer harness for the safetensors reader (header JSON, offsets,
// dtypes, shapes, data) and for building a VGG19 from whatever it accepts.
//
//   tests/fuzz/run.sh 60            (builds, seeds and runs every harness for 60 s)
#include <nst/io/safetensors.hpp>
#include <nst/nn/vgg19.hpp>

#include <utility>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nst_fuzz::input_file file("safetensors");
  const std::string& path = file.write(data, size);
  try {
    nst::inspect_safetensors(path);
  } catch (const nst::error&) {
  }
  try {
    nst::weight_file<float> weights = nst::load_safetensors<float>(path);
    nst::vgg19<float> net(std::move(weights));  // shape and value checks of the network
    (void)net.available_layers();
  } catch (const nst::error&) {
  }
  return 0;
}
