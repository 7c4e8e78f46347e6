// nst/nn/vgg19.hpp — the VGG19 feature extractor neural style transfer reads its losses from.
//
// A `vgg19<T>` holds the convolution weights of a VGG19 (any subset of its 16 convolutions that
// starts at conv1_1) and runs the network on an already preprocessed input [N,3,H,W] only as
// deep as the deepest layer asked for:
//
//   auto net = nst::vgg19<float>::from_file("vgg19.safetensors");   // classifier never read
//   auto x = nst::to_network(image, net.input_preprocessing());       // RGB [0,1] -> network input
//   auto acts = net.features(x, {"relu1_1", "relu2_1", "relu4_2"});   // std::map name -> tensor
//
// The same graph can be recorded on an autodiff tape, so that losses on any of the returned
// activations back-propagate to the input; the weights enter the tape as references (no copies,
// no weight gradients), so the network must outlive the tape's use of them:
//
//   nst::tape<float> tp;
//   auto xv = tp.variable(x);
//   auto f = net.features(tp, xv, {"relu3_1"});
//   tp.backward(nst::ad::sum(f["relu3_1"]));                          // xv.grad() = dL/dx
//
// Weights are accepted in the layouts of nst/nn/weight_layout.hpp, with channel counts read from
// the tensors (narrow test networks work): only 3 input channels, 3x3 kernels and consistency
// between consecutive layers are required. Layers whose convolutions are missing from the file
// are unavailable; asking for one names the missing tensors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../autodiff/ops.hpp"
#include "../autodiff/tape.hpp"
#include "../io/weights.hpp"
#include "../ops/activation.hpp"
#include "../ops/conv2d.hpp"
#include "../ops/conv3x3.hpp"
#include "../ops/pad2d.hpp"
#include "../ops/pool2d.hpp"
#include "preprocessing.hpp"
#include "vgg19_layers.hpp"
#include "weight_layout.hpp"

namespace nst {

enum class pooling { max, average };

// "max" or "avg", the names parse_pooling() and --pooling accept.
inline const char* to_string(pooling p) { return p == pooling::max ? "max" : "avg"; }

// "max" or "avg" (also "average"); value_error otherwise.
inline pooling parse_pooling(const std::string& name) {
  if (name == "max") return pooling::max;
  if (name == "avg" || name == "average") return pooling::average;
  NST_THROW(value_error, 272, "parse_pooling: unknown pooling '", name, "' (expected max or avg)");
}

// How to load and run VGG19: pooling, input preprocessing override, convolution algorithm,
// conv1_1's padding and whether Winograd weights are kept between calls.
struct vgg19_options {
  nst::pooling pool = nst::pooling::max;
  // The input preprocessing the weights expect, when the user knows better than the detection
  // (metadata, layout, hash; see weight_layout.hpp).
  std::optional<nst::preprocessing> input;
  // How the convolutions compute (ops/conv3x3.hpp): automatic = Winograd (F(6x6,3x3) for images
  // of 96 px a side or more, F(4x4,3x3) below) for the layers with 16 or more channels in and out (all but conv1_1 in the real VGG19), im2col for
  // the rest; im2col everywhere is exact to float rounding, Winograd's float error is ~1e-5.
  conv_algorithm convolution = conv_algorithm::automatic;
  // The border conv1_1 sees (ops/pad2d.hpp): zeros as trained, or reflect/replicate to avoid the
  // dark frame zero padding leaves around stylised images. Deeper layers always pad with zeros.
  padding_mode first_conv_padding = padding_mode::zeros;
  // Transform each layer's kernel for Winograd inside every call and free it after (the default:
  // a few ms per layer and call, 8 for 512x512 channels, ~3% of a style-transfer iteration at
  // 512 px), or keep the transformed weights from first use on (4x the kernels for F(4x4), 7.1x
  // for F(6x6): ~240 MB for conv1_2..conv5_1 at 512 px, each tile size a layer has used held
  // through every backward pass). Only matters where Winograd is used.
  bool keep_winograd_weights = false;
};

// What `nst weights inspect` prints about a loaded network (str() for the text).
struct vgg19_description {
  std::string format;                          // the weight file's format
  std::uint64_t data_bytes_read = 0;           // tensor bytes read from it (the classifier is skipped)
  vgg19_identity identity;                     // layout, preprocessing and why
  nst::pooling pool = nst::pooling::max;
  std::vector<std::string> loaded_convs;       // "conv1_1 [64,3,3,3]", in order
  std::vector<std::string> missing_tensors;    // canonical names of absent conv parameters
  std::vector<std::string> available_layers;   // layers that can be computed

  std::string str() const {
    std::ostringstream out;
    out << "format:        " << format << " (" << data_bytes_read << " bytes of tensors read)\n"
        << "layout:        " << to_string(identity.layout) << "\n"
        << "preprocessing: " << to_string(identity.input) << " (from " << to_string(identity.input_source)
        << ": " << identity.reason << ")\n";
    if (!identity.sha256.empty()) out << "sha256:        " << identity.sha256 << "\n";
    out << "pooling:       " << to_string(pool) << "\n"
        << "convolutions:  " << loaded_convs.size() << " of " << vgg19_conv_count << " loaded\n";
    for (const std::string& conv : loaded_convs) out << "  " << conv << "\n";
    out << "layers:        ";
    if (available_layers.empty()) {
      out << "none";
    } else {
      out << available_layers.front() << " .. " << available_layers.back() << " (" << available_layers.size()
          << " of " << vgg19_layers().size() << ")";
    }
    out << "\n";
    if (!missing_tensors.empty()) {
      out << "missing:       " << missing_tensors.size() << " tensors (" << missing_tensors.front() << " ..)\n";
    }
    return out.str();
  }
};

// VGG19's convolutional part with loaded weights (from_file; partial files give the layers they
// cover). features() runs on tensors or on a tape only as deep as the deepest requested layer;
// unknown or missing layers are lookup_error naming them.
template <class T>
class vgg19 {
 public:
  using feature_tensors = std::map<std::string, tensor<T>>;
  using feature_vars = std::map<std::string, var<T>>;

  // From weights in memory (their tensors are moved out). When `weights.path` names a file, it
  // is hashed only if its names are features.N and neither options nor metadata say which
  // preprocessing it expects; otherwise such a file is taken as torchvision's.
  explicit vgg19(weight_file<T> weights, const vgg19_options& options = {})
      : convs_(static_cast<std::size_t>(vgg19_conv_count)),
        format_(weights.format),
        data_bytes_read_(weights.data_bytes_read),
        pool_(options.pool),
        convolution_(options.convolution),
        first_conv_padding_(options.first_conv_padding),
        keep_winograd_weights_(options.keep_winograd_weights) {
    std::vector<std::string> names;
    for (const auto& entry : weights.tensors) names.push_back(entry.first);
    std::function<std::string()> file_sha256;
    if (!weights.path.empty()) file_sha256 = [&weights] { return sha256_file(weights.path); };
    identity_ = identify_vgg19_weights(names, weights.metadata, options.input, file_sha256);

    for (auto& entry : weights.tensors) {
      const std::optional<vgg19_key> key = parse_vgg19_key(entry.first);
      if (!key) continue;  // classifier and other names: not ours
      NST_CHECK(key->conv >= 0, format_error, 370, "vgg19 weights: tensor '", entry.first,
                "' is a parameter of features layer ", key->feature_index, ", which in VGG19 ",
                key->feature_index < static_cast<int>(vgg19_layers().size())
                    ? "is " + vgg19_layers()[static_cast<std::size_t>(key->feature_index)].name +
                          " and has no parameters"
                    : std::string("does not exist (VGG19 has 37 feature layers)"),
                ": not a plain VGG19 (VGG16, or a batch-norm VGG?)");
      conv_parameters& conv = convs_[static_cast<std::size_t>(key->conv)];
      (key->is_weight ? conv.weight : conv.bias) = std::move(entry.second);
      (key->is_weight ? conv.weight_key : conv.bias_key) = entry.first;
    }
    check_shapes();
    check_finite();
    while (loaded_convs_ < vgg19_conv_count && !weight(loaded_convs_).empty() && !bias(loaded_convs_).empty())
      ++loaded_convs_;
  }

  // Loads only the feature tensors of `path` (safetensors or .pth): the classifier is never read.
  static vgg19 from_file(const std::string& path, const vgg19_options& options = {}) {
    return vgg19(load_weights<T>(path, is_vgg19_feature_key), options);
  }

  // Activations at `layers` (names from vgg19_layers()) for the network input `image` [N,3,H,W].
  feature_tensors features(const tensor<T>& image, const std::vector<std::string>& layers) const {
    return run(
        image.shape(), image, layers,
        [this](const vgg19_layer& layer, const tensor<T>& x, bool relu) {
          return conv_layer(layer.last_conv).forward(x, relu);
        },
        [this](const vgg19_layer& layer, const tensor<T>& x) {
          if (layer.kind == vgg19_layer_kind::relu) return nst::relu(x);
          return pool_ == nst::pooling::max ? nst::max_pool2d(x, halving()).output : nst::avg_pool2d(x, halving());
        },
        [](const tensor<T>&) {});
  }

  // The same network recorded on `t` (which `image` must belong to): losses on the returned vars
  // back-propagate to `image`. Each convolution is one node (with its ReLU fused unless the
  // convolution's own output is asked for) that keeps its ReLU mask as bits and computes only
  // the input gradient; activations not asked for are released from the tape as soon as the next
  // layer has read them (their vars are not returned), so the tape holds the requested layers,
  // bit masks and pooling indices. Weights are used by reference: keep this network alive meanwhile.
  feature_vars features(tape<T>& t, const var<T>& image, const std::vector<std::string>& layers) const {
    NST_CHECK(image.valid() && &image.owner() == &t, value_error, 270,
              "vgg19::features: the image var does not belong to the tape it is given with");
    return run(
        image.shape(), image, layers,
        [this](const vgg19_layer& layer, const var<T>& x, bool relu) {
          return ad::conv3x3(x, conv_layer(layer.last_conv), relu);
        },
        [this](const vgg19_layer& layer, const var<T>& x) {
          if (layer.kind == vgg19_layer_kind::relu) return ad::relu(x);
          return pool_ == nst::pooling::max ? ad::max_pool2d(x, halving()) : ad::avg_pool2d(x, halving());
        },
        [&t](const var<T>& x) { t.release(x); });
  }

  preprocessing input_preprocessing() const { return identity_.input; }
  const vgg19_identity& identity() const { return identity_; }
  nst::pooling pool() const { return pool_; }
  void set_pool(nst::pooling p) { pool_ = p; }
  // The convolution algorithm and conv1_1's border (see vgg19_options); settable after loading.
  conv_algorithm convolution() const { return convolution_; }
  void set_convolution(conv_algorithm a) { convolution_ = a; }
  padding_mode first_conv_padding() const { return first_conv_padding_; }
  void set_first_conv_padding(padding_mode m) { first_conv_padding_ = m; }

  // Layers every convolution of which is loaded, in order (conv1_1 .. pool3 for the shared file).
  std::vector<std::string> available_layers() const {
    std::vector<std::string> names;
    for (const vgg19_layer& layer : vgg19_layers())
      if (layer.last_conv < loaded_convs_) names.push_back(layer.name);
    return names;
  }
  // False for unknown names as well as for layers beyond the loaded convolutions.
  bool has_layer(const std::string& name) const {
    for (const vgg19_layer& layer : vgg19_layers())
      if (layer.name == name) return layer.last_conv < loaded_convs_;
    return false;
  }
  // Channels of the activation at `layer` (which must be available).
  index_t channels(const std::string& layer) const {
    const int conv = vgg19_layers()[vgg19_layer_index(layer)].last_conv;
    check_loaded(conv, layer);
    return weight(conv).dim(0);
  }

  // Writes the available convolutions as safetensors under canonical names (conv1_1.weight ...)
  // with __metadata__ stating the architecture, layers and preprocessing, so the file identifies
  // itself when loaded again (what `nst weights convert` does).
  void save_safetensors(const std::string& path) const {
    std::map<std::string, tensor<T>> tensors;
    std::vector<std::string> order;
    std::string layers;
    for (int conv = 0; conv < loaded_convs_; ++conv) {
      for (const bool is_weight : {true, false}) {
        order.push_back(conv_name(conv) + (is_weight ? ".weight" : ".bias"));
        tensors[order.back()] = is_weight ? weight(conv) : bias(conv);
      }
      layers += (conv ? "," : "") + conv_name(conv);
    }
    const std::map<std::string, std::string> metadata = {
        {"architecture", "vgg19"},
        {"layers", layers},
        {"kernel_layout", "OIHW"},
        {"preprocessing", to_string(input_preprocessing())},
        {"input", preprocessing_description(input_preprocessing())}};
    nst::save_safetensors(path, tensors, order, metadata);
  }

  vgg19_description describe() const {
    vgg19_description d;
    d.format = format_;
    d.data_bytes_read = data_bytes_read_;
    d.identity = identity_;
    d.pool = pool_;
    for (int conv = 0; conv < vgg19_conv_count; ++conv) {
      if (!weight(conv).empty()) d.loaded_convs.push_back(conv_name(conv) + " " + weight(conv).shape().str());
    }
    d.missing_tensors = missing_tensors(vgg19_conv_count - 1);
    d.available_layers = available_layers();
    return d;
  }

 private:
  struct conv_parameters {
    tensor<T> weight, bias;             // empty when absent from the file
    std::string weight_key, bias_key;   // the names they had in the file
  };

  static pool2d_params halving() { return pool2d_params{2, 2, 0}; }

  const tensor<T>& weight(int conv) const { return convs_[static_cast<std::size_t>(conv)].weight; }
  const tensor<T>& bias(int conv) const { return convs_[static_cast<std::size_t>(conv)].bias; }
  static const std::string& conv_name(int conv) { return vgg19_conv_names()[static_cast<std::size_t>(conv)]; }

  // "conv2_1.weight", plus the file's own name when it differs.
  std::string tensor_label(int conv, bool is_weight) const {
    const conv_parameters& c = convs_[static_cast<std::size_t>(conv)];
    const std::string canonical = conv_name(conv) + (is_weight ? ".weight" : ".bias");
    const std::string& key = is_weight ? c.weight_key : c.bias_key;
    return key.empty() || key == canonical ? canonical : canonical + " ('" + key + "' in the file)";
  }

  // Every present weight is [out, in, 3, 3] with in = 3 for conv1_1 and the previous conv's out
  // otherwise (when the previous conv is present); every present bias is [out].
  void check_shapes() const {
    for (int conv = 0; conv < vgg19_conv_count; ++conv) {
      const tensor<T>& w = weight(conv);
      const tensor<T>& b = bias(conv);
      if (w.empty()) continue;
      const bool knows_input = conv == 0 || !weight(conv - 1).empty();
      const index_t in = conv == 0 ? 3 : knows_input ? weight(conv - 1).dim(0) : -1;
      const bool fits = w.rank() == 4 && w.dim(0) > 0 && (in < 0 || w.dim(1) == in) && w.dim(2) == 3 && w.dim(3) == 3;
      NST_CHECK(fits, shape_error, 153, "vgg19: ", tensor_label(conv, true), " has shape ", w.shape(),
                ", expected [out,", in < 0 ? std::string("in") : std::to_string(in), ",3,3]: 3x3 kernels reading ",
                conv == 0 ? std::string("the 3 image channels")
                          : knows_input ? "the " + std::to_string(in) + " output channels of " + conv_name(conv - 1)
                                        : std::string("the previous layer"));
      NST_CHECK(b.empty() || (b.rank() == 1 && b.dim(0) == w.dim(0)), shape_error, 154, "vgg19: ",
                tensor_label(conv, false), " has shape ", b.shape(), " but ", tensor_label(conv, true), " has ",
                w.dim(0), " output channels: expected [", w.dim(0), "]");
    }
  }

  // Every present parameter is a finite number: one NaN or infinity in a kernel would turn every
  // activation after it, and so the loss and the image, into NaN.
  void check_finite() const {
    for (int conv = 0; conv < vgg19_conv_count; ++conv)
      for (const bool is_weight : {true, false}) {
        const tensor<T>& t = is_weight ? weight(conv) : bias(conv);
        const T* bad = std::find_if(t.begin(), t.end(), [](T v) { return !std::isfinite(v); });
        NST_CHECK(bad == t.end(), value_error, 210, "vgg19 weights: ", tensor_label(conv, is_weight), " holds ",
                  *bad, " at element ", bad - t.begin(), " of ", t.shape(),
                  ": the weights file is corrupt");
      }
  }

  // Canonical names of the absent parameters of convolutions 0..last_conv.
  std::vector<std::string> missing_tensors(int last_conv) const {
    std::vector<std::string> missing;
    for (int conv = 0; conv <= last_conv; ++conv) {
      if (weight(conv).empty()) missing.push_back(conv_name(conv) + ".weight");
      if (bias(conv).empty()) missing.push_back(conv_name(conv) + ".bias");
    }
    return missing;
  }

  void check_loaded(int last_conv, const std::string& layer) const {
    if (last_conv < loaded_convs_) return;
    std::string missing;
    for (const std::string& name : missing_tensors(last_conv)) missing += (missing.empty() ? "" : ", ") + name;
    const std::vector<std::string> available = available_layers();
    NST_THROW(lookup_error, 511, "vgg19: layer '", layer, "' needs ", missing,
              ", missing from the weights; available layers: ",
              available.empty() ? std::string("none") : available.front() + " .. " + available.back());
  }

  // Checks the request and returns the index of the deepest requested layer (-1 when none).
  int plan(const shape& input, const std::vector<std::string>& layers) const {
    NST_CHECK(input.rank() == 4 && input[1] == 3, shape_error, 150,
              "vgg19::features: expected a network input [N,3,H,W], got shape ", input);
    int deepest = -1;
    for (const std::string& name : layers) deepest = std::max(deepest, static_cast<int>(vgg19_layer_index(name)));
    if (deepest < 0) return deepest;
    const vgg19_layer& target = vgg19_layers()[static_cast<std::size_t>(deepest)];
    check_loaded(target.last_conv, target.name);
    // Each 2x2/2 pooling halves (rounding down) and needs at least 2 pixels: p poolings need 2^p.
    const int poolings = target.kind == vgg19_layer_kind::pool ? target.block : target.block - 1;
    const index_t needed = index_t(1) << poolings;
    NST_CHECK(input[2] >= needed && input[3] >= needed, shape_error, 152, "vgg19::features: layer '", target.name,
              "' lies after ", poolings, " poolings and needs an input of at least ", needed, "x", needed,
              ", got shape ", input);
    return deepest;
  }

  // Convolution `conv` as a layer: its padding, and the Winograd weights it needs, transformed on
  // first use and kept (one transform per network, whichever thread asks first).
  conv3x3_same<T> conv_layer(int conv) const {
    const padding_mode padding = conv == 0 ? first_conv_padding_ : padding_mode::zeros;
    const tensor<T>& w = weight(conv);
    if (!keep_winograd_weights_ && padding == padding_mode::zeros)
      return conv3x3_same<T>::transient(w, bias(conv), convolution_);
    std::shared_ptr<const typename conv3x3_same<T>::winograd_type> transformed;
    if (conv3x3_same<T>::picks_winograd(w.shape(), convolution_, padding)) {
      const std::lock_guard<std::mutex> guard(*winograd_lock_);
      auto& cached = winograd_[static_cast<std::size_t>(conv)];
      if (!cached) cached = conv3x3_same<T>::transformed(w, convolution_);
      transformed = cached;
    }
    return conv3x3_same<T>(w, bias(conv), padding, std::move(transformed));
  }

  // Runs layers 0..deepest, the one loop behind both features(): x = conv(layer, x, relu) for a
  // convolution (relu: its ReLU fused in, when the convolution's own output is not asked for),
  // x = other(layer, x) for ReLU and pooling layers; retire(x) once the next layer has read an
  // activation that is not asked for.
  template <class Value, class Conv, class Other, class Retire>
  std::map<std::string, Value> run(const shape& input, const Value& image, const std::vector<std::string>& layers,
                                   Conv&& conv, Other&& other, Retire&& retire) const {
    std::map<std::string, Value> out;
    const int deepest = plan(input, layers);
    if (deepest < 0) return out;
    const auto wanted = [&layers](const std::string& name) {
      return std::find(layers.begin(), layers.end(), name) != layers.end();
    };
    const auto& table = vgg19_layers();
    // Applies layer i (and the ReLU after it when fused) to x; returns the last layer applied.
    const auto step = [&](int i, const Value& x, Value& result) {
      const vgg19_layer& layer = table[static_cast<std::size_t>(i)];
      if (layer.kind != vgg19_layer_kind::conv) {
        result = other(layer, x);
        return i;
      }
      const bool fuse = i < deepest && !wanted(layer.name);  // every VGG19 conv is followed by its ReLU
      result = conv(layer, x, fuse);
      return fuse ? i + 1 : i;
    };
    Value x;
    int i = step(0, image, x);  // conv1_1 reads the input itself: no copy of it
    for (;;) {
      const vgg19_layer& layer = table[static_cast<std::size_t>(i)];
      if (i == deepest) {
        out[layer.name] = std::move(x);
        break;
      }
      const bool keep = wanted(layer.name);
      if (keep) out[layer.name] = x;
      Value next;
      i = step(i + 1, x, next);
      if (!keep) retire(x);
      x = std::move(next);
    }
    return out;
  }

  std::vector<conv_parameters> convs_;  // 16, by conv index; a vector so their addresses survive moves
  int loaded_convs_ = 0;                // convs 0..loaded_convs_-1 are all present
  vgg19_identity identity_;
  std::string format_;
  std::uint64_t data_bytes_read_;
  nst::pooling pool_;
  conv_algorithm convolution_;
  padding_mode first_conv_padding_;
  bool keep_winograd_weights_;
  // Winograd weights by conv index, filled by conv_layer() on first use.
  mutable std::vector<std::shared_ptr<const typename conv3x3_same<T>::winograd_type>> winograd_ =
      std::vector<std::shared_ptr<const typename conv3x3_same<T>::winograd_type>>(vgg19_conv_count);
  std::shared_ptr<std::mutex> winograd_lock_ = std::make_shared<std::mutex>();
};

// The text `nst weights inspect FILE` prints: format, layout, preprocessing and why, the loaded
// convolutions and the layers they make available.
inline std::string describe_weights_file(const std::string& path, const vgg19_options& options = {}) {
  return vgg19<float>::from_file(path, options).describe().str();
}

}  // namespace nst
