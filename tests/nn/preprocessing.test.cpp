#include <nst/autodiff.hpp>
#include <nst/nn/preprocessing.hpp>

#include "../support/support.hpp"

#include <cmath>

namespace {

// A [1,3,1,1] image holding one RGB pixel.
template <class T>
nst::tensor<T> pixel(double r, double g, double b) {
  return nst::tensor<T>(nst::shape{1, 3, 1, 1}, std::vector<T>{T(r), T(g), T(b)});
}

}  // namespace

TEST_CASE("preprocessing: caffe is BGR, 0..255, minus the mean pixel", "[nn][preprocessing]") {
  const auto x = nst::to_network(pixel<double>(1.0, 0.5, 0.0), nst::preprocessing::caffe);
  CHECK(x[0] == Approx(0.0 - 103.939).margin(1e-12));        // blue
  CHECK(x[1] == Approx(127.5 - 116.779).margin(1e-12));       // green
  CHECK(x[2] == Approx(255.0 - 123.68).margin(1e-12));        // red
}

TEST_CASE("preprocessing: torch is RGB, 0..1, ImageNet mean and std", "[nn][preprocessing]") {
  const auto x = nst::to_network(pixel<double>(0.485 + 0.229, 0.456, 0.406 - 2 * 0.225), nst::preprocessing::torch);
  CHECK(x[0] == Approx(1.0).margin(1e-12));
  CHECK(x[1] == Approx(0.0).margin(1e-12));
  CHECK(x[2] == Approx(-2.0).margin(1e-12));
}

TEMPLATE_TEST_CASE("preprocessing: from_network undoes to_network on a batch", "[nn][preprocessing]", float, double) {
  const auto image = nst_test::random_tensor<TestType>({2, 3, 5, 7}, 11, TestType(0), TestType(1));
  const double tolerance = std::is_same<TestType, float>::value ? 1e-6 : 1e-14;
  for (const auto p : {nst::preprocessing::caffe, nst::preprocessing::torch}) {
    const auto x = nst::to_network(image, p);
    CHECK(x.shape() == image.shape());
    double worst = 0;
    const auto back = nst::from_network(x, p);
    for (nst::index_t i = 0; i < image.size(); ++i) worst = std::max(worst, double(std::abs(back[i] - image[i])));
    CHECK(worst < tolerance);
  }
  // Channel order: batch item 1, caffe channel 0 is item 1's blue.
  const auto x = nst::to_network(image, nst::preprocessing::caffe);
  CHECK(x.at(1, 0, 2, 3) == Approx(255 * image.at(1, 2, 2, 3) - 103.939).epsilon(1e-5));
}

TEST_CASE("preprocessing: gradients map through the diagonal scale and the permutation", "[nn][preprocessing]") {
  const auto image = nst_test::random_tensor<double>({1, 3, 3, 4}, 5, 0.0, 1.0);
  const auto weights = nst_test::random_tensor<double>({1, 3, 3, 4}, 6);  // L(x) = sum(weights * x)
  for (const auto p : {nst::preprocessing::caffe, nst::preprocessing::torch}) {
    const auto loss = [&](const nst::tensor<double>& img) {
      return nst::to_network(img, p).vector().dot(weights.vector());
    };
    const auto image_gradient = nst::image_gradient_from_network(weights, p);  // dL/dnetwork = weights
    CHECK(nst::check_gradient(loss, image, image_gradient).ok(1e-7));
    CHECK(nst_test::max_relative_error(nst::network_gradient_from_image(image_gradient, p), weights) < 1e-14);
  }
  // By hand for caffe: d/d red = 255 * weight of network channel 2.
  const auto g = nst::image_gradient_from_network(weights, nst::preprocessing::caffe);
  CHECK(g.at(0, 0, 1, 2) == Approx(255 * weights.at(0, 2, 1, 2)));
}

TEST_CASE("preprocessing: to_network on a tape passes gradients to the image", "[nn][preprocessing]") {
  nst::tape<double> tp;
  const auto image = nst_test::random_tensor<double>({2, 3, 2, 2}, 8, 0.0, 1.0);
  auto x = tp.variable(image);
  auto net = nst::to_network(x, nst::preprocessing::torch);
  CHECK(nst_test::max_relative_error(net.value(), nst::to_network(image, nst::preprocessing::torch)) == 0);
  tp.backward(nst::ad::sum(net));
  // dL/dnetwork = 1 everywhere, so dL/dimage[c] = 1 / std[c].
  CHECK(x.grad().at(1, 0, 1, 1) == Approx(1 / 0.229));
  CHECK(x.grad().at(0, 2, 0, 1) == Approx(1 / 0.225));
}

TEST_CASE("preprocessing: names and shape errors", "[nn][preprocessing]") {
  CHECK(nst::parse_preprocessing("caffe") == nst::preprocessing::caffe);
  CHECK(nst::parse_preprocessing("torch") == nst::preprocessing::torch);
  CHECK(std::string(nst::to_string(nst::preprocessing::caffe)) == "caffe");
  CHECK_THROWS_WITH(nst::parse_preprocessing("bgr"), Catch::Contains("value_error.271") && Catch::Contains("'bgr'"));
  CHECK_THROWS_WITH(nst::to_network(nst::tensor<float>({1, 4, 2, 2}), nst::preprocessing::caffe),
                    Catch::Contains("shape_error.151") && Catch::Contains("[1,4,2,2]"));
  CHECK_THROWS_AS(nst::from_network(nst::tensor<float>({3, 2, 2}), nst::preprocessing::torch), nst::shape_error);
}
