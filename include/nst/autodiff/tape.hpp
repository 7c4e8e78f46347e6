// nst/autodiff/tape.hpp — reverse-mode automatic differentiation over tensors.
//
// A `tape<T>` records a computation as it runs. Each recorded value is a node; a `var<T>` is a
// cheap handle to one. Leaves enter the tape as
//   variable(x)   — a value we want the gradient of (the image being optimised),
//   constant(x)   — a value owned by the tape with no gradient (a target),
//   reference(x)  — a value NOT copied, with no gradient (network weights; keep x alive).
// Differentiable ops (nst/autodiff/ops.hpp) compute their value immediately and record a
// backward step only when one of their inputs requires a gradient; their backward step computes
// gradients only for the inputs that require one (frozen weights cost nothing).
//
//   nst::tape<double> tp;
//   auto x = tp.variable(image);
//   auto loss = nst::ad::sum(nst::ad::relu(x));
//   tp.backward(loss);                  // d loss / d loss = 1, then the chain rule back to x
//   const auto& g = x.grad();           // d loss / d x
//
// There is no global state: several tapes can live side by side (one per thread, say). clear()
// forgets every node so a tape can be reused for the next iteration.
//
// The contract every backward step keeps (see record()): it reads the gradient of its own
// output, `grad_output`, and of the tape's values only those of the inputs it was recorded with,
// and adds (never assigns) its contribution into each input that requires a gradient, through
// `accumulate`, or in place into `gradient_so_far`. Gradients of intermediate nodes are freed as
// soon as they have been propagated; leaves keep theirs until clear(). backward(loss,
// spent_values::release) also frees the value of each op output on the gradient's path once every
// step recorded with it as an input has run (stylize's features of relu2_1..relu5_1 then go while
// the backward pass works on the full-size first layers, instead of at clear()).
//
// Steps run as late as they may: by their newest input, newest first (each consumer of a node
// has that node among its inputs, so it still runs before the node's own step). A loss on an
// early layer of a network (the Gram matrix of relu1_1) then computes that layer's gradient when
// the backward pass arrives there, instead of at the start, where it would wait through the
// whole network beside every other layer's gradient. Among steps with the same newest input the
// newest runs first: the loss on relu1_1 before conv1_2's step, which then adds its input
// gradient onto the loss's in place.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"

namespace nst {

// What tape::backward does with the value of an op's output (one with a backward step) once no
// step left to run reads it: keep it (readable after backward until clear()) or release it (as
// tape::release: lower peak memory; the tape is then spent, for clear(), and such values read as
// empty tensors).
enum class spent_values { keep, release };

// The autodiff tape (defined below); declared first because var<T> refers to it.
template <class T>
class tape;

// A handle to one node of a tape (copy it freely). Valid until the tape is cleared or destroyed;
// a default-constructed var is invalid (valid() is false) and must not be used otherwise.
template <class T>
class var {
 public:
  var() = default;
  var(tape<T>* owner, std::size_t index) : tape_(owner), index_(index) {}  // made by the tape

  const tensor<T>& value() const { return tape_->value(index_); }  // the node's value
  // d(scalar passed to backward) / d(this); zeros when no gradient reached this node.
  const tensor<T>& grad() const { return tape_->grad(index_); }
  bool requires_grad() const { return tape_->requires_grad(index_); }  // a gradient flows to it
  const nst::shape& shape() const { return tape_->shape(index_); }  // the value's shape
  tape<T>& owner() const { return *tape_; }                     // the tape it belongs to
  std::size_t index() const { return index_; }                  // its position on the tape
  bool valid() const { return tape_ != nullptr; }               // false for var()

 private:
  tape<T>* tape_ = nullptr;
  std::size_t index_ = 0;
};

// A record of a computation for reverse-mode differentiation (see the overview). Not copyable:
// vars point at it. Not thread-safe: use one tape per thread.
template <class T>
class tape {
 public:
  // A backward step: given the gradient of the node's output, accumulate into its inputs.
  using backward_step = std::function<void(const tensor<T>& grad_output, tape& t)>;

  tape() = default;
  tape(const tape&) = delete;  // vars point at their tape
  tape& operator=(const tape&) = delete;

  // A leaf that gets a gradient (the tape keeps its own copy of `value`).
  var<T> variable(tensor<T> value) { return add_owned(std::move(value), true); }
  // A leaf with no gradient, owned by the tape (a target).
  var<T> constant(tensor<T> value) { return add_owned(std::move(value), false); }
  // A leaf with no gradient that is NOT copied: `value` must outlive the tape's use of it.
  var<T> reference(const tensor<T>& value) {
    nodes_.emplace_back();
    nodes_.back().value = &value;
    nodes_.back().shape = value.shape();
    return var<T>(this, nodes_.size() - 1);
  }

  // Records the result of an op. `step` is kept only when some input requires a gradient.
  // Throws value_error 204 when an input belongs to another tape.
  template <class Step>
  var<T> record(tensor<T> value, std::initializer_list<var<T>> inputs, Step&& step) {
    bool needs_grad = false;
    for (const var<T>& in : inputs) {
      NST_CHECK(&in.owner() == this, value_error, 204,
                "tape: an op mixes variables from different tapes");
      needs_grad = needs_grad || in.requires_grad();
    }
    var<T> out = add_owned(std::move(value), needs_grad);
    if (needs_grad) {
      node& n = nodes_.back();
      n.backward = std::forward<Step>(step);
      for (const var<T>& in : inputs) {
        n.newest_input = std::max(n.newest_input, in.index());
        n.inputs.push_back(in.index());
      }
    }
    return out;
  }

  // Adds `gradient` into the gradient of `target` (ignored when target needs no gradient).
  // Throws shape_error 105 when the gradient's shape differs from the target's value.
  void accumulate(const var<T>& target, tensor<T>&& gradient) {
    node& n = nodes_[target.index()];
    if (!n.requires_grad) return;
    NST_CHECK(gradient.shape() == n.shape, shape_error, 105,
              "tape::accumulate (gradient vs value): shapes differ, ", gradient.shape(), " vs ", n.shape);
    if (n.grad.empty()) {
      n.grad = std::move(gradient);
    } else {
      n.grad.vector() += gradient.vector();
    }
  }

  // The gradient that has reached `target` so far, for a backward step that adds its contribution
  // in place (no tensor of its own, no pass of accumulate over memory); nullptr when none has
  // arrived yet or the target needs none (then the step calls accumulate).
  tensor<T>* gradient_so_far(const var<T>& target) {
    node& n = nodes_[target.index()];
    return n.requires_grad && !n.grad.empty() ? &n.grad : nullptr;
  }

  // Reverse pass from a scalar (one-element) node: seeds d out/d out = 1, then runs the recorded
  // steps by their newest input, newest first (ties: newest step first); with
  // spent_values::release the value of each op output with a step is freed once the steps that
  // read it have run (see spent_values). Throws value_error 204 (another tape's var), shape_error 106 (not one
  // element).
  void backward(const var<T>& scalar, spent_values spent = spent_values::keep) {
    NST_CHECK(&scalar.owner() == this, value_error, 204, "tape::backward: the output is on another tape");
    const tensor<T>& out = scalar.value();
    NST_CHECK(out.size() == 1, shape_error, 106, "tape::backward: the output must be a scalar, got shape ",
              out.shape());
    for (node& n : nodes_) n.grad = tensor<T>();
    node& seed = nodes_[scalar.index()];
    if (!seed.requires_grad) return;  // nothing on the path needs a gradient
    seed.grad = tensor<T>(out.shape(), T(1));
    std::vector<std::size_t> steps;
    for (std::size_t i = 0; i <= scalar.index(); ++i)
      if (nodes_[i].backward) steps.push_back(i);
    std::sort(steps.begin(), steps.end(), [this](std::size_t a, std::size_t b) {
      const std::size_t input_a = nodes_[a].newest_input, input_b = nodes_[b].newest_input;
      return input_a != input_b ? input_a > input_b : a > b;
    });
    // With release: how many steps still to run read each node's value (a step without a
    // gradient to propagate is skipped, and then reads nothing either).
    std::vector<std::size_t> readers(spent == spent_values::release ? nodes_.size() : 0, 0);
    if (spent == spent_values::release)
      for (std::size_t i : steps)
        for (std::size_t input : nodes_[i].inputs) ++readers[input];
    for (std::size_t i : steps) {
      node& n = nodes_[i];
      if (!n.grad.empty()) {
        tensor<T> grad_output = std::move(n.grad);  // freed after use: only leaves keep gradients
        n.grad = tensor<T>();
        n.backward(grad_output, *this);
      }
      if (spent == spent_values::release)
        for (std::size_t input : n.inputs)
          if (--readers[input] == 0 && nodes_[input].value == &nodes_[input].owned && nodes_[input].backward)
            nodes_[input].owned = tensor<T>();  // an op's output no step reads any more
    }
  }

  // Frees the value of an op's output that nothing will read again (no later backward step, no
  // loss), keeping its shape and gradient bookkeeping: for long chains whose steps keep what they
  // need themselves (ad::conv3x3's bit mask, max pooling's indices). Afterwards value() of it is
  // an empty tensor. Variables and references keep their values (value_error 264).
  void release(const var<T>& v) {
    NST_CHECK(&v.owner() == this, value_error, 204, "tape::release: the var is on another tape");
    node& n = nodes_[v.index()];
    const bool variable = n.requires_grad && !n.backward;
    NST_CHECK(n.value == &n.owned && !variable, value_error, 264, "tape::release: node ", v.index(),
              " is a variable or a reference; only computed values can be released");
    n.owned = tensor<T>();
  }

  // Forgets every node (vars handed out before become invalid).
  void clear() { nodes_.clear(); }
  std::size_t size() const { return nodes_.size(); }  // nodes recorded

  // Node i's value, whether it requires a gradient, and its gradient after backward() (zeros of
  // the value's shape when none reached it). std::out_of_range for i >= size().
  const tensor<T>& value(std::size_t i) const { return *nodes_.at(i).value; }
  bool requires_grad(std::size_t i) const { return nodes_.at(i).requires_grad; }
  // Node i's shape (kept after release()).
  const nst::shape& shape(std::size_t i) const { return nodes_.at(i).shape; }
  const tensor<T>& grad(std::size_t i) {
    node& n = nodes_.at(i);
    if (n.grad.empty()) n.grad = tensor<T>(n.shape);
    return n.grad;
  }

 private:
  struct node {
    tensor<T> owned;                 // the value, unless it is a reference
    const tensor<T>* value = nullptr;
    nst::shape shape;                // the value's, kept when an op output is released
    tensor<T> grad;                  // empty until a gradient arrives
    bool requires_grad = false;
    backward_step backward;          // empty for leaves and for nodes needing no gradient
    std::size_t newest_input = 0;    // the largest index among the op's inputs (0 for leaves)
    std::vector<std::size_t> inputs;  // the op's inputs, whose values its backward step may read
  };

  var<T> add_owned(tensor<T>&& value, bool requires_grad) {
    nodes_.emplace_back();  // a deque never moves existing nodes, so `value` pointers stay valid
    node& n = nodes_.back();
    n.owned = std::move(value);
    n.value = &n.owned;
    n.shape = n.owned.shape();
    n.requires_grad = requires_grad;
    return var<T>(this, nodes_.size() - 1);
  }

  std::deque<node> nodes_;
};

}  // namespace nst
