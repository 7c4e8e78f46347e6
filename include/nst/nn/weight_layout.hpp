// nst/nn/weight_layout.hpp — how VGG19 weight files name their tensors, and what input they expect.
//
// Three kinds of VGG19 file are in common use, with two naming schemes:
//   torchvision      `features.N.weight` / `features.N.bias`, N = position in vgg19().features
//                    (vgg19-dcbb9e9d.pth); trained with torch preprocessing.
//   caffe_names      `conv1_1.weight` ... `conv5_4.bias` (Gatys' vgg_conv.pth, nst's shared
//                    safetensors); converted from the original Caffe model: caffe preprocessing.
//   neural_style_pt  the Caffe model converted by neural-style-pt (vgg19-d01eb7cb.pth): the
//                    SAME `features.N` names as torchvision but caffe preprocessing. Only the
//                    file's SHA-256 tells it apart.
// Every scheme maps to canonical names conv1_1.weight ... conv5_4.bias:
//
//   auto p = nst::parse_vgg19_key("features.19.weight");   // {conv 8 (conv4_1), weight}
//   auto who = nst::identify_vgg19_weights(names, metadata, std::nullopt, [&] { return sha256_file(path); });
//   who.input == nst::preprocessing::caffe; who.input_source == nst::preprocessing_source::layout;
//
// The preprocessing is decided, first match wins, by: the user's override; the safetensors
// `__metadata__` (key "preprocessing" = caffe|torch, or a free-text "input" key mentioning BGR or
// Caffe); for caffe-style names, the layout; for features.N names, the file's SHA-256 against the
// table of published files below (hashed only then: a full VGG19 is 548 MB), else torchvision.
#pragma once

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "preprocessing.hpp"
#include "vgg19_layers.hpp"

namespace nst {

enum class weight_layout { torchvision, caffe_names, neural_style_pt };

// A readable name of the key layout, as `nst weights inspect` prints it.
inline const char* to_string(weight_layout layout) {
  switch (layout) {
    case weight_layout::torchvision: return "torchvision (features.N names)";
    case weight_layout::caffe_names: return "caffe names (conv1_1.weight ...)";
    case weight_layout::neural_style_pt: return "neural-style-pt Caffe conversion (features.N names)";
  }
  return "?";
}

// Published VGG19 files recognised by SHA-256: the one table, in step with weights/README.md.
// torchvision-style file names carry the first 8 hex digits of the file's SHA-256 (torch.hub
// checks only that prefix). Where a full digest is known it is given and must match exactly;
// for neural-style-pt's file only the prefix from its name is known, so it is matched as a prefix.
struct known_vgg19_file {
  const char* file_name;
  const char* sha256;  // full lower-case hex digest, or its leading digits when only those are known
  const char* origin;
  weight_layout layout;
  preprocessing input;
};

// The published VGG19 files nst recognises by SHA-256, with their layout and preprocessing.
inline const std::vector<known_vgg19_file>& known_vgg19_files() {
  static const std::vector<known_vgg19_file> files = {
      {"vgg19-dcbb9e9d.pth", "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
       "torchvision ImageNet VGG19", weight_layout::torchvision, preprocessing::torch},
      {"vgg19-d01eb7cb.pth", "d01eb7cb", "neural-style-pt's conversion of the Caffe VGG19",
       weight_layout::neural_style_pt, preprocessing::caffe},
  };
  return files;
}

// The known file whose digest (or digest prefix) `sha256` (lower-case hex) matches, or nullptr.
inline const known_vgg19_file* find_known_vgg19_file(const std::string& sha256) {
  for (const known_vgg19_file& file : known_vgg19_files()) {
    const std::string known = file.sha256;
    if (sha256.size() >= known.size() && sha256.compare(0, known.size(), known) == 0) return &file;
  }
  return nullptr;
}

// A tensor name understood as one parameter of one VGG19 convolution.
struct vgg19_key {
  enum class naming { features_index, caffe_name };
  naming scheme;
  int conv;        // 0..15 (conv1_1 .. conv5_4); -1 for features.N where layer N has no parameters
  int feature_index;  // N of features.N (or the conv's position for caffe names)
  bool is_weight;  // weight or bias

  std::string canonical() const {
    return vgg19_conv_names()[static_cast<std::size_t>(conv)] + (is_weight ? ".weight" : ".bias");
  }
};

namespace detail {

inline bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 3 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace detail

// Parses "features.N.weight|bias" (any N: a parameter at a layer without one is reported with
// conv = -1, so the caller can name the problem) and "convB_I.weight|bias" for the 16 VGG19 convs.
// Anything else (the classifier, other networks' names) gives std::nullopt.
inline std::optional<vgg19_key> parse_vgg19_key(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string stem = name.substr(0, dot), param = name.substr(dot + 1);
  if (param != "weight" && param != "bias") return std::nullopt;
  const bool is_weight = param == "weight";

  const std::string features_prefix = "features.";
  if (stem.compare(0, features_prefix.size(), features_prefix) == 0) {
    const std::string index = stem.substr(features_prefix.size());
    if (!detail::all_digits(index)) return std::nullopt;
    const int n = std::stoi(index);
    const auto& layers = vgg19_layers();
    const bool is_conv = n < static_cast<int>(layers.size()) &&
                         layers[static_cast<std::size_t>(n)].kind == vgg19_layer_kind::conv;
    return vgg19_key{vgg19_key::naming::features_index,
                     is_conv ? layers[static_cast<std::size_t>(n)].last_conv : -1, n, is_weight};
  }
  const auto& convs = vgg19_conv_names();
  const auto it = std::find(convs.begin(), convs.end(), stem);
  if (it == convs.end()) return std::nullopt;
  const int conv = static_cast<int>(it - convs.begin());
  return vgg19_key{vgg19_key::naming::caffe_name, conv, static_cast<int>(vgg19_conv_layer_index(conv)),
                   is_weight};
}

// True for names a VGG19 loader must read: every features.* parameter (so that a wrong network
// is detected, not silently skipped) and the caffe-style conv names. The classifier is skipped.
inline bool is_vgg19_feature_key(const std::string& name) { return parse_vgg19_key(name).has_value(); }

enum class preprocessing_source { user, metadata, hash, layout };

// Why the preprocessing was chosen (user, metadata, hash, layout), for messages and inspect.
inline const char* to_string(preprocessing_source s) {
  switch (s) {
    case preprocessing_source::user: return "user";
    case preprocessing_source::metadata: return "metadata";
    case preprocessing_source::hash: return "hash";
    case preprocessing_source::layout: return "layout";
  }
  return "?";
}

// What a weight file is: naming scheme, the input it expects, and why we think so.
struct vgg19_identity {
  weight_layout layout = weight_layout::torchvision;
  preprocessing input = preprocessing::torch;
  preprocessing_source input_source = preprocessing_source::layout;
  std::string reason;      // one line for humans, e.g. "metadata 'input' mentions BGR/Caffe"
  std::string sha256;      // filled only when the file was hashed
  std::string known_file;  // "vgg19-d01eb7cb.pth (...)" when the hash matched a published file
};

// The preprocessing the safetensors `__metadata__` declares, if it declares one.
inline std::optional<preprocessing> preprocessing_from_metadata(const std::map<std::string, std::string>& metadata,
                                                                std::string* reason = nullptr) {
  const auto declared = metadata.find("preprocessing");
  if (declared != metadata.end()) {
    const std::string value = detail::lower(declared->second);
    NST_CHECK(value == "caffe" || value == "torch", format_error, 371,
              "vgg19 weights: metadata preprocessing = '", declared->second, "' is neither caffe nor torch");
    if (reason) *reason = "metadata preprocessing = " + value;
    return parse_preprocessing(value);
  }
  const auto input = metadata.find("input");
  if (input != metadata.end()) {
    const std::string text = detail::lower(input->second);
    if (text.find("bgr") != std::string::npos || text.find("caffe") != std::string::npos) {
      if (reason) *reason = "metadata input = \"" + input->second + "\"";
      return preprocessing::caffe;
    }
    if (text.find("rgb") != std::string::npos || text.find("imagenet") != std::string::npos) {
      if (reason) *reason = "metadata input = \"" + input->second + "\"";
      return preprocessing::torch;
    }
  }
  return std::nullopt;
}

// Decides layout and preprocessing of a file with tensors `names` (see the overview for the
// order). `file_sha256` is called at most once, and only for features.N files with neither a
// user choice nor metadata; pass an empty function when there is no file to hash.
inline vgg19_identity identify_vgg19_weights(const std::vector<std::string>& names,
                                             const std::map<std::string, std::string>& metadata,
                                             std::optional<preprocessing> user_choice,
                                             const std::function<std::string()>& file_sha256 = {}) {
  bool has_features = false, has_caffe_names = false;
  for (const std::string& name : names) {
    if (const auto key = parse_vgg19_key(name)) {
      (key->scheme == vgg19_key::naming::features_index ? has_features : has_caffe_names) = true;
    }
  }
  NST_CHECK(has_features || has_caffe_names, lookup_error, 512,
            "vgg19 weights: no VGG19 convolution tensors found among ", names.size(),
            " tensors (expected features.N.weight as in torchvision, or conv1_1.weight ...)",
            names.empty() ? "" : "; first tensor is '", names.empty() ? "" : names.front(),
            names.empty() ? "" : "'");
  NST_CHECK(!(has_features && has_caffe_names), format_error, 372,
            "vgg19 weights: the file mixes features.N names and conv1_1-style names");

  vgg19_identity id;
  id.layout = has_caffe_names ? weight_layout::caffe_names : weight_layout::torchvision;
  std::string metadata_reason;
  if (user_choice) {
    id.input = *user_choice;
    id.input_source = preprocessing_source::user;
    id.reason = std::string("chosen by the user: ") + to_string(*user_choice);
  } else if (const auto declared = preprocessing_from_metadata(metadata, &metadata_reason)) {
    id.input = *declared;
    id.input_source = preprocessing_source::metadata;
    id.reason = metadata_reason;
  } else if (has_caffe_names) {
    id.input = preprocessing::caffe;
    id.input_source = preprocessing_source::layout;
    id.reason = "conv1_1-style names come from Caffe conversions";
  } else {
    id.input = preprocessing::torch;
    id.input_source = preprocessing_source::layout;
    id.reason = "features.N names: torchvision's convention";
    if (file_sha256) {
      id.sha256 = file_sha256();
      if (const known_vgg19_file* known = find_known_vgg19_file(id.sha256)) {
        id.layout = known->layout;
        id.input = known->input;
        id.input_source = preprocessing_source::hash;
        id.known_file = std::string(known->file_name) + " (" + known->origin + ")";
        id.reason = "SHA-256 " + id.sha256.substr(0, 8) + "... is " + id.known_file;
      } else {
        id.reason += " (SHA-256 " + id.sha256.substr(0, 8) + "... is not a known file)";
      }
    }
  }
  return id;
}

}  // namespace nst
