// main.cpp — the `nst` command: style transfer and weight-file tools on top of the nst library.
//
//   nst stylize --content photo.jpg --style painting.jpg --output result.png [options]
//   nst stylize --content photos/ --style painting.jpg --output-dir results/ [options]
//   nst weights inspect FILE
//   nst weights convert IN OUT.safetensors [--preprocess caffe|torch]
//
// Every failure ends the program with one line on stderr, "nst: error: ...", and a non-zero
// exit status (2 for a wrongly called command, 1 for everything else); the output image is
// written atomically, so an existing file is either replaced whole or left as it was. A run is
// never lost: Ctrl-C stops it after the current iteration and writes the result so far (exit
// status 128 + the signal), and a loss that stops being finite saves the last good image;
// --checkpoint saves the optimizer's state as well, and --resume continues it exactly.
#include <nst/nst.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <set>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "memory.hpp"
#include "progress.hpp"

namespace {

using namespace nst_cli;

// The first Ctrl-C (SIGINT) or SIGTERM during a run stops it after the current iteration and the
// result so far is written as usual; a second one ends the program at once (SA_RESETHAND). A
// signal the parent told us to ignore (as shells do for SIGINT of background jobs) stays ignored.
volatile std::sig_atomic_t stop_signal = 0;

void request_stop(int signal) { stop_signal = signal; }

void stop_gracefully_on_signals() {
  for (const int signal : {SIGINT, SIGTERM}) {
    struct sigaction action {}, previous {};
    if (sigaction(signal, nullptr, &previous) != 0 || previous.sa_handler == SIG_IGN) continue;
    action.sa_handler = request_stop;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(signal, &action, nullptr);
  }
}

struct stylize_command {
  std::string content, output, weights = "weights/vgg19.safetensors", init_image, log_json;
  std::vector<std::string> styles;
  std::string preprocess;  // empty = from the weights
  nst::pooling pool = nst::pooling::max;
  nst::padding_mode padding = nst::padding_mode::zeros;  // of the first convolution
  nst::stylize_options options;
  int print_every = 50, save_every = 0, threads = 0;
  std::string output_dir;          // --output-dir: a batch, one result per --content image
  std::string checkpoint, resume;  // --checkpoint FILE, --resume FILE
  int checkpoint_every = 100;
  std::uint64_t max_memory = 0;      // --max-memory in bytes; 0 = no budget
  bool measure_peak_memory = false;  // --measure-peak-memory
  bool tile_size_given = false;      // --tile-size: then --max-memory does not choose tiles
  std::vector<std::string> style_masks;  // --style-masks, one per style image
  std::string content_mask;              // --content-mask: the first style's region (the second's is the rest)
  std::string loss_curve, sheet;  // --loss-curve, --sheet; empty = not written
};

std::vector<option> stylize_options_table(stylize_command& c) {
  auto& o = c.options;
  return {
      {"--content", "FILE", "the photo whose structure is kept (required); with --output-dir a directory or FILE,FILE,...",
       [&](auto v) { c.content = v; }},
      {"--style", "FILE[,FILE...]", "the painting(s) whose style is taken (required)",
       [&](auto v) { c.styles = split_list(v); }},
      {"--output", "FILE", "where to write the result, .png or .jpg (required)", [&](auto v) { c.output = v; }},
      {"--output-dir", "DIR", "instead of --output: stylize every --content image into DIR/NAME.png",
       [&](auto v) { c.output_dir = v; }},
      {"--weights", "FILE", "VGG19 weights, .safetensors or .pth (weights/vgg19.safetensors)",
       [&](auto v) { c.weights = v; }},
      {"--preprocess", "caffe|torch", "input preprocessing the weights expect (detected from the file)",
       [&](auto v) { c.preprocess = choice("--preprocess", v, {"caffe", "torch"}); }},
      {"--image-size", "N", "longer side of the result in pixels (512)",
       [&](auto v) { o.image_size = parse_integer("--image-size", v, 16, 16384); }},
      {"--style-scale", "F", "style images are resized to image-size * F (1)",
       [&](auto v) { o.style_scale = parse_number("--style-scale", v, 0.01, 16); }},
      {"--style-blend-weights", "W,...", "relative weight of each style image (equal)",
       [&](auto v) { o.style_blend_weights = parse_numbers("--style-blend-weights", v, 0, 1e9); }},
      {"--iterations", "N", "optimizer iterations (1000)",
       [&](auto v) { o.iterations = static_cast<int>(parse_integer("--iterations", v, 0, 1000000)); }},
      {"--optimizer", "lbfgs|adam", "the optimizer (lbfgs)",
       [&](auto v) {
         o.optimizer = choice("--optimizer", v, {"lbfgs", "adam"}) == "adam" ? nst::optimizer_kind::adam
                                                                              : nst::optimizer_kind::lbfgs;
       }},
      {"--learning-rate", "F", "step size (Adam 10, L-BFGS 1)",
       [&](auto v) { o.learning_rate = parse_number("--learning-rate", v, 1e-12, 1e6); }},
      {"--lbfgs-history", "N", "L-BFGS history size (100)",
       [&](auto v) { o.lbfgs_history = static_cast<int>(parse_integer("--lbfgs-history", v, 1, 1000)); }},
      {"--line-search", "none|strong-wolfe|backtracking", "L-BFGS line search (none, as neural-style)",
       [&](auto v) {
         const auto name = choice("--line-search", v, {"none", "strong-wolfe", "backtracking"});
         for (const auto search :
              {nst::line_search::none, nst::line_search::strong_wolfe, nst::line_search::backtracking})
           if (name == nst::to_string(search)) o.lbfgs_line_search = search;
       }},
      {"--lbfgs-initial-scale", "F", "L-BFGS's initial inverse Hessian is F gamma I (1, as neural-style)",
       [&](auto v) { o.lbfgs_initial_scale = parse_number("--lbfgs-initial-scale", v, 1e-3, 1e3); }},
      {"--tolerance", "F", "stop when the relative loss change is below F (0 = off)",
       [&](auto v) { o.relative_tolerance = parse_number("--tolerance", v, 0, 1); }},
      {"--content-weight", "F", "content loss weight (5)",
       [&](auto v) { o.content_weight = parse_number("--content-weight", v, 0, 1e12); }},
      {"--style-weight", "F", "style loss weight (100)",
       [&](auto v) { o.style_weight = parse_number("--style-weight", v, 0, 1e12); }},
      {"--tv-weight", "F", "total-variation weight (0.001)",
       [&](auto v) { o.tv_weight = parse_number("--tv-weight", v, 0, 1e12); }},
      {"--content-layers", "L,...", "layers for the content loss (relu4_2)",
       [&](auto v) { o.content_layers = split_list(v); }},
      {"--style-layers", "L,...", "layers for the style loss (relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)",
       [&](auto v) { o.style_layers = split_list(v); }},
      {"--pooling", "max|avg", "pooling layers of VGG19 (max)",
       [&](auto v) { c.pool = choice("--pooling", v, {"max", "avg"}) == "max" ? nst::pooling::max : nst::pooling::average; }},
      {"--padding", "zeros|reflect|replicate", "padding of the first convolution (zeros; the others soften borders)",
       [&](auto v) {
         const std::string p = choice("--padding", v, {"zeros", "reflect", "replicate"});
         c.padding = p == "zeros" ? nst::padding_mode::zeros
                     : p == "reflect" ? nst::padding_mode::reflect
                                      : nst::padding_mode::replicate;
       }},
      {"--init", "content|random|image", "starting image (random)",
       [&](auto v) {
         const std::string i = choice("--init", v, {"content", "random", "image"});
         o.init = i == "content" ? nst::init_method::content : i == "random" ? nst::init_method::random : nst::init_method::image;
       }},
      {"--init-image", "FILE", "the starting image for --init image", [&](auto v) { c.init_image = v; }},
      {"--seed", "N", "seed of the random init (0)",
       [&](auto v) { o.seed = static_cast<std::uint64_t>(parse_integer("--seed", v, 0, 1LL << 62)); }},
      {"--original-colors", "", "keep the content's colours", [&](auto) { o.original_colors = true; }},
      {"--style-loss", "gram|moments|wasserstein", "statistic the style loss matches (gram)",
       [&](auto v) {
         const std::string k = choice("--style-loss", v, {"gram", "moments", "wasserstein"});
         o.style_statistic = k == "gram" ? nst::style_loss_kind::gram
                             : k == "moments" ? nst::style_loss_kind::mean_covariance
                                              : nst::style_loss_kind::wasserstein;
       }},
      {"--style-layer-weights", "W,...", "weight of each style layer (all 1)",
       [&](auto v) { o.style_layer_weights = parse_numbers("--style-layer-weights", v, 0, 1e9); }},
      {"--style-masks", "FILE,...", "one mask per style image: style k goes where mask k is white",
       [&](auto v) { c.style_masks = split_list(v); }},
      {"--content-mask", "FILE", "the first style goes where it is white, the second (if any) where black",
       [&](auto v) { c.content_mask = v; }},
      {"--color-control", "none|luminance", "luminance: transfer on luminance only, keep the content's colours (none)",
       [&](auto v) { o.luminance_only = choice("--color-control", v, {"none", "luminance"}) == "luminance"; }},
      {"--match-colors", "none|cholesky|pca", "recolour the styles to the content's colour statistics first (none)",
       [&](auto v) {
         const std::string m = choice("--match-colors", v, {"none", "cholesky", "pca"});
         o.match_style_colors = m == "none" ? nst::color_match::none
                                : m == "cholesky" ? nst::color_match::cholesky
                                                  : nst::color_match::pca;
       }},
      {"--scales", "N", "coarse to fine: optimise at N sizes, each about x1.41 the last (1)",
       [&](auto v) { o.scales = static_cast<int>(parse_integer("--scales", v, 1, 16)); }},
      {"--min-size", "PX", "longer side at the first scale (image-size / 1.41^(N-1))",
       [&](auto v) { o.min_size = parse_integer("--min-size", v, 16, 16384); }},
      {"--scale-iterations", "N,...", "iterations at each scale, coarse first (--iterations at each)",
       [&](auto v) {
         o.scale_iterations.clear();
         for (long long n : parse_integers("--scale-iterations", v, 0, 1000000)) o.scale_iterations.push_back(static_cast<int>(n));
       }},
      {"--tile-size", "PX", "optimise images larger than PX in overlapping tiles of PX (>= 64; 0 = in one piece; "
                            "not given: in tiles only when --max-memory needs them)",
       [&](auto v) {
         o.tile_size = parse_integer("--tile-size", v, 0, 16384);
         c.tile_size_given = true;
       }},
      {"--tile-overlap", "PX", "pixels neighbouring tiles share, blended (64)",
       [&](auto v) { o.tile_overlap = parse_integer("--tile-overlap", v, 0, 8192); }},
      {"--adam-ema", "F", "with Adam, return the moving average of the iterates with decay F (0 = off)",
       [&](auto v) { o.adam_average = parse_number("--adam-ema", v, 0, 0.999999); }},
      {"--print-every", "N", "progress line every N iterations when not on a terminal, 0 = quiet (50)",
       [&](auto v) { c.print_every = static_cast<int>(parse_integer("--print-every", v, 0, 1000000)); }},
      {"--save-every", "N", "also save OUTPUT_<iteration> every N iterations (0 = off)",
       [&](auto v) { c.save_every = static_cast<int>(parse_integer("--save-every", v, 0, 1000000)); }},
      {"--log-json", "FILE", "one JSON object per iteration", [&](auto v) { c.log_json = v; }},
      {"--checkpoint", "FILE", "save the run's state (image and optimizer) to FILE every --checkpoint-every iterations and at the end"
                          " (with --scales, during the last scale only)",
       [&](auto v) { c.checkpoint = v; }},
      {"--checkpoint-every", "N", "iterations between checkpoints (100; 0 = only at the end)",
       [&](auto v) { c.checkpoint_every = static_cast<int>(parse_integer("--checkpoint-every", v, 0, 1000000)); }},
      {"--max-memory", "SIZE", "estimate the run's peak memory first, refuse it above SIZE (4G, 512M)",
       [&](auto v) { c.max_memory = parse_memory_size("--max-memory", v); }},
      {"--measure-peak-memory", "", "print the run's peak memory (peak_rss_bytes N) on stdout at the end",
       [&](auto) { c.measure_peak_memory = true; }},
      {"--resume", "FILE", "continue the run saved in FILE up to --iterations (same inputs and options)",
       [&](auto v) { c.resume = v; }},
      {"--loss-curve", "FILE", "plot the losses against iteration, .svg or .png", [&](auto v) { c.loss_curve = v; }},
      {"--sheet", "FILE", "also save content | style(s) | result side by side", [&](auto v) { c.sheet = v; }},
      {"--threads", "N", "threads to use (all cores)",
       [&](auto v) { c.threads = static_cast<int>(parse_integer("--threads", v, 1, 1024)); }},
  };
}

// A mask image as [1,1,H,W] in [0,1]: the luminance of the file's pixels (white = 1).
nst::tensor<float> load_mask(const std::string& path) {
  const nst::tensor<float> yuv = nst::rgb_to_yuv(nst::load_image<float>(path));
  nst::tensor<float> mask({1, 1, yuv.dim(2), yuv.dim(3)});
  for (nst::index_t i = 0; i < mask.size(); ++i) mask[i] = std::min(1.0f, std::max(0.0f, yuv[i]));
  return mask;
}

// "out.png", 100 -> "out_100.png"
std::string numbered(const std::string& path, int iteration) {
  const std::size_t dot = path.find_last_of('.');
  const std::size_t slash = path.find_last_of('/');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  const std::string stem = has_ext ? path.substr(0, dot) : path, ext = has_ext ? path.substr(dot) : "";
  return stem + "_" + std::to_string(iteration) + ext;
}

// The content images of a batch: the .png, .jpg, .jpeg, .bmp and .tga files of a directory, by
// name, or a comma-separated list; two with the same name (a.jpg, a.png) would share an output.
std::vector<std::string> batch_content_files(const std::string& spec) {
  std::vector<std::string> files;
  std::error_code ec;
  if (std::filesystem::is_directory(spec, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(spec, ec)) {
      std::string ext = entry.path().extension().string();
      for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (entry.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".tga"))
        files.push_back(entry.path().string());
    }
    if (ec) throw nst::io_error(450, "cannot list the directory '" + spec + "': " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw usage_error("--content " + spec + ": no .png, .jpg, .bmp or .tga image in the directory");
  } else {
    files = split_list(spec);
  }
  std::set<std::string> names;
  for (const std::string& f : files)
    if (!names.insert(std::filesystem::path(f).stem().string()).second)
      throw usage_error("--content: two images named '" + std::filesystem::path(f).stem().string() +
                        "' would write the same output");
  return files;
}

int stylize_one(const stylize_command& c, const nst::tensor<float>& content, const nst::vgg19<float>& net,
                const std::vector<nst::tensor<float>>& styles, const nst::tensor<float>& init,
                nst::stylize_state<float>& state, nst::style_target_cache<float>* style_cache = nullptr);

// --content DIR_OR_LIST --output-dir DIR: every content image through the network and style
// images loaded once, and the styles' statistics measured once (when --image-size gives every
// image the same size and --match-colors / --color-control do not recolour them per image); the
// result of NAME.jpg written to DIR/NAME.png. An image that fails is reported and skipped, as is
// one in `over_budget` (file -> why --max-memory refuses it); the exit status is 1 when any
// failed, 128 + the signal when one stopped the batch.
int stylize_batch(const stylize_command& c, const std::vector<std::string>& contents, const nst::vgg19<float>& net,
                  const std::vector<nst::tensor<float>>& styles, const nst::tensor<float>& init,
                  const std::map<std::string, std::string>& over_budget) {
  int failed = 0;
  nst::style_target_cache<float> style_cache;  // the styles' statistics, measured for the first image only
  for (std::size_t i = 0; i < contents.size(); ++i) {
    stylize_command one = c;
    one.content = contents[i];
    one.output = (std::filesystem::path(c.output_dir) / std::filesystem::path(contents[i]).stem()).string() + ".png";
    std::fprintf(stderr, "nst: [%zu/%zu] %s -> %s\n", i + 1, contents.size(), one.content.c_str(), one.output.c_str());
    const auto refused = over_budget.find(contents[i]);
    if (refused != over_budget.end()) {
      std::fprintf(stderr, "nst: error: %s %s (skipped)\n", contents[i].c_str(), refused->second.c_str());
      ++failed;
      continue;
    }
    int status = 1;
    try {
      nst::stylize_state<float> state;
      status = stylize_one(one, nst::load_image<float>(one.content), net, styles, init, state, &style_cache);
    } catch (const nst::error& e) {
      std::fprintf(stderr, "nst: error: %s (skipped)\n", e.what());
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "nst: error: out of memory stylizing %s (skipped)\n", one.content.c_str());
    }
    if (status > 1) return status;  // stopped by a signal: the rest is not started
    failed += status != 0;
  }
  if (failed > 0) std::fprintf(stderr, "nst: error: %d of %zu content images failed\n", failed, contents.size());
  return failed > 0 ? 1 : 0;
}

// A content image's name and size in pixels, for --max-memory.
struct image_extent {
  std::string file;
  long long height = 0, width = 0;
};

// Why --max-memory refuses `image` by the fit `e` ("needs about ... would fit"), or "" when its
// estimated peak at --image-size fits. Only the pixel count differs from image to image, so one
// fit serves a whole batch.
std::string over_budget_reason(const stylize_command& c, const memory_estimate& e, const image_extent& image) {
  const long long size = c.options.image_size;
  const double budget = static_cast<double>(c.max_memory);
  const double peak = peak_at(e, image.height, image.width, size, c.options.tile_size);
  if (peak <= budget) return "";
  // 10% to spare: the estimate of another size, from new probe runs, varies by a few percent.
  const long long fits = largest_fitting_size(e, image.height, image.width, 0.9 * budget);
  return "needs about " + format_bytes(peak) + " at " + std::to_string(size) + " px, more than --max-memory " +
         format_bytes(budget) + "; " +
         (fits > 0 ? "--image-size " + std::to_string(fits) + " would fit" : std::string("no image size fits"));
}

// --max-memory: estimates the run's peak memory from two short runs of this command at small
// sizes (memory.hpp) on the image of `images` with the most pixels at --image-size, and prints
// it. One image over budget is refused (an error naming the largest --image-size that fits); in
// a batch each image is checked with the same fit and those over budget are returned (file ->
// reason) to be reported and skipped.
std::map<std::string, std::string> check_memory_budget(stylize_command& c, const std::vector<std::string>& args,
                                                       const std::vector<option>& table,
                                                       const std::vector<image_extent>& images) {
  if (images.empty()) return {};  // a batch of unreadable files: each is reported when its turn comes
  const long long size = c.options.image_size;
  const image_extent& largest = *std::max_element(images.begin(), images.end(), [&](const auto& a, const auto& b) {
    return pixels_at(a.height, a.width, size) < pixels_at(b.height, b.width, size);
  });
  const std::string& content = largest.file;
  const long long height = largest.height, width = largest.width;
  // The probes run the same options on the same content, writing nothing of the user's.
  static const std::set<std::string> dropped = {
      "--max-memory", "--output", "--output-dir", "--checkpoint", "--checkpoint-every", "--resume", "--log-json",
      "--loss-curve", "--sheet", "--save-every", "--print-every", "--image-size", "--iterations", "--content",
      "--scales", "--min-size", "--scale-iterations", "--measure-peak-memory", "--tile-size", "--tile-overlap"};
  std::vector<std::string> probe(args.begin(), args.begin() + 2);
  for (std::size_t i = 2; i < args.size(); ++i) {
    const auto o = std::find_if(table.begin(), table.end(), [&](const option& t) { return t.name == args[i]; });
    const bool takes_value = o != table.end() && !o->value.empty() && i + 1 < args.size();
    if (!dropped.count(args[i])) {
      probe.push_back(args[i]);
      if (takes_value) probe.push_back(args[i + 1]);
    }
    if (takes_value) ++i;
  }
  const std::string scratch =
      (std::filesystem::temp_directory_path() / ("nst-memory-probe-" + std::to_string(getpid()) + ".png")).string();
  for (const std::string& a : {std::string("--content"), content, std::string("--output"), scratch,
                               std::string("--print-every"), std::string("0")})
    probe.push_back(a);

  const int probe_iterations = 3;
  const bool lbfgs = c.options.optimizer == nst::optimizer_kind::lbfgs;
  const int pairs = std::min(c.options.lbfgs_history, std::max(0, c.options.iterations - 1));
  const double extra_pairs = lbfgs ? std::max(0, pairs - (probe_iterations - 1)) : 0;
  memory_estimate e;
  try {
    e = estimate_peak_memory(probe, height, width, size, probe_iterations, extra_pairs, 2 * 3 * sizeof(float));
  } catch (...) {
    std::remove(scratch.c_str());
    throw;
  }
  std::remove(scratch.c_str());
  std::fprintf(stderr, "nst: estimated peak memory %s at %lld px (from runs at %lld and %lld px), budget %s%s\n",
               format_bytes(e.peak_bytes).c_str(), size, e.probe_sizes[0], e.probe_sizes[1],
               format_bytes(static_cast<double>(c.max_memory)).c_str(),
               c.output_dir.empty() ? "" : ("; for " + content + ", the batch's largest image").c_str());
  // Too large in one piece: in tiles, the largest that fit (10% to spare, as below), when the
  // run can be tiled (no checkpoint, no masks) and the user did not choose a tile size.
  const bool can_tile = c.checkpoint.empty() && c.resume.empty() && c.style_masks.empty() && c.content_mask.empty();
  if (!c.tile_size_given && can_tile && e.peak_bytes > static_cast<double>(c.max_memory)) {
    const long long tile = largest_fitting_tile(e, height, width, size, 0.9 * static_cast<double>(c.max_memory));
    if (tile > 0) {
      c.options.tile_size = tile;
      std::fprintf(stderr, "nst: too large for the budget in one piece: optimising in tiles of %lld px, estimated peak %s\n",
                   tile, format_bytes(peak_at(e, height, width, size, tile)).c_str());
    }
  }
  std::map<std::string, std::string> over_budget;
  for (const image_extent& image : images) {
    const std::string reason = over_budget_reason(c, e, image);
    if (!reason.empty() && c.output_dir.empty()) throw std::runtime_error("the run " + reason);
    if (!reason.empty()) over_budget[image.file] = reason;
  }
  return over_budget;
}

int run_stylize(const std::vector<std::string>& args) {
  stylize_command c;
  const auto table = stylize_options_table(c);
  for (const std::string& a : args)
    if (a == "--help" || a == "-h") {
      std::printf("usage: nst stylize --content FILE --style FILE[,FILE...] --output FILE [options]\n\n%s",
                  help_text(table).c_str());
      return 0;
    }
  parse(table, args, 2);
  if (c.content.empty()) throw usage_error("--content FILE is required");
  if (c.styles.empty()) throw usage_error("--style FILE is required");
  if (c.output.empty() == c.output_dir.empty())
    throw usage_error("give --output FILE, or --output-dir DIR to stylize several content images");
  if (!c.output_dir.empty() && (!c.checkpoint.empty() || !c.resume.empty() || !c.sheet.empty() ||
                                !c.loss_curve.empty() || !c.log_json.empty()))
    throw usage_error("--checkpoint, --resume, --sheet, --loss-curve and --log-json take one --content, not --output-dir");
  if (c.options.init == nst::init_method::image && c.init_image.empty())
    throw usage_error("--init image needs --init-image FILE");
  if (!c.options.style_blend_weights.empty() && c.options.style_blend_weights.size() != c.styles.size())
    throw usage_error("--style-blend-weights has " + std::to_string(c.options.style_blend_weights.size()) +
                      " values for " + std::to_string(c.styles.size()) + " style images");
  if (!c.options.style_layer_weights.empty() && c.options.style_layer_weights.size() != c.options.style_layers.size())
    throw usage_error("--style-layer-weights has " + std::to_string(c.options.style_layer_weights.size()) +
                      " values for " + std::to_string(c.options.style_layers.size()) + " style layers");
  if (!c.style_masks.empty() && c.style_masks.size() != c.styles.size())
    throw usage_error("--style-masks has " + std::to_string(c.style_masks.size()) + " files for " +
                      std::to_string(c.styles.size()) + " style images");
  if (!c.content_mask.empty() && (!c.style_masks.empty() || c.styles.size() > 2))
    throw usage_error("--content-mask takes one or two styles and no --style-masks");
  if ((!c.style_masks.empty() || !c.content_mask.empty()) && !c.options.style_blend_weights.empty())
    throw usage_error("masks and --style-blend-weights exclude each other");
  if (!c.options.scale_iterations.empty() && static_cast<int>(c.options.scale_iterations.size()) != c.options.scales)
    throw usage_error("--scale-iterations has " + std::to_string(c.options.scale_iterations.size()) + " values for " +
                      std::to_string(c.options.scales) + " scales");
  if (c.options.tile_size > 0 && (!c.checkpoint.empty() || !c.resume.empty()))
    throw usage_error("--tile-size: a run in tiles cannot be checkpointed or resumed (--checkpoint, --resume)");
  if (c.options.tile_size > 0 && (!c.style_masks.empty() || !c.content_mask.empty()))
    throw usage_error("--tile-size: masks (--style-masks, --content-mask) work on images in one piece");
  if (c.options.tile_size != 0 && (c.options.tile_size < 64 || c.options.tile_overlap > c.options.tile_size / 2))
    throw usage_error("--tile-size must be 0 or >= 64, and --tile-overlap at most half of it");
  if (c.threads > 0) nst::set_num_threads(c.threads);

  // Read every input before the long work starts, so a bad file fails in the first second; the
  // output too: an unknown extension or a directory that cannot be written must not wait for the
  // end of the run (the temporary file save_image writes through is created and removed).
  std::vector<std::string> contents{c.content};
  if (!c.output_dir.empty()) {
    contents = batch_content_files(c.content);
    std::error_code ec;
    std::filesystem::create_directories(c.output_dir, ec);
    const nst::detail::temporary_file probe(c.output_dir + "/probe", "save_image");
  } else {
    nst::detail::image_format_for(c.output);
    const nst::detail::temporary_file probe(c.output, "save_image");
  }
  if (!c.checkpoint.empty()) { const nst::detail::temporary_file probe(c.checkpoint, "save_checkpoint"); }
  nst::stylize_state<float> state;
  if (!c.resume.empty()) state = nst::load_checkpoint<float>(c.resume);
  if (!c.loss_curve.empty()) {
    nst::detail::loss_curve_format_for(c.loss_curve);
    const nst::detail::temporary_file probe(c.loss_curve, "save_loss_curve");
  }
  if (!c.sheet.empty()) {
    nst::detail::image_format_for(c.sheet);
    const nst::detail::temporary_file probe(c.sheet, "save_image");
  }
  // A batch reads each content image when its turn comes, so that a bad one is skipped.
  const auto content = c.output_dir.empty() ? nst::load_image<float>(c.content) : nst::tensor<float>();
  std::map<std::string, std::string> over_budget;  // the batch's images --max-memory refuses, with the reason
  if (c.max_memory > 0) {
    std::vector<image_extent> extents;
    if (c.output_dir.empty()) {
      extents.push_back({c.content, content.dim(2), content.dim(3)});
    } else {
      for (const std::string& file : contents) {
        try {
          const auto image = nst::load_image<float>(file);
          extents.push_back({file, image.dim(2), image.dim(3)});
        } catch (const nst::error&) {
          // an unreadable image is reported and skipped when its turn comes
        }
      }
    }
    over_budget = check_memory_budget(c, args, table, extents);
  }
  std::vector<nst::tensor<float>> styles;
  for (const std::string& s : c.styles) styles.push_back(nst::load_image<float>(s));
  nst::tensor<float> init;
  if (c.options.init == nst::init_method::image) init = nst::load_image<float>(c.init_image);
  for (const std::string& m : c.style_masks) c.options.style_masks.push_back(load_mask(m));
  if (!c.content_mask.empty()) {
    c.options.style_masks.push_back(load_mask(c.content_mask));
    if (c.styles.size() == 2) {
      c.options.style_masks.push_back(c.options.style_masks[0]);
      for (float& v : c.options.style_masks[1]) v = 1.0f - v;
    }
  }
  nst::vgg19_options net_options;
  net_options.pool = c.pool;
  net_options.first_conv_padding = c.padding;
  if (!c.preprocess.empty()) net_options.input = nst::parse_preprocessing(c.preprocess);
  const auto net = nst::vgg19<float>::from_file(c.weights, net_options);
  for (const auto* layers : {&c.options.content_layers, &c.options.style_layers})
    for (const std::string& layer : *layers) net.channels(layer);  // an unknown or missing layer fails now

  stop_gracefully_on_signals();
  if (!c.output_dir.empty()) return stylize_batch(c, contents, net, styles, init, over_budget);
  return stylize_one(c, content, net, styles, init, state);
}

int stylize_one(const stylize_command& c, const nst::tensor<float>& content, const nst::vgg19<float>& net,
                const std::vector<nst::tensor<float>>& styles, const nst::tensor<float>& init,
                nst::stylize_state<float>& state, nst::style_target_cache<float>* style_cache) {
  int planned_iterations = c.options.scale_iterations.empty() ? c.options.iterations * c.options.scales : 0;
  for (int n : c.options.scale_iterations) planned_iterations += n;
  // With --scales N a checkpoint holds the last scale's state (its iterations counted from the
  // start of that scale), and a resumed run goes straight to the last scale.
  const int before_last_scale =
      planned_iterations - (c.options.scale_iterations.empty() ? c.options.iterations : c.options.scale_iterations.back());
  if (state.iteration > 0 && c.options.scales == 1)
    std::fprintf(stderr, "nst: resuming %s at iteration %d\n", c.resume.c_str(), state.iteration);
  if (state.iteration > 0 && c.options.scales > 1)
    std::fprintf(stderr, "nst: resuming %s at iteration %d, the last scale's %d (the earlier scales are not run again)\n",
                 c.resume.c_str(), before_last_scale + state.iteration, state.iteration);
  if (!c.checkpoint.empty() && c.options.scales > 1)
    std::fprintf(stderr, "nst: --checkpoint saves the last scale's state: nothing before iteration %d\n",
                 before_last_scale + 1);
  std::fprintf(stderr, "nst: %s, preprocessing %s; %d iterations of %s at %lld px%s%s on %d thread(s)\n", c.weights.c_str(),
               nst::to_string(net.input_preprocessing()), planned_iterations,
               c.options.optimizer == nst::optimizer_kind::adam ? "Adam" : "L-BFGS",
               static_cast<long long>(c.options.image_size),
               c.options.scales > 1 ? (" in " + std::to_string(c.options.scales) + " scales").c_str() : "",
               c.options.tile_size > 0 ? (" (each tile of at most " + std::to_string(c.options.tile_size) + " px)").c_str() : "",
               nst::num_threads());

  progress_printer printer(c.print_every, c.log_json);
  // The last iteration's image, so that a run stopped by a loss that is no longer finite keeps
  // its work: it is saved as OUTPUT_<iteration> and the error line says so.
  nst::tensor<float> last_image;
  int last_iteration = 0;
  nst::tensor<float> result;
  nst::loss_history history;  // for --loss-curve
  try {
    result = nst::stylize(net, content, styles, c.options, [&](const nst::stylize_progress<float>& p) {
      printer(p);
      history.record(p.loss, p.parts);
      last_image = p.image();
      last_iteration = p.iteration;
      planned_iterations = p.iterations;  // the run's own count (times the tiles in a run in tiles)
      if (c.save_every > 0 && p.iteration % c.save_every == 0 && p.iteration < p.iterations)
        nst::save_image(numbered(c.output, p.iteration), last_image);
      if (!c.checkpoint.empty() && c.checkpoint_every > 0 && p.iteration % c.checkpoint_every == 0 && p.state)
        nst::save_checkpoint(c.checkpoint, *p.state);
      return stop_signal == 0;  // false ends the run after this iteration
    }, init, &state, style_cache);
  } catch (const nst::value_error& e) {
    if (e.id() != 298 || last_iteration == 0) throw;
    printer.finish();
    const std::string saved = numbered(c.output, last_iteration);
    nst::save_image(saved, last_image);
    std::fprintf(stderr, "nst: error: %s; the image of iteration %d is saved in %s\n", e.what(), last_iteration,
                 saved.c_str());
    return 1;
  }
  printer.finish();
  nst::save_image(c.output, result);
  if (!c.checkpoint.empty() && state.x.empty()) {
    std::fprintf(stderr, "nst: no checkpoint written: the run stopped before its last scale (iteration %d), and a "
                 "checkpoint holds the last scale's state; run it again from the start\n", before_last_scale + 1);
  } else if (!c.checkpoint.empty()) {
    nst::save_checkpoint(c.checkpoint, state);
    std::fprintf(stderr, "nst: wrote checkpoint %s (iteration %d)\n", c.checkpoint.c_str(), before_last_scale + state.iteration);
  }
  if (!c.sheet.empty()) {
    std::vector<nst::tensor<float>> panels{content};
    panels.insert(panels.end(), styles.begin(), styles.end());
    panels.push_back(result);
    nst::save_image(c.sheet, nst::contact_sheet(panels, result.dim(2)));
    std::fprintf(stderr, "nst: wrote %s\n", c.sheet.c_str());
  }
  if (!c.loss_curve.empty() && history.iterations() > 0) {
    nst::save_loss_curve(c.loss_curve, history.series());
    std::fprintf(stderr, "nst: wrote %s\n", c.loss_curve.c_str());
  }
  if (stop_signal != 0)
    std::fprintf(stderr, "nst: stopped by signal %d after iteration %d of %d\n", static_cast<int>(stop_signal),
                 last_iteration, planned_iterations);
  std::fprintf(stderr, "nst: wrote %s (%lldx%lld)\n", c.output.c_str(), static_cast<long long>(result.dim(3)),
               static_cast<long long>(result.dim(2)));
  if (c.measure_peak_memory) std::printf("peak_rss_bytes %llu\n", static_cast<unsigned long long>(peak_rss_bytes()));
  return stop_signal == 0 ? 0 : 128 + stop_signal;
}

int run_weights(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: nst weights inspect FILE\n"
      "       nst weights convert IN OUT.safetensors [--preprocess caffe|torch]\n";
  if (args.size() < 3 || args[2] == "--help" || args[2] == "-h") {
    std::printf("%s", usage.c_str());
    return args.size() < 3 ? 2 : 0;
  }
  if (args[2] == "inspect") {
    if (args.size() != 4) throw usage_error("weights inspect takes one FILE");
    std::map<std::string, std::string> metadata;
    const auto tensors = nst::inspect_weights(args[3], &metadata);
    std::printf("%s", nst::describe_weights_file(args[3]).c_str());
    std::printf("tensors:       %zu in the file\n", tensors.size());
    for (const auto& t : tensors)
      std::printf("  %-24s %-5s %s\n", t.name.c_str(), nst::dtype_name(t.type), t.dims.str().c_str());
    for (const auto& [key, value] : metadata) std::printf("metadata:      %s = %s\n", key.c_str(), value.c_str());
    return 0;
  }
  if (args[2] == "convert") {
    if (args.size() != 5 && args.size() != 7) throw usage_error("weights convert takes IN OUT.safetensors [--preprocess caffe|torch]");
    std::string preprocess;
    if (args.size() == 7) {
      if (args[5] != "--preprocess") throw usage_error("unknown option '" + args[5] + "'");
      preprocess = choice("--preprocess", args[6], {"caffe", "torch"});
    }
    nst::vgg19_options options;
    if (!preprocess.empty()) options.input = nst::parse_preprocessing(preprocess);
    const auto net = nst::vgg19<float>::from_file(args[3], options);
    net.save_safetensors(args[4]);
    std::printf("wrote %s: %zu convolutions with conv1_1.weight-style names, preprocessing %s\n", args[4].c_str(),
                net.describe().loaded_convs.size(), nst::to_string(net.input_preprocessing()));
    return 0;
  }
  throw usage_error("unknown weights command '" + args[2] + "' (inspect, convert)");
}

const char* main_usage =
    "nst — neural style transfer on the CPU\n\n"
    "usage: nst stylize --content FILE --style FILE[,FILE...] --output FILE [options]\n"
    "       nst weights inspect FILE\n"
    "       nst weights convert IN OUT.safetensors [--preprocess caffe|torch]\n"
    "       nst --version\n\n"
    "'nst stylize --help' lists the options.\n";

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  try {
    if (args.size() < 2) {
      std::fprintf(stderr, "%s", main_usage);
      return 2;
    }
    if (args[1] == "--help" || args[1] == "-h") {
      std::printf("%s", main_usage);
      return 0;
    }
    if (args[1] == "--version") {
      std::printf("nst %s\n", NST_VERSION_STRING);
      return 0;
    }
    if (args[1] == "stylize") {
      nst::keep_freed_memory();  // the targets and the first evaluation reuse memory instead of faulting in new
      return run_stylize(args);
    }
    if (args[1] == "weights") return run_weights(args);
    throw usage_error("unknown command '" + args[1] + "' (stylize, weights; see --help)");
  } catch (const usage_error& e) {
    std::fprintf(stderr, "nst: error: %s\n", e.what());
    return 2;
  } catch (const nst::error& e) {
    std::fprintf(stderr, "nst: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "nst: error: out of memory (try a smaller --image-size)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nst: error: %s\n", e.what());
    return 1;
  }
}
