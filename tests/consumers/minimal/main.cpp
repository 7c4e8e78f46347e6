// nst in an embedded / dependency-free build: Eigen and the standard library only, no OpenMP,
// no stb, no xtensor, no exceptions. Runs the core on tensors in memory — ops, autodiff, a
// gradient check, a (narrow) VGG19 built from weights in memory, the losses, both optimizers
// and the stylize() driver — then shows the error path of a build without exceptions: an error
// goes to the handler installed with nst::set_error_handler, which must not return.
#include <nst/config.hpp>
#include <nst/nst.hpp>

#if defined(NST_EXCEPTIONS) || defined(__cpp_exceptions)
#error "this consumer must be compiled with -fno-exceptions"
#endif
#if defined(NST_HAVE_OPENMP) || defined(NST_HAVE_STB) || defined(XTENSOR_VERSION_MAJOR)
#error "this consumer must be built without OpenMP, stb and xtensor"
#endif

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// Deterministic values in [lo, hi) without <random>'s distributions (identical everywhere).
nst::tensor<double> pseudo_random(const nst::shape& s, std::uint32_t seed, double lo, double hi) {
  nst::tensor<double> t(s);
  std::uint32_t state = seed * 2654435761u + 1u;
  for (double& v : t) {
    state = state * 1664525u + 1013904223u;
    v = lo + (hi - lo) * (state >> 8) / 16777216.0;
  }
  return t;
}

// conv1_1 .. conv3_4 of VGG19 with 4..8 channels instead of 64..256, He-scaled random weights.
nst::vgg19<double> narrow_vgg19() {
  const std::vector<std::pair<std::string, std::pair<int, int>>> convs = {
      {"conv1_1", {3, 4}}, {"conv1_2", {4, 4}}, {"conv2_1", {4, 6}}, {"conv2_2", {6, 6}},
      {"conv3_1", {6, 8}}, {"conv3_2", {8, 8}}, {"conv3_3", {8, 8}}, {"conv3_4", {8, 8}}};
  nst::weight_file<double> weights;
  weights.format = "memory";
  std::uint32_t seed = 100;
  for (const auto& [name, in_out] : convs) {
    const double scale = std::sqrt(6.0 / (9.0 * in_out.first));
    weights.tensors[name + ".weight"] = pseudo_random({in_out.second, in_out.first, 3, 3}, seed++, -scale, scale);
    weights.tensors[name + ".bias"] = pseudo_random({in_out.second}, seed++, -0.05, 0.05);
    weights.names.push_back(name + ".weight");
    weights.names.push_back(name + ".bias");
  }
  return nst::vgg19<double>(std::move(weights));
}

bool check(bool ok, const char* what) {
  std::printf("%-58s %s\n", what, ok ? "ok" : "FAILED");
  return ok;
}

constexpr int expected_error_id = 113;  // conv2d: input channels do not match the weight (provoked at the end)

// The documented path without exceptions: log the error and stop. A handler must not return
// (nst aborts if it does); embedded code would reset or enter a safe state here.
void on_nst_error(const nst::error& e) {
  std::printf("error handler called: %s\n", e.what());
  std::fflush(stdout);
  std::_Exit(e.id() == expected_error_id ? EXIT_SUCCESS : EXIT_FAILURE);
}

}  // namespace

int main() {
  std::printf("%s\n", nst::build_summary().c_str());
  nst::set_error_handler(&on_nst_error);
  bool ok = check(nst::num_threads() == 1, "serial build: one thread");

  // Ops and autodiff: d/dx Σ relu(conv2d(x)) against central differences.
  const auto x = pseudo_random({1, 2, 6, 5}, 1, -1, 1);
  const auto w = pseudo_random({3, 2, 3, 3}, 2, -1, 1);
  const auto b = pseudo_random({3}, 3, -0.1, 0.1);
  auto loss_of = [&](const nst::tensor<double>& in) { return nst::sum(nst::relu(nst::conv2d(in, w, b, {1, 1}))); };
  nst::tape<double> tp;
  const auto xv = tp.variable(x);
  tp.backward(nst::ad::sum(nst::ad::relu(nst::ad::conv2d(xv, tp.constant(w), tp.constant(b), {1, 1}))));
  ok &= check(nst::check_gradient(loss_of, x, xv.grad()).ok(1e-6), "conv2d + relu gradient matches finite differences");

  // VGG19 from weights in memory, and the whole driver with each optimizer.
  const auto net = narrow_vgg19();
  ok &= check(net.available_layers().back() == "pool3", "narrow VGG19 from in-memory weights: conv1_1 .. pool3");
  const auto content = pseudo_random({1, 3, 16, 20}, 4, 0, 1);
  const auto style = pseudo_random({1, 3, 16, 16}, 5, 0, 1);
  for (const auto optimizer : {nst::optimizer_kind::lbfgs, nst::optimizer_kind::adam}) {
    nst::stylize_options o;
    o.image_size = 0;
    o.content_layers = {"relu2_2"};
    o.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
    o.iterations = 10;
    o.optimizer = optimizer;
    o.learning_rate = optimizer == nst::optimizer_kind::adam ? 0.5 : 0;
    o.init = nst::init_method::content;
    std::vector<double> losses;
    const auto result = nst::stylize(net, content, {style}, o,
                                     [&](const nst::stylize_progress<double>& p) { losses.push_back(p.loss); });
    bool in_range = result.shape() == content.shape();
    for (double v : result) in_range &= v >= 0 && v <= 1;
    std::printf("stylize (%s): loss %.6g -> %.6g in %zu iterations\n",
                optimizer == nst::optimizer_kind::adam ? "adam" : "lbfgs", losses.front(), losses.back(),
                losses.size());
    ok &= check(losses.size() == 10 && losses.back() < 0.9 * losses.front() && in_range,
                "stylize lowers the loss and returns an image in [0,1]");
  }
  if (!ok) return EXIT_FAILURE;

  // Without exceptions an error ends in the handler: it must not come back here.
  std::printf("provoking a shape error (3 input channels, weight expects 2)...\n");
  std::fflush(stdout);
  const auto wrong = nst::conv2d(pseudo_random({1, 3, 4, 4}, 6, -1, 1), w, b, {1, 1});
  std::printf("the error handler was not called (got a tensor of %s)\n", wrong.shape().str().c_str());
  return EXIT_FAILURE;
}
