// nst/style/stylize.hpp — the style-transfer driver: one options struct, one call.
//
//   auto net = nst::vgg19<float>::from_file("weights/vgg19.safetensors");
//   nst::stylize_options options;                  // neural-style's defaults
//   options.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
//   nst::tensor<float> result = nst::stylize(net, content, {style}, options);
//
// Images in and out are RGB [1,3,H,W] with values in [0,1]. What happens, in order:
//   1. the content is resized so its longer side is `image_size` (unchanged when it already
//      is), each style image to `image_size * style_scale`;
//   2. targets are computed once: the content's activations at the content layers, and the
//      style images' Gram matrices at the style layers, blended by `style_blend_weights`;
//   3. the image x is initialised (content, small random noise, or a given image) in the
//      network's input space (the weights' preprocessing) and optimised with L-BFGS or Adam on
//        content_weight * Σ mean((F - P)^2) + style_weight * Σ mean((G - A)^2) + tv_weight * TV(x);
//   4. x is mapped back to RGB in [0,1]; with `original_colors` the result keeps its luminance
//      and takes the content's chrominance.
// An observer sees every iteration (losses by term, wall time), for progress bars and logs.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "../loss.hpp"
#include "../nn.hpp"
#include "../ops/resize.hpp"
#include "../optim.hpp"
#include "color.hpp"

namespace nst {

enum class optimizer_kind { lbfgs, adam };
enum class init_method { content, random, image };

struct stylize_options {
  index_t image_size = 512;          // longer side of the result; 0 keeps the content's size
  double style_scale = 1.0;          // style images are resized to image_size * style_scale
  std::vector<double> style_blend_weights;  // one per style image; empty = equal
  int iterations = 1000;
  optimizer_kind optimizer = optimizer_kind::lbfgs;
  double learning_rate = 0;          // 0 = the optimizer's default: 10 for Adam, 1 for L-BFGS
  int lbfgs_history = 100;
  line_search lbfgs_line_search = line_search::none;  // none = neural-style's L-BFGS
  double relative_tolerance = 0;     // stop early when the relative loss change falls below it
  double content_weight = 5;
  double style_weight = 100;
  double tv_weight = 1e-3;
  std::vector<std::string> content_layers = {"relu4_2"};
  std::vector<std::string> style_layers = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
  init_method init = init_method::random;
  std::uint64_t seed = 0;            // for init = random
  bool original_colors = false;
};

// What the observer sees after each iteration.
template <class T>
struct stylize_progress {
  int iteration = 0;       // 1-based
  int iterations = 0;      // the planned total
  int evaluations = 0;     // loss evaluations so far (L-BFGS line searches evaluate more than once)
  double loss = 0;         // total weighted loss
  loss_breakdown parts;    // "content", "style", "tv": each weighted term
  double seconds = 0;      // wall time of this iteration
  std::function<tensor<T>()> image;  // the current result as an RGB image (computed on demand)
};

namespace detail {

// Deterministic standard normal noise (Box-Muller on a 64-bit generator): the same seed gives
// the same image on every platform and standard library.
template <class T>
void fill_normal(tensor<T>& t, std::uint64_t seed, double stddev) {
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  auto uniform = [&state] {  // splitmix64 -> (0, 1]
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (static_cast<double>(z >> 11) + 1.0) / 9007199254740992.0;
  };
  const double two_pi = 6.283185307179586;
  for (index_t i = 0; i < t.size(); i += 2) {
    const double radius = std::sqrt(-2.0 * std::log(uniform())) * stddev;
    const double angle = two_pi * uniform();
    t[i] = static_cast<T>(radius * std::cos(angle));
    if (i + 1 < t.size()) t[i + 1] = static_cast<T>(radius * std::sin(angle));
  }
}

// Calls the observer; true unless it returned false (a request to stop).
template <class Observer, class Progress>
bool call_observer(Observer& observer, const Progress& p) {
  if constexpr (std::is_same<decltype(observer(p)), bool>::value) {
    return observer(p);
  } else {
    observer(p);
    return true;
  }
}

inline void validate(const stylize_options& o, std::size_t style_count) {
  NST_CHECK(o.image_size >= 0, value_error, 297, "stylize: image_size must be >= 0, got ",
            o.image_size);
  NST_CHECK(o.style_scale > 0 && std::isfinite(o.style_scale), value_error, 297,
            "stylize: style_scale must be a positive number, got ", o.style_scale);
  NST_CHECK(o.iterations >= 0, value_error, 297, "stylize: iterations must be >= 0, got ", o.iterations);
  NST_CHECK(style_count > 0, value_error, 297, "stylize: no style image given");
  NST_CHECK(o.style_blend_weights.empty() || o.style_blend_weights.size() == style_count, value_error, 297,
            "stylize: ", o.style_blend_weights.size(), " style blend weights for ", style_count, " style images");
  for (double w : {o.content_weight, o.style_weight, o.tv_weight, o.learning_rate})
    NST_CHECK(w >= 0 && std::isfinite(w), value_error, 297,
              "stylize: loss weights and the learning rate must be finite and >= 0, got ", w);
  NST_CHECK(o.lbfgs_history > 0, value_error, 297, "stylize: lbfgs_history must be positive, got ", o.lbfgs_history);
}

}  // namespace detail

struct no_stylize_observer {
  template <class T>
  void operator()(const stylize_progress<T>&) const {}
};

// Stylizes `content` with `styles` (RGB [1,3,H,W] in [0,1]) through `net`. `init_image` is used
// when options.init == init_method::image (resized to the content's size).
template <class T, class Observer = no_stylize_observer>
tensor<T> stylize(const vgg19<T>& net, const tensor<T>& content, const std::vector<tensor<T>>& styles,
                  const stylize_options& options, Observer&& observer = {}, const tensor<T>& init_image = {}) {
  detail::validate(options, styles.size());
  NST_CHECK(content.rank() == 4 && content.dim(0) == 1 && content.dim(1) == 3, shape_error, 171,
            "stylize: the content image must be [1,3,H,W], got ", content.shape());
  const preprocessing prep = net.input_preprocessing();

  const tensor<T> content_rgb =
      options.image_size > 0 ? resize_to_longer_side(content, options.image_size) : content;
  const index_t style_size = static_cast<index_t>(
      std::lround(static_cast<double>(std::max(content_rgb.dim(2), content_rgb.dim(3))) * options.style_scale));

  // Targets, once.
  content_loss<T> content_term(static_cast<T>(options.content_weight), options.content_layers);
  style_loss<T> style_term(static_cast<T>(options.style_weight), options.style_layers);
  const tensor<T> content_x = to_network(content_rgb, prep);
  content_term.set_targets(net.features(content_x, options.content_layers));
  std::vector<feature_map<T>> style_features;
  for (const tensor<T>& style : styles) {
    NST_CHECK(style.rank() == 4 && style.dim(0) == 1 && style.dim(1) == 3, shape_error, 171,
              "stylize: style images must be [1,3,H,W], got ", style.shape());
    style_features.push_back(net.features(to_network(resize_to_longer_side(style, style_size), prep), options.style_layers));
  }
  std::vector<T> blend(options.style_blend_weights.begin(), options.style_blend_weights.end());
  style_term.set_targets(style_features, blend);
  style_features.clear();
  const auto objective_terms = content_term + style_term + tv_loss<T>(static_cast<T>(options.tv_weight));
  const std::vector<std::string> layers = objective_terms.layers();

  // The starting point, in network space.
  tensor<T> x;
  switch (options.init) {
    case init_method::content: x = content_x; break;
    case init_method::random:
      x = tensor<T>(content_x.shape());
      detail::fill_normal(x, options.seed, 0.001);  // neural-style's init: randn * 0.001
      break;
    case init_method::image:
      NST_CHECK(init_image.rank() == 4 && init_image.dim(0) == 1 && init_image.dim(1) == 3, shape_error, 171,
                "stylize: init = image needs an RGB init image [1,3,H,W], got ", init_image.shape());
      x = to_network(resize(init_image, content_x.dim(2), content_x.dim(3)), prep);
      break;
  }

  // The objective the optimizer sees: loss and gradient at x, through the tape.
  tape<T> tp;
  loss_breakdown parts;
  int evaluations = 0;
  int iterations_done = 0;  // as reported to the observer
  auto objective = [&](const tensor<T>& at, tensor<T>& gradient) -> T {
    tp.clear();
    const var<T> image = tp.variable(at);
    const feature_vars<T> features = net.features(tp, image, layers);
    parts.clear();
    const var<T> total = objective_terms.evaluate(loss_inputs<T>{image, features}, &parts);
    const T loss = total.value()[0];
    ++evaluations;
    NST_CHECK(std::isfinite(loss), value_error, 298, "stylize: the loss became ", loss, " at evaluation ",
              evaluations,
              evaluations == 1 ? std::string(", the starting image") : ", in iteration " + std::to_string(iterations_done + 1),
              " (check the weights file and the loss weights)");
    tp.backward(total);
    gradient = image.grad();
    return loss;
  };

  // x in network space -> the RGB result the user sees.
  auto to_image = [&](const tensor<T>& network_x) {
    tensor<T> rgb = from_network(network_x, prep);
    for (T& v : rgb) v = std::min(T(1), std::max(T(0), v));
    return options.original_colors ? original_colors(rgb, content_rgb) : rgb;
  };

  auto report = [&](const iteration_report& r) {
    iterations_done = r.iteration;
    stylize_progress<T> p;
    p.iteration = r.iteration;
    p.iterations = options.iterations;
    p.evaluations = r.evaluations;
    p.loss = r.loss;
    p.parts = parts;
    p.seconds = r.seconds;
    p.image = [&] { return to_image(x); };
    return detail::call_observer(observer, p);
  };

  stop_criteria stop;
  stop.max_iterations = options.iterations;
  stop.relative_tolerance = options.relative_tolerance;
  if (options.iterations > 0) {
    if (options.optimizer == optimizer_kind::adam) {
      adam policy;
      if (options.learning_rate > 0) policy.learning_rate = options.learning_rate;
      minimize(objective, x, policy, stop, report);
    } else {
      lbfgs policy;
      policy.history = options.lbfgs_history;
      policy.search = options.lbfgs_line_search;
      policy.tolerance_grad = -1;  // as neural-style: run all iterations unless relative_tolerance says stop
      policy.tolerance_change = -1;
      if (options.learning_rate > 0) policy.learning_rate = options.learning_rate;
      minimize(objective, x, policy, stop, report);
    }
  }
  tp.clear();

  return to_image(x);
}

}  // namespace nst
