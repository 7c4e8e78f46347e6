// nst/loss/term.hpp — what a loss functor is, and how loss functors add up.
//
// A loss functor (a "term") maps the network's view of the image being optimised to a scalar on
// the autodiff tape. It sees a `loss_inputs<T>`: the image var (the network input x) and the
// activations at the layers it asked for. The contract, checked at compile time:
//
//   struct my_loss {
//     using value_type = float;
//     using loss_term_tag = void;                        // "I am a loss functor"
//     const char* name() const;                          // "content", "style", ... for logs
//     std::vector<std::string> layers() const;           // activations it reads (may be empty)
//     nst::var<float> operator()(const nst::loss_inputs<float>& in) const;  // weighted value
//   };
//
// Terms compose with `+` into a `loss_sum`, which is itself a term, evaluates every part, and
// reports each part's value in a `loss_breakdown` (for progress lines and JSON logs):
//
//   auto objective = nst::content_loss<float>(1.0f, {"relu4_2"})
//                  + nst::style_loss<float>(100.0f, {"relu1_1", "relu2_1"})
//                  + nst::tv_loss<float>(1e-3f);
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../autodiff.hpp"

namespace nst {

// Activations by layer name, plain tensors (targets) or vars on a tape (the image being optimised).
template <class T>
using feature_map = std::map<std::string, tensor<T>>;
// Activations by layer name as tape variables, as vgg19::features returns them on a tape.
template <class T>
using feature_vars = std::map<std::string, var<T>>;

// What every loss functor is evaluated on: the image variable and the activations by layer.
template <class T>
struct loss_inputs {
  const var<T>& image;               // the network input x being optimised
  const feature_vars<T>& features;   // activations at (at least) the layers the terms asked for
};

// Each term's weighted value by name, summed when several terms share a name.
using loss_breakdown = std::map<std::string, double>;

// True for types that declare `using loss_term_tag = void;` (the loss-functor contract).
template <class X, class = void>
struct is_loss_term : std::false_type {};
template <class X>
struct is_loss_term<X, std::void_t<typename X::loss_term_tag>> : std::true_type {};

namespace detail {
template <class T>
const var<T>& feature_at(const loss_inputs<T>& in, const std::string& layer, const char* term) {
  auto it = in.features.find(layer);
  NST_CHECK(it != in.features.end(), lookup_error, 540, term, " loss: no activation for layer '", layer,
            "' was given (ask the network for every layer in layers())");
  return it->second;
}
}  // namespace detail

// The sum of loss functors (made with +): layers() is the union of the terms' layers, and
// evaluate(inputs, &breakdown) returns the total as a tape variable with each term's value by name.
template <class... Terms>
class loss_sum {
  static_assert(sizeof...(Terms) > 0, "nst::loss_sum needs at least one term");
  static_assert((is_loss_term<Terms>::value && ...),
                "nst::loss_sum: every term must be a loss functor: declare `using loss_term_tag = void;`, "
                "`using value_type = T;` and provide name(), layers() and operator()(const loss_inputs<T>&)");

 public:
  using value_type = typename std::tuple_element_t<0, std::tuple<Terms...>>::value_type;
  using loss_term_tag = void;
  static_assert((std::is_same<typename Terms::value_type, value_type>::value && ...),
                "nst::loss_sum: all terms must use the same scalar type");

  explicit loss_sum(Terms... terms) : terms_(std::move(terms)...) {}
  explicit loss_sum(std::tuple<Terms...> terms) : terms_(std::move(terms)) {}

  const char* name() const { return "total"; }

  // Every layer any term reads, without repeats, in first-asked order.
  std::vector<std::string> layers() const {
    std::vector<std::string> all;
    for_each([&all](const auto& term) {
      for (const std::string& layer : term.layers())
        if (std::find(all.begin(), all.end(), layer) == all.end()) all.push_back(layer);
    });
    return all;
  }

  var<value_type> operator()(const loss_inputs<value_type>& in) const { return evaluate(in, nullptr); }

  // The total, and each term's value in `parts` (when given).
  var<value_type> evaluate(const loss_inputs<value_type>& in, loss_breakdown* parts) const {
    var<value_type> total;
    for_each([&](const auto& term) {
      var<value_type> value = term(in);
      if (parts) (*parts)[term.name()] += static_cast<double>(value.value()[0]);
      total = total.valid() ? total + value : value;
    });
    return total;
  }

  template <class F>
  void for_each(F&& f) const {
    std::apply([&f](const auto&... term) { (f(term), ...); }, terms_);
  }
  template <class F>
  void for_each(F&& f) {
    std::apply([&f](auto&... term) { (f(term), ...); }, terms_);
  }
  // The term of type Term (as std::get): e.g. objective.get<nst::style_loss<float>>().set_targets(...)
  template <class Term>
  Term& get() { return std::get<Term>(terms_); }
  template <class Term>
  const Term& get() const { return std::get<Term>(terms_); }
  const std::tuple<Terms...>& terms() const { return terms_; }

 private:
  std::tuple<Terms...> terms_;
};

namespace detail {
template <class X>
std::tuple<X> as_terms(X x) { return std::tuple<X>(std::move(x)); }
template <class... Terms>
std::tuple<Terms...> as_terms(loss_sum<Terms...> sum) { return sum.terms(); }
template <class... Terms>
loss_sum<Terms...> make_sum(std::tuple<Terms...> terms) { return loss_sum<Terms...>(std::move(terms)); }
}  // namespace detail

// a + b for any two loss functors: a loss_sum of both (sums flatten: (a + b) + c has three terms).
template <class A, class B, class = std::enable_if_t<is_loss_term<A>::value && is_loss_term<B>::value>>
auto operator+(A a, B b) {
  return detail::make_sum(std::tuple_cat(detail::as_terms(std::move(a)), detail::as_terms(std::move(b))));
}

}  // namespace nst
