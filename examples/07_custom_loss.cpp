// 07 — writing your own loss functor.
//
// A loss functor (nst/loss/term.hpp) is a small class the losses of nst are made of:
//
//   using value_type = T;  using loss_term_tag = void;     "I am a loss term over T"
//   const char* name() const;                              its name in loss breakdowns
//   std::vector<std::string> layers() const;               the VGG19 activations it reads
//   nst::var<T> operator()(const nst::loss_inputs<T>&) const;   its weighted value, on the tape
//
// Terms add up with `+` into one objective. This one matches the mean of every channel at some
// layers to a style image's (first-order statistics: a cheap cousin of the Gram-matrix loss):
//
//   L = weight * Σ_layers (1/C) Σ_c (μ_c(F) - t_c)^2,   μ_c(F) = mean of channel c over the pixels
//
// Its value and derivative come from code of our own, recorded on the tape with tape::record,
// and nst::check_gradient confirms the derivative. To stay self-contained the example uses a
// narrow VGG19 with random weights built in memory; with real weights nothing changes.
//
//   build/bin/examples/07_custom_loss
#include <nst/autodiff.hpp>
#include <nst/loss.hpp>
#include <nst/nn.hpp>
#include <nst/optim.hpp>

#include <cmath>
#include <cstdio>
#include <random>

template <class T>
class channel_mean_loss {
 public:
  using value_type = T;
  using loss_term_tag = void;

  channel_mean_loss(T weight, std::vector<std::string> layers) : weight_(weight), layers_(std::move(layers)) {}

  const char* name() const { return "channel_mean"; }
  std::vector<std::string> layers() const { return layers_; }

  // t = the channel means of the style image's activations, once.
  void set_targets(const nst::feature_map<T>& style_features) {
    for (const std::string& layer : layers_) targets_[layer] = channel_means(style_features.at(layer));
  }

  nst::var<T> operator()(const nst::loss_inputs<T>& in) const {
    nst::var<T> total;
    for (const std::string& layer : layers_) {
      const nst::var<T> term = layer_term(in.features.at(layer), targets_.at(layer));
      total = total.valid() ? total + term : term;
    }
    return total;
  }

 private:
  // μ_c for the activations [1,C,H,W] of one image: a [C] tensor.
  static nst::tensor<T> channel_means(const nst::tensor<T>& f) {
    NST_CHECK(f.rank() == 4 && f.dim(0) == 1, nst::shape_error, 101,
              "channel_mean_loss: expected the activations of one image [1,C,H,W], got ", f.shape());
    nst::tensor<T> means({f.dim(1)});
    means.vector() = f.matrix(f.dim(1), f.dim(2) * f.dim(3)).rowwise().mean();
    return means;
  }

  nst::var<T> layer_term(const nst::var<T>& f, const nst::tensor<T>& target) const {
    const nst::index_t channels = f.shape()[1], pixels = f.shape()[2] * f.shape()[3];
    nst::tensor<T> difference = channel_means(f.value());  // μ - t
    difference.vector() -= target.vector();
    nst::tensor<T> value(nst::shape{});  // a scalar
    value[0] = weight_ * difference.vector().squaredNorm() / static_cast<T>(channels);

    // The backward step gets g = dL_total/dL and adds dL_total/dF into f's gradient:
    //   dL/dF[c,p] = weight * 2 (μ_c - t_c) / (C * H*W), the same for every pixel p of channel c.
    return f.owner().record(std::move(value), {f}, [f, difference, channels, pixels, w = weight_](
                                                        const nst::tensor<T>& g, nst::tape<T>& tp) {
      nst::tensor<T> gradient(f.shape());
      const T scale = g[0] * w * T(2) / static_cast<T>(channels * pixels);
      gradient.matrix(channels, pixels).colwise() = difference.vector() * scale;
      tp.accumulate(f, std::move(gradient));
    });
  }

  T weight_;
  std::vector<std::string> layers_;
  nst::feature_map<T> targets_;
};

// conv1_1 .. conv3_4 of VGG19 with 4..8 channels and random He-scaled weights, in memory.
nst::vgg19<double> narrow_vgg19() {
  const int channels[8][2] = {{3, 4}, {4, 4}, {4, 6}, {6, 6}, {6, 8}, {8, 8}, {8, 8}, {8, 8}};
  std::mt19937 rng(7);
  nst::weight_file<double> weights;
  for (int conv = 0; conv < 8; ++conv) {
    const auto [in, out] = channels[conv];
    std::normal_distribution<double> normal(0.0, std::sqrt(2.0 / (9 * in)));
    nst::tensor<double> w({out, in, 3, 3}), b({out});
    for (double& v : w) v = normal(rng);
    weights.tensors[nst::vgg19_conv_names()[conv] + ".weight"] = w;
    weights.tensors[nst::vgg19_conv_names()[conv] + ".bias"] = b;
  }
  return nst::vgg19<double>(std::move(weights));
}

nst::tensor<double> random_image(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  nst::tensor<double> image({1, 3, 16, 16});
  for (double& v : image) v = uniform(rng);
  return image;
}

int main() {
  const auto net = narrow_vgg19();
  const auto content = random_image(1), style = random_image(2);
  const std::vector<std::string> style_layers = {"relu1_1", "relu2_1", "relu3_1"};

  // 1. The derivative, checked through the whole network against finite differences.
  channel_mean_loss<double> means(10.0, style_layers);
  means.set_targets(net.features(style, style_layers));
  nst::tape<double> tp;
  auto loss_and_gradient = [&](const nst::tensor<double>& x, nst::tensor<double>* gradient) {
    tp.clear();
    const auto image = tp.variable(x);
    const auto loss = means(nst::loss_inputs<double>{image, net.features(tp, image, style_layers)});
    if (gradient) {
      tp.backward(loss);
      *gradient = image.grad();
    }
    return loss.value()[0];
  };
  nst::tensor<double> gradient;
  loss_and_gradient(content, &gradient);
  const auto check = nst::check_gradient([&](const nst::tensor<double>& x) { return loss_and_gradient(x, nullptr); },
                                         content, gradient, 1e-6, 48);
  std::printf("gradient check: max relative error %.2e over %td elements\n", check.max_relative_error, check.checked);

  // 2. The new term beside a built-in one: keep the content, take the style's channel means.
  auto objective = nst::content_loss<double>(1.0, {"relu2_2"}) + means;
  objective.get<nst::content_loss<double>>().set_targets(net.features(content, {"relu2_2"}));
  const auto layers = objective.layers();  // every layer any term reads
  nst::loss_breakdown parts;
  auto evaluate = [&](const nst::tensor<double>& x, nst::tensor<double>& g) {
    tp.clear();
    const auto image = tp.variable(x);
    parts.clear();
    const auto loss = objective.evaluate(nst::loss_inputs<double>{image, net.features(tp, image, layers)}, &parts);
    tp.backward(loss);
    g = image.grad();
    return loss.value()[0];
  };
  nst::tensor<double> x = content, g;
  evaluate(x, g);
  const double start = parts["channel_mean"];
  std::printf("start: content %.4g  channel_mean %.4g\n", parts["content"], start);
  nst::stop_criteria stop;
  stop.max_iterations = 20;
  const auto result = nst::minimize(evaluate, x, nst::lbfgs{}, stop);
  std::printf("after %d L-BFGS iterations: content %.4g  channel_mean %.4g\n", result.iterations, parts["content"],
              parts["channel_mean"]);
  return check.ok(1e-5) && parts["channel_mean"] < 0.1 * start ? 0 : 1;
}
