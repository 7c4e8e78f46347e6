#include <nst/autodiff/ops.hpp>
#include <nst/autodiff/tape.hpp>

#include <string>
#include <vector>

#include "../support/support.hpp"

namespace {
using tape_d = nst::tape<double>;
using var_d = nst::var<double>;

// Elementwise product, recorded by hand: the smallest op that shows the tape's contract.
var_d times(const var_d& a, const var_d& b) {
  nst::tensor<double> out = a.value();
  out.vector().array() *= b.value().vector().array();
  return a.owner().record(std::move(out), {a, b}, [a, b](const nst::tensor<double>& g, tape_d& tp) {
    if (a.requires_grad()) {
      nst::tensor<double> ga = g;
      ga.vector().array() *= b.value().vector().array();
      tp.accumulate(a, std::move(ga));
    }
    if (b.requires_grad()) {
      nst::tensor<double> gb = g;
      gb.vector().array() *= a.value().vector().array();
      tp.accumulate(b, std::move(gb));
    }
  });
}

var_d total(const var_d& x) {
  nst::tensor<double> out(nst::shape{});
  out[0] = x.value().vector().sum();
  return x.owner().record(std::move(out), {x}, [x](const nst::tensor<double>& g, tape_d& tp) {
    tp.accumulate(x, nst::tensor<double>(x.shape(), g[0]));
  });
}
}  // namespace

TEST_CASE("tape: gradients accumulate when a value is used twice", "[autodiff][tape]") {
  tape_d tp;
  auto x = tp.variable(nst::tensor<double>(nst::shape{3}, std::vector<double>{1, -2, 3}));
  auto loss = total(times(x, x));  // Σ x², d/dx = 2x
  tp.backward(loss);
  CHECK(loss.value()[0] == 14.0);
  CHECK(x.grad()[0] == 2.0);
  CHECK(x.grad()[1] == -4.0);
  CHECK(x.grad()[2] == 6.0);
}

TEST_CASE("tape: constants and references get no gradient and cost no backward step", "[autodiff][tape]") {
  tape_d tp;
  nst::tensor<double> weights(nst::shape{2}, std::vector<double>{3, 4});
  auto w = tp.reference(weights);
  auto c = tp.constant(nst::tensor<double>(nst::shape{2}, 1.0));
  CHECK(&w.value() == &weights);  // not copied
  auto frozen = times(w, c);
  CHECK_FALSE(frozen.requires_grad());

  auto x = tp.variable(nst::tensor<double>(nst::shape{2}, std::vector<double>{5, 6}));
  auto loss = total(times(x, frozen));
  CHECK(loss.requires_grad());
  tp.backward(loss);
  CHECK(x.grad()[0] == 3.0);
  CHECK(x.grad()[1] == 4.0);
  CHECK(w.grad()[0] == 0.0);  // zeros: no gradient was computed for it
}

TEST_CASE("tape: backward needs a scalar from this tape; clear forgets nodes", "[autodiff][tape]") {
  tape_d tp, other;
  auto x = tp.variable(nst::tensor<double>({2, 2}, 1.0));
  CHECK_THROWS_WITH(tp.backward(x), Catch::Contains("must be a scalar") && Catch::Contains("[2,2]"));
  auto y = other.variable(nst::tensor<double>({2, 2}, 1.0));
  CHECK_THROWS_WITH(times(x, y), Catch::Contains("different tapes"));
  CHECK(tp.size() == 1);
  tp.clear();
  CHECK(tp.size() == 0);
}

TEST_CASE("tape: a second backward recomputes gradients from scratch", "[autodiff][tape]") {
  tape_d tp;
  auto x = tp.variable(nst::tensor<double>(nst::shape{1}, 2.0));
  auto loss = total(times(x, x));
  tp.backward(loss);
  tp.backward(loss);
  CHECK(x.grad()[0] == 4.0);
}

TEST_CASE("tape: release frees an op's value, keeps its shape and the gradient path", "[autodiff][tape]") {
  const auto input = nst_test::random_tensor<double>({1, 2, 3, 4}, 61);
  nst::tape<double> tp;
  const auto x = tp.variable(input);
  const auto doubled = 2.0 * x;   // its backward step needs no value
  const auto tripled = 3.0 * doubled;
  tp.release(doubled);
  CHECK(doubled.value().empty());
  CHECK(doubled.shape() == input.shape());
  tp.backward(nst::ad::sum(tripled));
  for (nst::index_t i = 0; i < input.size(); ++i) CHECK(x.grad()[i] == 6.0);
  CHECK_THROWS_AS(tp.release(x), nst::value_error);
  const nst::tensor<double> weights(input.shape(), 1.0);
  CHECK_THROWS_AS(tp.release(tp.reference(weights)), nst::value_error);
}

TEST_CASE("tape: backward with spent_values::release frees each op's value once no step left reads it",
          "[autodiff][tape]") {
  const auto input = nst_test::random_tensor<double>({1, 2, 3, 4}, 62);
  const auto scale = nst_test::random_tensor<double>({1, 2, 3, 4}, 63);
  // x -> squared = x * x -> passed (the identity) -> scaled = passed * s -> loss = total(scaled).
  // The steps run loss, scaled, passed, squared; passed's step also looks (outside the contract,
  // to observe) at scaled, whose one reader, loss's step, ran before.
  std::vector<std::string> seen;
  auto run = [&](nst::spent_values spent) {
    seen.clear();
    tape_d tp;
    const auto x = tp.variable(input);
    const auto s = tp.constant(scale);
    const auto squared = times(x, x);
    var_d scaled;
    const auto passed =
        tp.record(nst::tensor<double>(squared.value()), {squared}, [&](const nst::tensor<double>& g, tape_d& t) {
          seen.push_back(std::string("squared ") + (squared.value().empty() ? "gone" : "kept"));
          seen.push_back(std::string("scaled ") + (scaled.value().empty() ? "gone" : "kept"));
          t.accumulate(squared, nst::tensor<double>(g));
        });
    scaled = times(passed, s);
    const auto loss = total(scaled);
    tp.backward(loss, spent);
    CHECK(x.value().vector() == input.vector());  // leaves keep their values
    CHECK(s.value().vector() == scale.vector());
    CHECK(loss.value()[0] == Approx((input.vector().array().square() * scale.vector().array()).sum()));
    for (const var_d& v : {squared, passed, scaled}) {
      CHECK(v.value().empty() == (spent == nst::spent_values::release));
      CHECK(v.shape() == input.shape());
    }
    return x.grad();
  };
  const auto kept = run(nst::spent_values::keep);
  CHECK(seen == std::vector<std::string>{"squared kept", "scaled kept"});
  const auto released = run(nst::spent_values::release);
  CHECK(seen == std::vector<std::string>{"squared kept", "scaled gone"});  // freed during the pass
  CHECK(released.vector() == kept.vector());
  for (nst::index_t i = 0; i < input.size(); ++i) CHECK(kept[i] == Approx(2 * input[i] * scale[i]));
}

TEST_CASE("tape: a step runs as late as its inputs allow (a loss on an early node waits for the chain)",
          "[autodiff][tape]") {
  // x -> a -> b -> c, and a second term on a recorded after c: its step (which makes a's gradient
  // from this term) runs only once the chain has come back to b's step (which also waits for a
  // alone; of the two the newer runs first), so a's gradient is not held through the whole
  // chain; every gradient is still complete.
  tape_d tp;
  std::vector<std::string> order;
  const auto traced = [&order](const char* name, const var_d& in) {
    return in.owner().record(nst::tensor<double>(in.value()), {in}, [&order, name, in](const nst::tensor<double>& g,
                                                                                         tape_d& t) {
      order.push_back(name);
      t.accumulate(in, nst::tensor<double>(g));
    });
  };
  const auto x = tp.variable(nst::tensor<double>(nst::shape{2}, std::vector<double>{1, 2}));
  const auto a = traced("a", x);
  const auto b = traced("b", a);
  const auto c = traced("c", b);
  const auto late = traced("late term on a", a);
  tp.backward(total(c) + total(times(late, late)));  // Σ x + Σ x², d/dx = 1 + 2x
  CHECK(order == std::vector<std::string>{"c", "late term on a", "b", "a"});
  CHECK(x.grad()[0] == 3.0);
  CHECK(x.grad()[1] == 5.0);
}

TEST_CASE("tape: of two steps with the same newest input the newer runs first, and may add in place",
          "[autodiff][tape]") {
  // x -> first, x -> second (recorded after): both wait for x alone, the newer runs first and
  // finds no gradient of x yet; the older finds the newer's and adds onto it in place.
  tape_d tp;
  std::vector<std::string> order;
  std::vector<bool> found_gradient;
  const auto in_place = [&](const char* name, const var_d& in) {
    return in.owner().record(nst::tensor<double>(in.value()), {in},
                             [&, name, in](const nst::tensor<double>& g, tape_d& t) {
                               order.push_back(name);
                               nst::tensor<double>* sum = t.gradient_so_far(in);
                               found_gradient.push_back(sum != nullptr);
                               if (sum)
                                 sum->vector() += g.vector();
                               else
                                 t.accumulate(in, nst::tensor<double>(g));
                             });
  };
  const auto x = tp.variable(nst::tensor<double>(nst::shape{2}, std::vector<double>{1, 2}));
  const auto first = in_place("first", x);
  const auto second = in_place("second", x);
  tp.backward(total(first) + total(times(second, second)));  // Σ x + Σ x², d/dx = 1 + 2x
  CHECK(order == std::vector<std::string>{"second", "first"});
  CHECK(found_gradient == std::vector<bool>{false, true});
  CHECK(x.grad()[0] == 3.0);
  CHECK(x.grad()[1] == 5.0);
  // A node that needs no gradient has none to add onto.
  const auto constant = tp.constant(nst::tensor<double>(nst::shape{2}, 1.0));
  CHECK(tp.gradient_so_far(constant) == nullptr);
}
