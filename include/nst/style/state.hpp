// nst/style/state.hpp — everything a stylize() run carries from one iteration to the next, so
// that a run can be saved (nst::save_checkpoint, style/checkpoint.hpp) and continued later with
// bit-identical results.
//
//   nst::stylize_state<float> state;                    // empty: stylize starts afresh
//   auto image = nst::stylize(net, content, {style}, options, observer, {}, &state);
//   nst::save_checkpoint("run.ckpt", state);            // after it returns, or in the observer
//   ...
//   nst::stylize_state<float> resumed = nst::load_checkpoint<float>("run.ckpt");
//   image = nst::stylize(net, content, {style}, options, observer, {}, &resumed);  // continues
//
// With scales > 1 (coarse to fine) the state is the last scale's: stylize() fills it only there,
// and a resumed run goes straight to the last scale.
//
// `run` names the run: the options that change the trajectory and fingerprints of the targets
// (which depend on the images, the weights, the sizes and the layers). stylize() fills it and,
// when it resumes, refuses a state whose `run` differs from its own (value_error 256), naming
// the first difference.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "../core/tensor.hpp"
#include "../optim/adam.hpp"
#include "../optim/lbfgs.hpp"

namespace nst {

// The state of a stylize() run after `iteration` iterations. Both optimizer states are members;
// only the one the run uses is filled.
template <class T>
struct stylize_state {
  int iteration = 0;     // iterations made so far (0: the run has not started)
  int evaluations = 0;   // loss evaluations so far, the one at the starting point included
  double loss = 0;       // the loss at x
  tensor<T> x;           // the image being optimised, in the network's input space [1,3,H,W]
  lbfgs_state<T> lbfgs;  // L-BFGS's history and counters (optimizer lbfgs)
  adam_state<T> adam;    // Adam's moments, step and iterate average (optimizer adam)
  std::map<std::string, std::string> run;  // what must match to resume (see the overview)
};

namespace detail {

constexpr std::uint64_t fingerprint_start = 0xcbf29ce484222325ull;

// Folds a tensor's shape and bytes into a 64-bit FNV-1a hash (start from fingerprint_start, chain
// several tensors by passing the last result): it changes when any value changes in any bit.
template <class T>
std::uint64_t fingerprint(const tensor<T>& t, std::uint64_t hash = fingerprint_start) {
  auto mix = [&hash](const void* data, std::size_t size) {
    const unsigned char* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;
  };
  for (int axis = 0; axis < t.rank(); ++axis) {
    const index_t d = t.dim(axis);
    mix(&d, sizeof d);
  }
  mix(t.data(), sizeof(T) * static_cast<std::size_t>(t.size()));
  return hash;
}

// A hash as 16 hex digits.
inline std::string hex_text(std::uint64_t hash) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

// A double as text that reads back to the same bits (hexadecimal floating point, "0x1.8p+1").
inline std::string exact_text(double value) {
  char text[40];
  std::snprintf(text, sizeof text, "%a", value);
  return text;
}

}  // namespace detail
}  // namespace nst
