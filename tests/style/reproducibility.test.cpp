// Reproducibility (issue 7): the same inputs, seed and options give the same bytes with 1 and 2
// threads and from run to run. Every parallel reduction must add its partial results in an
// order that does not depend on the thread count, or these tests fail.
#include <nst/style/stylize.hpp>

#include <cstring>

#include "../support/support.hpp"

namespace {

// Sets nst's thread count for one scope and restores the previous one.
class thread_count_scope {
 public:
  explicit thread_count_scope(int n) : previous_(nst::num_threads()) { nst::set_num_threads(n); }
  ~thread_count_scope() { nst::set_num_threads(previous_); }

 private:
  int previous_;
};

bool same_bytes(const nst::tensor<float>& a, const nst::tensor<float>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

// Runs stylize with `threads` threads and returns the image and the loss of every iteration.
std::pair<nst::tensor<float>, std::vector<double>> run(const nst::vgg19<float>& net, const nst::tensor<float>& content,
                                                       const nst::tensor<float>& style,
                                                       const nst::stylize_options& options, int threads) {
  thread_count_scope scope(threads);
  std::vector<double> losses;
  auto image = nst::stylize(net, content, {style}, options,
                            [&](const nst::stylize_progress<float>& p) { losses.push_back(p.loss); });
  return {image, losses};
}

// 1 thread, 2 threads, 2 threads again and 3 threads (blocks that are not a multiple of the SIMD
// width): the same bytes and the same losses every time.
void check_reproducible(const nst::vgg19<float>& net, const nst::tensor<float>& content,
                        const nst::tensor<float>& style, const nst::stylize_options& options) {
  const auto one = run(net, content, style, options, 1);
  const auto two = run(net, content, style, options, 2);
  const auto again = run(net, content, style, options, 2);
  const auto three = run(net, content, style, options, 3);
  REQUIRE(one.second.size() == static_cast<std::size_t>(options.iterations));
  CHECK(same_bytes(one.first, two.first));
  CHECK(same_bytes(two.first, again.first));
  CHECK(one.second == two.second);
  CHECK(two.second == again.second);
  CHECK(same_bytes(one.first, three.first));
  CHECK(one.second == three.second);
}

}  // namespace

TEST_CASE("reproducibility: the narrow VGG19 gives the same bytes with 1 and 2 threads", "[style][reproducibility]") {
  const auto net = nst::vgg19<float>::from_file(nst_test::fixture_path("nn/narrow_vgg19.safetensors"));
  // Big enough that elementwise loops, sums, Gram blocks and convolutions split over 2 threads.
  const auto content = nst_test::random_tensor<float>({1, 3, 120, 136}, 11, 0.0f, 1.0f);
  const auto style = nst_test::random_tensor<float>({1, 3, 96, 96}, 12, 0.0f, 1.0f);
  nst::stylize_options options;
  options.image_size = 0;
  options.iterations = 4;
  options.content_layers = {"relu4_2"};
  SECTION("L-BFGS") { check_reproducible(net, content, style, options); }
  SECTION("L-BFGS with line search") {
    options.lbfgs_line_search = nst::line_search::strong_wolfe;
    check_reproducible(net, content, style, options);
  }
  SECTION("Adam") {
    options.optimizer = nst::optimizer_kind::adam;
    check_reproducible(net, content, style, options);
  }
}

TEST_CASE("reproducibility: the real VGG19 gives the same bytes with 1 and 2 threads", "[style][reproducibility]") {
  NST_REQUIRE_SHARED("weights/vgg19-conv1_1-conv3_4.safetensors");
  const auto net = nst::vgg19<float>::from_file(nst_test::shared_path("weights/vgg19-conv1_1-conv3_4.safetensors"));
  // 64..256 channels: Gram matrices and convolutions split into several blocks per thread.
  const auto content = nst_test::random_tensor<float>({1, 3, 72, 88}, 21, 0.0f, 1.0f);
  const auto style = nst_test::random_tensor<float>({1, 3, 64, 64}, 22, 0.0f, 1.0f);
  nst::stylize_options options;
  options.image_size = 0;
  options.iterations = 2;
  options.content_layers = {"relu3_2"};
  options.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
  SECTION("L-BFGS") { check_reproducible(net, content, style, options); }
  SECTION("Adam") {
    options.optimizer = nst::optimizer_kind::adam;
    check_reproducible(net, content, style, options);
  }
}
