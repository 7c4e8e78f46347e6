#include <nst/style/checkpoint.hpp>
#include <nst/style/stylize.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "../support/support.hpp"

namespace {

const nst::vgg19<float>& narrow_net() {
  static const auto net = nst::vgg19<float>::from_file(nst_test::fixture_path("nn/narrow_vgg19.safetensors"));
  return net;
}

const nst::tensor<float> content = nst_test::random_tensor<float>({1, 3, 24, 30}, 31, 0.0f, 1.0f);
const nst::tensor<float> style = nst_test::random_tensor<float>({1, 3, 28, 28}, 32, 0.0f, 1.0f);

nst::stylize_options small_options() {
  nst::stylize_options o;
  o.image_size = 0;
  o.iterations = 9;
  o.lbfgs_history = 3;  // full after 4 iterations: the resumed run must rotate the saved pairs
  o.init = nst::init_method::content;
  o.content_layers = {"relu3_2"};
  o.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
  return o;
}

std::string temporary_path(const std::string& name) { return "nst_checkpoint_test_" + name + ".safetensors"; }

bool same_bytes(const nst::tensor<float>& a, const nst::tensor<float>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

struct observed {
  int iteration, evaluations;
  double loss;
  bool operator==(const observed& o) const { return iteration == o.iteration && evaluations == o.evaluations && loss == o.loss; }
};

// Runs `options` once without a stop, and once stopped after `stop_at` iterations (as Ctrl-C
// does: the observer returns false), saved, loaded and resumed; both must give the same bytes
// and report the same iterations, evaluation counts and losses. With scales > 1, stop_at counts
// the iterations of all scales and must fall in the last one (the state is the last scale's).
void check_resume_is_exact(nst::stylize_options options, int stop_at) {
  const int iterations_per_run = options.iterations * options.scales;
  const int before_last_scale = options.iterations * (options.scales - 1);
  REQUIRE(stop_at > before_last_scale);
  std::vector<observed> whole, pieces;
  const auto uninterrupted = nst::stylize(narrow_net(), content, {style}, options, [&](const nst::stylize_progress<float>& p) {
    whole.push_back({p.iteration, p.evaluations, p.loss});
  });
  REQUIRE(whole.size() == static_cast<std::size_t>(iterations_per_run));

  const std::string path = temporary_path("resume");
  nst::stylize_state<float> state;
  nst::stylize(narrow_net(), content, {style}, options, [&](const nst::stylize_progress<float>& p) {
    pieces.push_back({p.iteration, p.evaluations, p.loss});
    return p.iteration < stop_at;
  }, {}, &state);
  REQUIRE(state.iteration == stop_at - before_last_scale);
  nst::save_checkpoint(path, state);

  auto resumed_state = nst::load_checkpoint<float>(path);
  std::remove(path.c_str());
  CHECK(resumed_state.iteration == stop_at - before_last_scale);
  CHECK(same_bytes(resumed_state.x, state.x));
  CHECK(same_bytes(resumed_state.adam.average, state.adam.average));
  const auto resumed = nst::stylize(narrow_net(), content, {style}, options, [&](const nst::stylize_progress<float>& p) {
    pieces.push_back({p.iteration, p.evaluations, p.loss});
  }, {}, &resumed_state);
  CHECK(same_bytes(resumed, uninterrupted));
  CHECK(pieces == whole);
  CHECK(resumed_state.iteration == options.iterations);
}

}  // namespace

TEST_CASE("checkpoint: a resumed run gives the bytes of an uninterrupted one", "[style][checkpoint]") {
  auto o = small_options();
  SECTION("L-BFGS") { check_resume_is_exact(o, 5); }
  SECTION("L-BFGS, stopped before its history is full") { check_resume_is_exact(o, 2); }
  SECTION("L-BFGS with initial_scale 2") {
    o.lbfgs_initial_scale = 2;
    check_resume_is_exact(o, 3);
  }
  SECTION("L-BFGS with line search") {
    o.lbfgs_line_search = nst::line_search::strong_wolfe;
    check_resume_is_exact(o, 4);
  }
  SECTION("Adam") {
    o.optimizer = nst::optimizer_kind::adam;
    check_resume_is_exact(o, 3);
  }
  SECTION("Adam with iterate averaging (the average is saved and restored)") {
    o.optimizer = nst::optimizer_kind::adam;
    o.adam_average = 0.8;
    check_resume_is_exact(o, 4);
  }
  SECTION("coarse to fine, stopped during the last scale (L-BFGS)") {
    o.scales = 2;
    o.iterations = 5;
    check_resume_is_exact(o, 8);
  }
  SECTION("coarse to fine, stopped during the last scale (Adam with averaging)") {
    o.scales = 3;
    o.iterations = 4;
    o.optimizer = nst::optimizer_kind::adam;
    o.adam_average = 0.5;
    check_resume_is_exact(o, 10);
  }
}

TEST_CASE("checkpoint: a coarse-to-fine run stopped before its last scale leaves no state", "[style][checkpoint]") {
  auto o = small_options();
  o.scales = 2;
  o.iterations = 4;
  nst::stylize_state<float> state;
  bool saw_state = false;
  nst::stylize(narrow_net(), content, {style}, o, [&](const nst::stylize_progress<float>& p) {
    saw_state = saw_state || p.state != nullptr;
    return p.iteration < 3;
  }, {}, &state);
  CHECK_FALSE(saw_state);
  CHECK(state.x.empty());
  CHECK_THROWS_WITH(nst::save_checkpoint(temporary_path("early"), state), Catch::Contains("no image"));
}

TEST_CASE("checkpoint: the Adam iterate average is stored only when the run keeps one", "[style][checkpoint]") {
  auto o = small_options();
  o.iterations = 3;
  o.optimizer = nst::optimizer_kind::adam;
  const std::string path = temporary_path("average");
  auto run_and_save = [&](double average) {
    o.adam_average = average;
    nst::stylize_state<float> state;
    nst::stylize(narrow_net(), content, {style}, o, {}, {}, &state);
    nst::save_checkpoint(path, state);
    return state;
  };
  // As an nst that did not store the average wrote it: no tensor, no "adam.averaged".
  auto strip_average = [&] {
    auto file = nst::load_safetensors<float>(path);
    const bool had = file.tensors.erase("adam.average") != 0;
    if (had) file.names.erase(std::find(file.names.begin(), file.names.end(), "adam.average"));
    file.metadata.erase("adam.averaged");
    nst::save_safetensors<float>(path, file.tensors, file.names, file.metadata);
    return had;
  };

  SECTION("averaging off: no average saved; an older checkpoint still loads and resumes") {
    const auto state = run_and_save(0);
    CHECK(state.adam.average.empty());
    CHECK(nst::load_checkpoint<float>(path).adam.average.empty());
    CHECK_FALSE(strip_average());
    auto old = nst::load_checkpoint<float>(path);
    o.iterations = 5;
    CHECK_NOTHROW(nst::stylize(narrow_net(), content, {style}, o, {}, {}, &old));
    CHECK(old.iteration == 5);
  }
  SECTION("averaging on: an older checkpoint without the average is refused clearly") {
    const auto state = run_and_save(0.9);
    REQUIRE(state.adam.average.shape() == state.x.shape());
    CHECK(same_bytes(nst::load_checkpoint<float>(path).adam.average, state.adam.average));
    CHECK(strip_average());
    try {
      nst::load_checkpoint<float>(path);
      FAIL("an averaged Adam run loaded without its average");
    } catch (const nst::value_error& e) {
      CHECK(e.id() == 259);
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("iterate averaging"));
    }
  }
  SECTION("a checkpoint that says it holds the average but lacks the tensor is malformed") {
    run_and_save(0.9);
    auto file = nst::load_safetensors<float>(path);
    file.tensors.erase("adam.average");
    file.names.erase(std::find(file.names.begin(), file.names.end(), "adam.average"));
    nst::save_safetensors<float>(path, file.tensors, file.names, file.metadata);
    CHECK_THROWS_WITH(nst::load_checkpoint<float>(path), Catch::Contains("adam.average"));
  }
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: saving leaves the state as it was and reads back every field", "[style][checkpoint]") {
  auto o = small_options();
  o.iterations = 6;
  nst::stylize_state<float> state;
  nst::stylize(narrow_net(), content, {style}, o, {}, {}, &state);
  REQUIRE(state.lbfgs.steps.size() == 3);
  const nst::tensor<float> x = state.x, oldest_step = state.lbfgs.steps.front();
  const std::string path = temporary_path("fields");
  nst::save_checkpoint(path, state);
  CHECK(same_bytes(state.x, x));
  CHECK(same_bytes(state.lbfgs.steps.front(), oldest_step));
  REQUIRE(state.lbfgs.gradient_changes.size() == 3);

  const auto loaded = nst::load_checkpoint<float>(path);
  CHECK(loaded.iteration == 6);
  CHECK(loaded.evaluations == state.evaluations);
  CHECK(loaded.loss == state.loss);
  CHECK(loaded.lbfgs.iterations == state.lbfgs.iterations);
  CHECK(loaded.lbfgs.step_length == state.lbfgs.step_length);
  CHECK(loaded.lbfgs.hessian_scale == state.lbfgs.hessian_scale);
  CHECK(loaded.lbfgs.inverse_curvatures == state.lbfgs.inverse_curvatures);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(same_bytes(loaded.lbfgs.steps[i], state.lbfgs.steps[i]));
    CHECK(same_bytes(loaded.lbfgs.gradient_changes[i], state.lbfgs.gradient_changes[i]));
  }
  CHECK(same_bytes(loaded.lbfgs.direction, state.lbfgs.direction));
  CHECK(same_bytes(loaded.lbfgs.previous_gradient, state.lbfgs.previous_gradient));
  CHECK(loaded.run == state.run);
  CHECK(loaded.adam.step == 0);
  std::remove(path.c_str());
}

TEST_CASE("checkpoint: resuming another run, a wrong file or scalar type is refused clearly", "[style][checkpoint]") {
  auto o = small_options();
  o.iterations = 2;
  nst::stylize_state<float> state;
  nst::stylize(narrow_net(), content, {style}, o, {}, {}, &state);
  const std::string path = temporary_path("refused");
  nst::save_checkpoint(path, state);
  o.iterations = 4;

  auto other = o;
  other.style_weight = 200;
  auto copy = nst::load_checkpoint<float>(path);
  CHECK_THROWS_WITH(nst::stylize(narrow_net(), content, {style}, other, {}, {}, &copy),
                    Catch::Contains("cannot resume") && Catch::Contains("style_weight"));
  other = o;
  other.optimizer = nst::optimizer_kind::adam;
  copy = nst::load_checkpoint<float>(path);
  CHECK_THROWS_WITH(nst::stylize(narrow_net(), content, {style}, other, {}, {}, &copy), Catch::Contains("optimizer"));
  copy = nst::load_checkpoint<float>(path);
  const auto other_style = nst_test::random_tensor<float>({1, 3, 28, 28}, 33, 0.0f, 1.0f);
  CHECK_THROWS_WITH(nst::stylize(narrow_net(), content, {other_style}, o, {}, {}, &copy), Catch::Contains("style_targets"));
  other = o;
  other.lbfgs_initial_scale = 2;
  copy = nst::load_checkpoint<float>(path);
  CHECK_THROWS_WITH(nst::stylize(narrow_net(), content, {style}, other, {}, {}, &copy),
                    Catch::Contains("lbfgs_initial_scale is '0x1p+0', this run's '0x1p+1'"));
  // A checkpoint of a version that did not record an option: it ran with that option's default.
  copy = nst::load_checkpoint<float>(path);
  REQUIRE(copy.run.erase("lbfgs_initial_scale") == 1);
  CHECK_THROWS_WITH(nst::stylize(narrow_net(), content, {style}, other, {}, {}, &copy),
                    Catch::Contains("lbfgs_initial_scale is '0x1p+0', this run's '0x1p+1'"));
  CHECK_NOTHROW(nst::stylize(narrow_net(), content, {style}, o, {}, {}, &copy));
  copy = nst::load_checkpoint<float>(path);
  REQUIRE(copy.run.erase("content_targets") == 1);
  CHECK_THROWS_WITH(nst::stylize(narrow_net(), content, {style}, o, {}, {}, &copy),
                    Catch::Contains("content_targets is '(absent)'"));
  copy = nst::load_checkpoint<float>(path);
  other = o;
  other.image_size = 20;
  CHECK_THROWS_WITH(nst::stylize(narrow_net(), content, {style}, other, {}, {}, &copy), Catch::Contains("cannot resume"));

  try {
    nst::load_checkpoint<double>(path);
    FAIL("a float checkpoint loaded as double");
  } catch (const nst::value_error& e) {
    CHECK(e.id() == 258);
  }
  std::remove(path.c_str());

  // A safetensors file that is not a checkpoint, and one with a tensor missing.
  nst::save_safetensors<float>(path, {{"x", content}}, {"x"}, {});
  try {
    nst::load_checkpoint<float>(path);
    FAIL("not a checkpoint");
  } catch (const nst::format_error& e) {
    CHECK(e.id() == 380);
  }
  nst::save_checkpoint(path, state);
  auto file = nst::load_safetensors<float>(path);
  file.tensors.erase("lbfgs.steps.0");
  file.names.erase(std::find(file.names.begin(), file.names.end(), "lbfgs.steps.0"));
  nst::save_safetensors<float>(path, file.tensors, file.names, file.metadata);
  CHECK_THROWS_WITH(nst::load_checkpoint<float>(path), Catch::Contains("lbfgs.steps.0"));
  std::remove(path.c_str());

  nst::stylize_state<float> empty;
  CHECK_THROWS_WITH(nst::save_checkpoint(path, empty), Catch::Contains("no image"));
}
