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
//
// Artistic control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer"):
//   - style_statistic: the style loss compares Gram matrices (gram), per-channel means and
//     covariances (mean_covariance) or Gaussian Wasserstein-2 distances (wasserstein);
//     style_layer_weights weight each style layer;
//   - style_masks: style image k shapes only where mask k is non-zero (guided Gram matrices);
//   - match_style_colors: the style images are recoloured to the content's colour mean and
//     covariance before anything else; luminance_only: content and style enter the network as
//     luminance (the style's matched to the content's), and the result takes the content's colours;
//   - scales > 1, coarse to fine: steps 1-3 run first at min_size, then at sizes about x√2 apart
//     up to image_size, each starting from the size before (detail::next_scale_start: with init =
//     content, the content plus the upsampled change); the observer counts iterations across
//     scales (a resumed state belongs to the last scale, which a resumed run goes to at once);
//   - adam_average: the result is the average of Adam's iterates (optim/adam.hpp).
// Large images (tile_size): a scale larger than tile_size is optimised in overlapping tiles, one
// after another in raster order, each starting from the canvas under it (so from its finished
// neighbours in the overlaps), with its part of the content as content target and the whole
// style's statistics (measured in tiles too when large) as style target, and blended back
// linearly across the overlaps (style/tiles.hpp). With scales > 1 the coarse scales give the
// tiles a common start, so the result holds together across tiles.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "../loss.hpp"
#include "../nn.hpp"
#include "../ops/resize.hpp"
#include "../optim.hpp"
#include "color.hpp"
#include "state.hpp"
#include "targets.hpp"
#include "tiles.hpp"

namespace nst {

// Which optimizer stylize() uses.
enum class optimizer_kind { lbfgs, adam };
// The starting image: the content, small seeded noise (neural-style's default) or a given image.
enum class init_method { content, random, image };
// The statistic the style loss matches: style_loss, mean_covariance_loss, wasserstein_style_loss.
enum class style_loss_kind { gram, mean_covariance, wasserstein };

// Everything stylize() can be asked to do, with neural-style's defaults; stylize() checks the
// values (value_error naming the field) before any work.
struct stylize_options {
  index_t image_size = 512;          // longer side of the result; 0 keeps the content's size
  double style_scale = 1.0;          // style images are resized to image_size * style_scale
  std::vector<double> style_blend_weights;  // one per style image; empty = equal
  int iterations = 1000;
  optimizer_kind optimizer = optimizer_kind::lbfgs;
  double learning_rate = 0;          // 0 = the optimizer's default: 10 for Adam, 1 for L-BFGS
  int lbfgs_history = 100;
  line_search lbfgs_line_search = line_search::none;  // none = neural-style's L-BFGS
  double lbfgs_initial_scale = 1;    // L-BFGS's initial inverse Hessian c gamma I (lbfgs::initial_scale)
  double relative_tolerance = 0;     // stop early when the relative loss change falls below it
  double content_weight = 5;
  double style_weight = 100;
  double tv_weight = 1e-3;
  std::vector<std::string> content_layers = {"relu4_2"};
  std::vector<std::string> style_layers = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
  init_method init = init_method::random;
  std::uint64_t seed = 0;            // for init = random
  bool original_colors = false;
  style_loss_kind style_statistic = style_loss_kind::gram;  // what the style loss compares
  std::vector<double> style_layer_weights;  // one finite weight >= 0 per style layer; empty = all 1
  // One mask [1,1,H,W] (any size, values in [0,1]) per style image: style k goes where mask k is
  // non-zero (weighted by it); empty = every style everywhere, blended. Excludes style_blend_weights.
  std::vector<tensor<float>> style_masks;
  color_match match_style_colors = color_match::none;  // recolour the styles to the content's colours first
  bool luminance_only = false;       // transfer on luminance only; the result keeps the content's colours
  int scales = 1;                    // coarse to fine: how many sizes, the last one image_size
  index_t min_size = 0;              // longer side at the first scale (>= 16); 0 = image_size / √2^(scales-1)
  std::vector<int> scale_iterations; // iterations at each scale, coarse first; empty = `iterations` at each
  double adam_average = 0;           // decay of Adam's iterate average, in [0,1); 0 = off
  // Images (at any scale) whose longer side exceeds tile_size are optimised in overlapping tiles
  // of that side, and large style images measured in tiles, so memory follows the tile, not the
  // image; 0 = in one piece. Excludes style_masks and resuming.
  index_t tile_size = 0;             // 0 or >= 64
  index_t tile_overlap = 64;         // pixels neighbouring tiles share, blended: 0..tile_size/2
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
  int tile = 0;            // in a run in tiles: the tile being optimised (1-based), of `tiles`;
  int tiles = 0;           // 0 for a run in one piece. iteration and iterations count all tiles'
  std::function<tensor<T>()> image;  // the current result as an RGB image (computed on demand)
  stylize_state<T>* state = nullptr;  // the run's state after this iteration, for save_checkpoint
                                      // (style/checkpoint.hpp); valid during the call only;
                                      // null before the last scale of a coarse-to-fine run
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
  NST_CHECK(o.lbfgs_initial_scale > 0 && std::isfinite(o.lbfgs_initial_scale), value_error, 297,
            "stylize: lbfgs_initial_scale must be finite and positive, got ", o.lbfgs_initial_scale);
  NST_CHECK(o.style_layer_weights.empty() || o.style_layer_weights.size() == o.style_layers.size(), value_error, 247,
            "stylize: ", o.style_layer_weights.size(), " style layer weights for ", o.style_layers.size(),
            " style layers");
  NST_CHECK(o.style_masks.empty() || o.style_masks.size() == style_count, value_error, 248, "stylize: ",
            o.style_masks.size(), " style masks for ", style_count, " style images");
  NST_CHECK(o.style_masks.empty() || o.style_blend_weights.empty(), value_error, 242,
            "stylize: style_masks and style_blend_weights exclude each other (masks say where each style goes)");
  NST_CHECK(o.scales >= 1 && o.scales <= 16, value_error, 243, "stylize: scales must be 1..16, got ", o.scales);
  NST_CHECK(o.min_size == 0 || (o.min_size >= 16 && (o.image_size == 0 || o.min_size <= o.image_size)), value_error,
            244, "stylize: min_size must be 0 or 16..image_size, got ", o.min_size, " (image_size ", o.image_size, ")");
  NST_CHECK(o.scale_iterations.empty() || static_cast<int>(o.scale_iterations.size()) == o.scales, value_error, 245,
            "stylize: ", o.scale_iterations.size(), " scale iterations for ", o.scales, " scales");
  for (int n : o.scale_iterations)
    NST_CHECK(n >= 0, value_error, 245, "stylize: scale iterations must be >= 0, got ", n);
  NST_CHECK(o.adam_average >= 0 && o.adam_average < 1, value_error, 246,
            "stylize: adam_average must lie in [0, 1), got ", o.adam_average);
  NST_CHECK(o.tile_size == 0 || (o.tile_size >= 64 && o.tile_overlap >= 0 && o.tile_overlap <= o.tile_size / 2),
            value_error, 284, "stylize: tile_size must be 0 or >= 64 and tile_overlap 0..tile_size/2, got ", o.tile_size,
            " and ", o.tile_overlap);
  NST_CHECK(o.tile_size == 0 || o.style_masks.empty(), value_error, 285,
            "stylize: style_masks work on images in one piece (tile_size must be 0)");
}

// The longer side at each scale, coarse first: geometric from min_size (default: final / √2^(scales-1),
// at least 16) to `final_size`.
inline std::vector<index_t> scale_sizes(const stylize_options& o, index_t final_size) {
  const double first = o.min_size > 0 ? static_cast<double>(o.min_size)
                                      : std::max(16.0, static_cast<double>(final_size) / std::pow(2.0, 0.5 * (o.scales - 1)));
  std::vector<index_t> sizes;
  for (int i = 0; i < o.scales; ++i) {
    const double t = o.scales > 1 ? static_cast<double>(i) / (o.scales - 1) : 1.0;
    sizes.push_back(static_cast<index_t>(std::lround(first * std::pow(static_cast<double>(final_size) / first, t))));
  }
  return sizes;
}

// The options a resumed run must share with the run it continues: those that change the
// trajectory and are not already covered by the targets' fingerprints.
template <class T>
std::map<std::string, std::string> run_identity(const stylize_options& o) {
  auto join = [](const auto& items) {
    std::ostringstream out;
    for (const auto& item : items) out << (out.tellp() > 0 ? "," : "") << item;
    return out.str();
  };
  auto number = [](double v) { return exact_text(v); };
  return {{"scalar", std::is_same<T, float>::value ? "float" : "double"},
          {"optimizer", o.optimizer == optimizer_kind::adam ? "adam" : "lbfgs"},
          {"learning_rate", number(o.learning_rate)},
          {"lbfgs_history", std::to_string(o.lbfgs_history)},
          {"line_search", to_string(o.lbfgs_line_search)},
          {"lbfgs_initial_scale", number(o.lbfgs_initial_scale)},
          {"content_weight", number(o.content_weight)},
          {"style_weight", number(o.style_weight)},
          {"tv_weight", number(o.tv_weight)},
          {"content_layers", join(o.content_layers)},
          {"style_layers", join(o.style_layers)},
          {"style_blend_weights", join(o.style_blend_weights)},
          {"original_colors", o.original_colors ? "yes" : "no"},
          {"style_statistic", std::to_string(static_cast<int>(o.style_statistic))},
          {"style_layer_weights", join(o.style_layer_weights)},
          {"style_masks", std::to_string(o.style_masks.size())},
          {"match_style_colors", std::to_string(static_cast<int>(o.match_style_colors))},
          {"luminance_only", o.luminance_only ? "yes" : "no"},
          {"adam_average", number(o.adam_average)}};
}

}  // namespace detail

// The default observer of stylize(): sees nothing, never stops the run.
struct no_stylize_observer {
  template <class T>
  void operator()(const stylize_progress<T>&) const {}
};

namespace detail {

// Minimises `terms` over run.x with the optimizer of `options`, from run's state up to
// options.iterations, calling on_iteration(report, parts) after each iteration (false stops the
// run); `evaluation_offset` counts the evaluations made before (a resumed run's). Returns the
// result in network space: x, or with adam_average the average of Adam's iterates.
template <class T, class Terms, class OnIteration>
tensor<T> minimise_image(const vgg19<T>& net, const Terms& terms, const stylize_options& options,
                         stylize_state<T>& run, int evaluation_offset, OnIteration&& on_iteration) {
  const std::vector<std::string> layers = terms.layers();
  const int iteration_offset = run.iteration;
  tape<T> tp;
  memory_plan memory;  // each evaluation allocates the same tensors: from the second on, in the plan's arena
  loss_breakdown parts;
  int evaluations = evaluation_offset;
  auto objective = [&](const tensor<T>& at, tensor<T>& gradient) -> T {
    const planned_memory scope(memory);
    const var<T> image = tp.variable(at);
    const feature_vars<T> features = net.features(tp, image, layers);
    parts.clear();
    const var<T> total = terms.evaluate(loss_inputs<T>{image, features}, &parts);
    const T loss = total.value()[0];
    ++evaluations;
    NST_CHECK(std::isfinite(loss), value_error, 298, "stylize: the loss became ", loss, " at evaluation ",
              evaluations,
              evaluations == 1 ? std::string(", the starting image") : ", in iteration " + std::to_string(run.iteration + 1),
              " (check the weights file and the loss weights)");
    tp.backward(total, spent_values::release);  // values go as soon as no step reads them
    gradient = image.grad();
    tp.clear();  // the evaluation's tensors end inside the scope, so the plan has them all
    return loss;
  };
  auto report = [&](const iteration_report& r) {
    run.iteration = iteration_offset + r.iteration;
    run.evaluations = evaluation_offset + r.evaluations;
    run.loss = r.loss;
    return on_iteration(r, static_cast<const loss_breakdown&>(parts));
  };

  stop_criteria stop;
  stop.max_iterations = options.iterations - iteration_offset;
  stop.relative_tolerance = options.relative_tolerance;
  if (options.optimizer == optimizer_kind::adam) {
    adam policy;
    if (options.learning_rate > 0) policy.learning_rate = options.learning_rate;
    policy.average_decay = options.adam_average;
    if (stop.max_iterations > 0) minimize(objective, run.x, policy, run.adam, stop, report);
    return policy.averaged(run.adam, run.x);  // with adam_average the average of the iterates (x stays the last)
  }
  lbfgs policy;
  policy.history = options.lbfgs_history;
  policy.search = options.lbfgs_line_search;
  policy.initial_scale = options.lbfgs_initial_scale;
  policy.tolerance_grad = -1;  // as neural-style: run all iterations unless relative_tolerance says stop
  policy.tolerance_change = -1;
  if (options.learning_rate > 0) policy.learning_rate = options.learning_rate;
  if (stop.max_iterations > 0) minimize(objective, run.x, policy, run.lbfgs, stop, report);
  return run.x;
}

// Whether an image of height x width is optimised in tiles (options.tile_size).
inline bool in_tiles(const stylize_options& o, index_t height, index_t width) {
  return o.tile_size > 0 && std::max(height, width) > o.tile_size;
}

// How many tiles one scale of stylize() optimises (1: in one piece), the content's longer side
// brought to `image_size` (0: as it is).
inline std::size_t tile_count(const stylize_options& o, const shape& content, index_t image_size) {
  const auto [height, width] =
      image_size > 0 ? fit_longer_side(content[2], content[3], image_size) : std::make_pair(content[2], content[3]);
  return in_tiles(o, height, width) ? tile_grid(height, width, o.tile_size, o.tile_overlap).size() : 1;
}

// The objective of one run or tile: content loss against `content_features`, the style term
// (targets set), total variation, weighted by `options`.
template <class T, class StyleTerm>
auto objective_terms(const stylize_options& options, const feature_map<T>& content_features, const StyleTerm& style_term) {
  content_loss<T> content_term(static_cast<T>(options.content_weight), options.content_layers);
  content_term.set_targets(content_features);
  return content_term + style_term + tv_loss<T>(static_cast<T>(options.tv_weight));
}

// The observer's view of `run` after an iteration (image and state are filled by the caller).
template <class T>
stylize_progress<T> progress_of(const stylize_state<T>& run, const iteration_report& r, const loss_breakdown& parts,
                                int iterations) {
  stylize_progress<T> p;
  p.iteration = run.iteration;
  p.iterations = iterations;
  p.evaluations = run.evaluations;
  p.loss = r.loss;
  p.parts = parts;
  p.seconds = r.seconds;
  return p;
}

// Optimises `canvas` (network space, the starting image) tile by tile (tile_grid, raster order):
// each tile starts from what the canvas holds under it (its finished neighbours' results in the
// overlaps), is optimised against its part of the content (`content_x`) and the whole style's
// targets (in `style_term`), and is blended back (blend_tile). Returns the canvas; to_image maps
// a canvas to RGB for the observer's image().
template <class T, class StyleTerm, class Observer, class ToImage>
tensor<T> optimise_in_tiles(const vgg19<T>& net, const StyleTerm& style_term, const tensor<T>& content_x,
                            tensor<T> canvas, const stylize_options& options, Observer& observer, const ToImage& to_image) {
  const std::vector<tile> tiles = tile_grid(content_x.dim(2), content_x.dim(3), options.tile_size, options.tile_overlap);
  const int tile_count = static_cast<int>(tiles.size());
  int iterations_before = 0, evaluations_before = 0;
  bool stopped = false;
  for (int i = 0; i < tile_count && !stopped; ++i) {
    const tile& t = tiles[static_cast<std::size_t>(i)];
    const auto terms = objective_terms(options, net.features(crop(content_x, t), options.content_layers), style_term);
    stylize_state<T> piece;
    piece.x = crop(canvas, t);
    auto on_iteration = [&](const iteration_report& r, const loss_breakdown& parts) {
      stylize_progress<T> p = progress_of(piece, r, parts, options.iterations * tile_count);
      p.iteration += iterations_before;
      p.evaluations += evaluations_before;
      p.tile = i + 1;
      p.tiles = tile_count;
      p.image = [&] {
        tensor<T> whole = canvas;
        blend_tile(whole, piece.x, t);
        return to_image(whole);
      };
      stopped = !detail::call_observer(observer, p);
      return !stopped;
    };
    blend_tile(canvas, minimise_image(net, terms, options, piece, 0, on_iteration), t);
    iterations_before += options.iterations;
    evaluations_before += piece.evaluations;
  }
  return canvas;
}

// One scale of stylize() (options.scales ignored) with the style term StyleTerm; `styles` are
// already recoloured (match_style_colors) or grey (luminance_only). `state` as in stylize();
// `cache` (may be null) keeps the style statistics for later runs. An image whose longer side
// exceeds options.tile_size is optimised in tiles (optimise_in_tiles).
template <class StyleTerm, class T, class Observer>
tensor<T> stylize_single_scale(const vgg19<T>& net, const tensor<T>& content, const std::vector<tensor<T>>& styles,
                               const stylize_options& options, Observer&& observer, const tensor<T>& init_image,
                               stylize_state<T>* state, style_target_cache<T>* cache) {
  const preprocessing prep = net.input_preprocessing();
  const tensor<T> content_rgb =
      options.image_size > 0 ? resize_to_longer_side(content, options.image_size) : content;
  const index_t height = content_rgb.dim(2), width = content_rgb.dim(3);
  const index_t style_size = static_cast<index_t>(std::lround(static_cast<double>(std::max(height, width)) * options.style_scale));

  // Style targets, once (or from the cache).
  StyleTerm style_term(static_cast<T>(options.style_weight), options.style_layers,
                       std::vector<T>(options.style_layer_weights.begin(), options.style_layer_weights.end()));
  std::vector<tensor<T>> network_styles;
  for (const tensor<T>& style : styles) network_styles.push_back(to_network(resize_to_longer_side(style, style_size), prep));
  style_target_cache<T> own_cache;
  const std::vector<layer_statistics<T>>& style_statistics =
      (cache ? *cache : own_cache).measure(net, style_term, network_styles, options.tile_size);
  network_styles.clear();
  if (options.style_masks.empty()) {
    style_term.set_target_statistics(style_statistics,
                                     std::vector<T>(options.style_blend_weights.begin(), options.style_blend_weights.end()));
  } else {
    std::vector<tensor<T>> masks;
    for (const tensor<float>& mask : options.style_masks) masks.push_back(mask.template cast<T>());
    style_term.set_guided_target_statistics(style_statistics, masks);
  }
  const tensor<T> content_x = to_network(options.luminance_only ? luminance_image(content_rgb) : content_rgb, prep);

  // The starting point, in network space.
  auto starting_image = [&] {
    switch (options.init) {
      case init_method::random: {
        tensor<T> x(content_x.shape());
        detail::fill_normal(x, options.seed, 0.001);  // neural-style's init: randn * 0.001
        return x;
      }
      case init_method::image:
        NST_CHECK(init_image.rank() == 4 && init_image.dim(0) == 1 && init_image.dim(1) == 3, shape_error, 171,
                  "stylize: init = image needs an RGB init image [1,3,H,W], got ", init_image.shape());
        return to_network(resize(options.luminance_only ? luminance_image(init_image) : init_image, height, width), prep);
      case init_method::content: break;
    }
    return content_x;
  };
  // x in network space -> the RGB result the user sees.
  auto to_image = [&](const tensor<T>& network_x) {
    tensor<T> rgb = from_network(network_x, prep);
    for (T& v : rgb) v = std::min(T(1), std::max(T(0), v));
    return options.original_colors || options.luminance_only ? original_colors(rgb, content_rgb) : rgb;
  };

  if (in_tiles(options, height, width)) {
    NST_CHECK(!state || state->x.empty(), value_error, 286,
              "stylize: a run in tiles cannot be resumed (checkpoints hold runs in one piece; tile_size is ",
              options.tile_size, ", the image ", width, "x", height, ")");
    return to_image(optimise_in_tiles(net, style_term, content_x, starting_image(), options, observer, to_image));
  }

  const feature_map<T> content_features = net.features(content_x, options.content_layers);
  const auto terms = objective_terms(options, content_features, style_term);

  // The run's identity (for resuming): the options and fingerprints of the targets.
  std::map<std::string, std::string> identity = detail::run_identity<T>(options);
  std::uint64_t content_hash = detail::fingerprint_start, style_hash = detail::fingerprint_start;
  for (const auto& layer : content_features) content_hash = detail::fingerprint(layer.second, content_hash);
  for (const layer_statistics<T>& statistics : style_statistics)
    for (const auto& layer : statistics)
      for (const tensor<T>& statistic : layer.second) style_hash = detail::fingerprint(statistic, style_hash);
  identity["content_targets"] = detail::hex_text(content_hash);
  identity["style_targets"] = detail::hex_text(style_hash);

  // The run's state: resumed from `state`, or started afresh.
  stylize_state<T> own_state;
  stylize_state<T>& run = state ? *state : own_state;
  const bool resuming = !run.x.empty();
  if (resuming) {
    // An option the saved run does not name (a checkpoint of a version without it) had its default.
    const stylize_options default_options;
    const std::map<std::string, std::string> defaults = detail::run_identity<T>(default_options);
    for (const auto& [key, value] : identity) {
      const auto saved = run.run.find(key);
      const auto default_value = defaults.find(key);
      std::string saved_value = "(absent)";
      if (saved != run.run.end())
        saved_value = saved->second;
      else if (default_value != defaults.end())
        saved_value = default_value->second;
      NST_CHECK(saved_value == value, value_error, 256, "stylize: cannot resume: the saved run's ", key, " is '",
                saved_value, "', this run's '", value,
                key.find("targets") != std::string::npos
                    ? "' (the images, image size, style scale, layers, weights or machine differ)"
                    : "'");
    }
    NST_CHECK(run.x.shape() == content_x.shape(), value_error, 256, "stylize: cannot resume: the saved image is ",
              run.x.shape(), ", this run's ", content_x.shape());
  } else {
    run = stylize_state<T>();
    run.x = starting_image();
  }
  run.run = identity;
  const int evaluation_offset = resuming ? std::max(0, run.evaluations - 1) : 0;  // x is evaluated again
  auto on_iteration = [&](const iteration_report& r, const loss_breakdown& parts) {
    stylize_progress<T> p = progress_of(run, r, parts, options.iterations);
    p.state = &run;
    p.image = [&] { return to_image(run.x); };
    return detail::call_observer(observer, p);
  };
  return to_image(minimise_image(net, terms, options, run, evaluation_offset, on_iteration));
}

// Coarse to fine: the start of the scale of longer side `size`, from the result of the scale
// before (longer side `coarse_size`). With init = content: the content at this size plus the
// upsampled change the coarse scale made to its content. The start keeps the content's fine
// detail, which upsampling the result would blur and the optimiser would have to make again
// (bench/time_to_result.py at 256 px after 200 iterations at 128: PyTorch's loss reached after 934
// more iterations; from the upsampled result, not in 1000). Otherwise the upsampled result.
template <class T>
tensor<T> next_scale_start(const tensor<T>& coarse_result, const tensor<T>& content, init_method init,
                           index_t coarse_size, index_t size) {
  if (init != init_method::content) return coarse_result;  // stylize_single_scale resizes it
  tensor<T> change = coarse_result;
  change.vector() -= resize_to_longer_side(content, coarse_size).vector();
  tensor<T> start = resize_to_longer_side(content, size);
  start.vector() += resize(change, start.dim(2), start.dim(3)).vector();
  return start;
}

}  // namespace detail

// Stylizes `content` with `styles` (RGB [1,3,H,W] in [0,1]) through `net`. `init_image` is used
// when options.init == init_method::image (resized to the content's size). `state`, when given,
// is where the run keeps its state (see style/state.hpp): one holding an image (x not empty,
// e.g. from load_checkpoint) is resumed and continued up to options.iterations, after checking
// that it belongs to this run (value_error 256 names the first difference); when stylize
// returns it holds the final state, ready for save_checkpoint. With scales > 1 the state is the
// last scale's; a scale in tiles (options.tile_size) keeps none (value_error 286 when asked to
// resume one). `cache`, when given, keeps the style statistics for the next call (a batch of
// contents with the same styles measures them once; see style/targets.hpp). Errors: shape_error
// 171 for images that are not RGB, value_error 297, 240-246, 284, 285 for bad options.
template <class T, class Observer = no_stylize_observer>
tensor<T> stylize(const vgg19<T>& net, const tensor<T>& content, const std::vector<tensor<T>>& styles,
                  const stylize_options& options, Observer&& observer = {}, const tensor<T>& init_image = {},
                  stylize_state<T>* state = nullptr, style_target_cache<T>* cache = nullptr) {
  detail::validate(options, styles.size());
  NST_CHECK(content.rank() == 4 && content.dim(0) == 1 && content.dim(1) == 3, shape_error, 171,
            "stylize: the content image must be [1,3,H,W], got ", content.shape());
  std::vector<tensor<T>> prepared_styles;
  for (const tensor<T>& style : styles) {
    NST_CHECK(style.rank() == 4 && style.dim(0) == 1 && style.dim(1) == 3, shape_error, 171,
              "stylize: style images must be [1,3,H,W], got ", style.shape());
    tensor<T> recoloured = match_colors(style, content, options.match_style_colors);
    prepared_styles.push_back(options.luminance_only ? match_luminance(recoloured, content) : std::move(recoloured));
  }

  // Coarse to fine: each scale's result starts the next one; the observer sees one run.
  const index_t final_size = options.image_size > 0 ? options.image_size : std::max(content.dim(2), content.dim(3));
  const std::vector<index_t> sizes = detail::scale_sizes(options, final_size);
  std::vector<int> iterations = options.scale_iterations;
  if (iterations.empty()) iterations.assign(sizes.size(), options.iterations);
  // What the observer counts: each scale's iterations, times its tiles.
  std::vector<int> counted(sizes.size());
  for (std::size_t s = 0; s < sizes.size(); ++s)
    counted[s] = iterations[s] * static_cast<int>(detail::tile_count(options, content.shape(),
                                                                     sizes.size() > 1 ? sizes[s] : options.image_size));
  int total_iterations = 0;
  for (int n : counted) total_iterations += n;
  int iterations_before = 0;
  bool stopped = false;
  bool on_last_scale = false;  // only the last scale's state is the run's (and can be resumed)
  auto scale_observer = [&](const stylize_progress<T>& p) {
    stylize_progress<T> whole = p;
    if (!on_last_scale) whole.state = nullptr;
    whole.iteration += iterations_before;
    whole.iterations = total_iterations;
    stopped = !detail::call_observer(observer, whole);
    return !stopped;
  };
  const bool resuming = state && !state->x.empty();

  tensor<T> result;
  for (std::size_t s = 0; s < sizes.size() && !stopped; ++s) {
    const bool last = s + 1 == sizes.size();
    on_last_scale = last;
    if (resuming && !last) {  // a saved state belongs to the last scale
      iterations_before += counted[s];
      continue;
    }
    stylize_options scale_options = options;
    scale_options.image_size = sizes.size() > 1 ? sizes[s] : options.image_size;
    scale_options.iterations = iterations[s];
    if (s > 0 && !result.empty()) scale_options.init = init_method::image;
    const tensor<T> start = s > 0 && !result.empty()
                                ? detail::next_scale_start(result, content, options.init, sizes[s - 1], sizes[s])
                                : init_image;
    stylize_state<T>* scale_state = last ? state : nullptr;
    switch (options.style_statistic) {
      case style_loss_kind::gram:
        result = detail::stylize_single_scale<style_loss<T>>(net, content, prepared_styles, scale_options,
                                                             scale_observer, start, scale_state, cache);
        break;
      case style_loss_kind::mean_covariance:
        result = detail::stylize_single_scale<mean_covariance_loss<T>>(net, content, prepared_styles, scale_options,
                                                                       scale_observer, start, scale_state, cache);
        break;
      case style_loss_kind::wasserstein:
        result = detail::stylize_single_scale<wasserstein_style_loss<T>>(net, content, prepared_styles,
                                                                         scale_options, scale_observer, start,
                                                                         scale_state, cache);
        break;
    }
    iterations_before += counted[s];
  }
  if (std::max(result.dim(2), result.dim(3)) != final_size) {  // stopped before the last scale
    const auto [height, width] = fit_longer_side(content.dim(2), content.dim(3), final_size);
    result = resize(result, height, width);
  }
  return result;
}

}  // namespace nst
