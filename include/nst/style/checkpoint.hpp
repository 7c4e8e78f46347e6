// nst/style/checkpoint.hpp — save a stylize() run to a file and continue it later, exactly.
//
// A checkpoint is a safetensors file: the image being optimised (`x`, in the network's input
// space), the optimizer's tensors (L-BFGS's direction, last gradient and history pairs, or
// Adam's moments and, with averaging on, its iterate average) and, as metadata, the counters, the scalars (as hexadecimal floating point,
// so that they read back to the same bits) and the run's identity (stylize_state::run). A run
// resumed from it with the same inputs and options gives the same bytes as one never stopped.
//
//   nst::stylize_state<float> state;
//   nst::stylize(net, content, styles, options, [&](const nst::stylize_progress<float>& p) {
//     if (p.iteration % 100 == 0) nst::save_checkpoint("run.ckpt", *p.state);
//   }, {}, &state);
//   nst::save_checkpoint("run.ckpt", state);                      // the final state
//
//   auto resumed = nst::load_checkpoint<float>("run.ckpt");       // later, perhaps elsewhere
//   options.iterations = 2000;                                   // continue to 2000
//   auto image = nst::stylize(net, content, styles, options, {}, {}, &resumed);
//
// Saving is atomic (the old file stays whole until the new one is complete) and copies no
// tensor: they are lent to the writer and given back. Errors: an empty state (value_error 257),
// a file that is not an nst checkpoint or whose metadata or tensors are malformed (format_error
// 380-384), a checkpoint of another scalar type (value_error 258), an averaged Adam run saved
// without its iterate average (value_error 259), and the io/format errors of save_safetensors
// and load_safetensors. Checkpoints written before the average was stored still load; only
// those of runs with averaging on (run.adam_average not 0) cannot be continued.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../io/safetensors.hpp"
#include "state.hpp"

namespace nst {
namespace detail {

constexpr const char* checkpoint_version = "1";

template <class T>
const char* scalar_name() {
  return std::is_same<T, float>::value ? "float" : "double";
}

// Moves tensors into a map for the writer and back into their owners when it goes out of scope
// (also when the writer throws), so that saving a state copies nothing.
template <class T>
class lent_tensors {
 public:
  lent_tensors() = default;
  lent_tensors(const lent_tensors&) = delete;
  lent_tensors& operator=(const lent_tensors&) = delete;
  ~lent_tensors() {
    for (auto& [name, owner] : owners_) *owner = std::move(tensors_.at(name));
  }

  // Lends `t` under `name`; an empty tensor is left out.
  void lend(const std::string& name, tensor<T>& t) {
    if (t.empty()) return;
    tensors_.emplace(name, std::move(t));
    owners_.emplace_back(name, &t);
    order_.push_back(name);
  }
  const std::map<std::string, tensor<T>>& tensors() const { return tensors_; }
  const std::vector<std::string>& order() const { return order_; }

 private:
  std::map<std::string, tensor<T>> tensors_;
  std::vector<std::pair<std::string, tensor<T>*>> owners_;
  std::vector<std::string> order_;
};

inline std::string history_name(const char* kind, std::size_t i) { return std::string("lbfgs.") + kind + "." + std::to_string(i); }

// Reads the checkpoint's metadata: each getter names the file and the key when it is missing or
// malformed (format_error 382).
class checkpoint_metadata {
 public:
  checkpoint_metadata(const std::map<std::string, std::string>& values, const std::string& path)
      : values_(values), path_(path) {}

  const std::string& text(const std::string& key) const {
    const auto it = values_.find(key);
    NST_CHECK(it != values_.end(), format_error, 382, "load_checkpoint: ", path_, " has no '", key, "' metadata");
    return it->second;
  }
  int integer(const std::string& key) const {
    const std::string& t = text(key);
    errno = 0;
    char* end = nullptr;
    const long v = std::strtol(t.c_str(), &end, 10);
    NST_CHECK(!t.empty() && *end == '\0' && errno == 0 && v >= 0 && v <= 1000000000, format_error, 382,
              "load_checkpoint: ", path_, ": metadata '", key, "' = '", t, "' is not a count");
    return static_cast<int>(v);
  }
  double number(const std::string& key) const { return parse_number(key, text(key)); }
  std::vector<double> numbers(const std::string& key) const {
    std::vector<double> out;
    const std::string& t = text(key);
    for (std::size_t begin = 0; begin < t.size();) {
      const std::size_t comma = std::min(t.find(',', begin), t.size());
      out.push_back(parse_number(key, t.substr(begin, comma - begin)));
      begin = comma + 1;
    }
    return out;
  }

 private:
  double parse_number(const std::string& key, const std::string& t) const {
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    NST_CHECK(!t.empty() && *end == '\0' && errno == 0 && std::isfinite(v), format_error, 382, "load_checkpoint: ",
              path_, ": metadata '", key, "' holds '", t, "', not a finite number");
    return v;
  }

  const std::map<std::string, std::string>& values_;
  const std::string& path_;
};

}  // namespace detail

// Writes `state` (as stylize() leaves it, or as an observer sees it through
// stylize_progress::state) to `path` atomically. The state's tensors are moved into the writer
// and back: `state` is unchanged when this returns, also on error. value_error 257 for a state
// with no image (a run that never started); io errors of save_safetensors.
template <class T>
void save_checkpoint(const std::string& path, stylize_state<T>& state) {
  NST_CHECK(!state.x.empty(), value_error, 257, "save_checkpoint: the state holds no image (the run has not started)");
  std::map<std::string, std::string> metadata = {
      {"nst.checkpoint", detail::checkpoint_version},
      {"scalar", detail::scalar_name<T>()},
      {"iteration", std::to_string(state.iteration)},
      {"evaluations", std::to_string(state.evaluations)},
      {"loss", detail::exact_text(state.loss)},
      {"lbfgs.iterations", std::to_string(state.lbfgs.iterations)},
      {"lbfgs.step_length", detail::exact_text(state.lbfgs.step_length)},
      {"lbfgs.hessian_scale", detail::exact_text(state.lbfgs.hessian_scale)},
      {"lbfgs.pairs", std::to_string(state.lbfgs.steps.size())},
      {"adam.step", std::to_string(state.adam.step)},
      {"adam.averaged", state.adam.average.empty() ? "no" : "yes"},
  };
  std::string curvatures;
  for (double rho : state.lbfgs.inverse_curvatures) curvatures += (curvatures.empty() ? "" : ",") + detail::exact_text(rho);
  metadata["lbfgs.inverse_curvatures"] = curvatures;
  for (const auto& [key, value] : state.run) metadata["run." + key] = value;

  detail::lent_tensors<T> lent;
  lent.lend("x", state.x);
  lent.lend("lbfgs.direction", state.lbfgs.direction);
  lent.lend("lbfgs.previous_gradient", state.lbfgs.previous_gradient);
  for (std::size_t i = 0; i < state.lbfgs.steps.size(); ++i) {
    lent.lend(detail::history_name("steps", i), state.lbfgs.steps[i]);
    lent.lend(detail::history_name("gradient_changes", i), state.lbfgs.gradient_changes[i]);
  }
  lent.lend("adam.first_moment", state.adam.first_moment);
  lent.lend("adam.second_moment", state.adam.second_moment);
  lent.lend("adam.average", state.adam.average);
  save_safetensors(path, lent.tensors(), lent.order(), metadata);
}

// Reads a checkpoint written by save_checkpoint<T>. format_error 380 when `path` is not an nst
// checkpoint, 381 for an unknown checkpoint version, 382 for missing or malformed metadata, 383
// for a missing tensor, 384 for a tensor whose shape is not the image's; value_error 258 when
// the checkpoint holds another scalar type; value_error 259 for an Adam run with iterate
// averaging saved without its average (by an nst that did not store it); the errors of
// load_safetensors.
template <class T>
stylize_state<T> load_checkpoint(const std::string& path) {
  weight_file<T> file = load_safetensors<T>(path);
  NST_CHECK(file.metadata.count("nst.checkpoint") != 0, format_error, 380, "load_checkpoint: ", path,
            " is not an nst checkpoint (its safetensors metadata has no 'nst.checkpoint')");
  const detail::checkpoint_metadata meta(file.metadata, path);
  NST_CHECK(meta.text("nst.checkpoint") == detail::checkpoint_version, format_error, 381, "load_checkpoint: ", path,
            " is a version ", meta.text("nst.checkpoint"), " checkpoint; this nst reads version ",
            detail::checkpoint_version);
  NST_CHECK(meta.text("scalar") == detail::scalar_name<T>(), value_error, 258, "load_checkpoint: ", path, " holds a ",
            meta.text("scalar"), " run; load it as load_checkpoint<", meta.text("scalar"), ">");

  auto take = [&](const std::string& name, bool required) {
    auto it = file.tensors.find(name);
    NST_CHECK(it != file.tensors.end() || !required, format_error, 383, "load_checkpoint: ", path,
              " has no tensor '", name, "'");
    tensor<T> t = it == file.tensors.end() ? tensor<T>() : std::move(it->second);
    if (it != file.tensors.end()) file.tensors.erase(it);
    return t;
  };
  stylize_state<T> state;
  state.x = take("x", true);
  NST_CHECK(state.x.rank() == 4 && state.x.dim(0) == 1 && state.x.dim(1) == 3, format_error, 384, "load_checkpoint: ",
            path, ": the image x must be [1,3,H,W], got ", state.x.shape());
  auto take_like_x = [&](const std::string& name, bool required) {
    tensor<T> t = take(name, required);
    NST_CHECK(t.empty() || t.shape() == state.x.shape(), format_error, 384, "load_checkpoint: ", path, ": tensor '",
              name, "' has shape ", t.shape(), ", the image ", state.x.shape());
    return t;
  };
  state.iteration = meta.integer("iteration");
  state.evaluations = meta.integer("evaluations");
  state.loss = meta.number("loss");

  auto& lbfgs = state.lbfgs;
  lbfgs.iterations = meta.integer("lbfgs.iterations");
  lbfgs.step_length = meta.number("lbfgs.step_length");
  lbfgs.hessian_scale = meta.number("lbfgs.hessian_scale");
  const int pairs = meta.integer("lbfgs.pairs");
  lbfgs.inverse_curvatures = meta.numbers("lbfgs.inverse_curvatures");
  NST_CHECK(lbfgs.inverse_curvatures.size() == static_cast<std::size_t>(pairs), format_error, 382,
            "load_checkpoint: ", path, ": ", lbfgs.inverse_curvatures.size(), " inverse curvatures for ", pairs,
            " L-BFGS pairs");
  lbfgs.direction = take_like_x("lbfgs.direction", lbfgs.iterations > 0);
  lbfgs.previous_gradient = take_like_x("lbfgs.previous_gradient", lbfgs.iterations > 0);
  for (int i = 0; i < pairs; ++i) {
    lbfgs.steps.push_back(take_like_x(detail::history_name("steps", static_cast<std::size_t>(i)), true));
    lbfgs.gradient_changes.push_back(
        take_like_x(detail::history_name("gradient_changes", static_cast<std::size_t>(i)), true));
  }
  state.adam.step = meta.integer("adam.step");
  state.adam.first_moment = take_like_x("adam.first_moment", state.adam.step > 0);
  state.adam.second_moment = take_like_x("adam.second_moment", state.adam.step > 0);
  // "adam.averaged" is absent from checkpoints written before the average was stored: those
  // load, unless their run needs an average (stylize's run identity says adam_average).
  const bool averaged = file.metadata.count("adam.averaged") != 0 && meta.text("adam.averaged") == "yes";
  state.adam.average = take_like_x("adam.average", averaged);
  const auto decay = file.metadata.find("run.adam_average");
  const bool needs_average = state.adam.step > 0 && decay != file.metadata.end() && std::strtod(decay->second.c_str(), nullptr) != 0;
  NST_CHECK(!needs_average || !state.adam.average.empty(), value_error, 259, "load_checkpoint: ", path,
            " holds an Adam run with iterate averaging (adam_average ", decay->second,
            ") but not its average (written by an older nst): it cannot be continued exactly; start the run again");

  const std::string prefix = "run.";
  for (const auto& [key, value] : file.metadata)
    if (key.compare(0, prefix.size(), prefix) == 0) state.run[key.substr(prefix.size())] = value;
  return state;
}

}  // namespace nst
