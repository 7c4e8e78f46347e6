#include <nst/loss.hpp>

#include "loss_support.hpp"

using loss_test::evaluate;
using loss_test::tensor_d;

TEST_CASE("loss terms compose with +, flatten, and report each part", "[loss][term]") {
  const auto f = nst_test::random_tensor<double>({1, 2, 3, 3}, 38);
  const auto p = nst_test::random_tensor<double>({1, 2, 3, 3}, 39);
  nst::content_loss<double> content(1.0, {"relu1_1"});
  content.set_targets({{"relu1_1", p}});
  nst::style_loss<double> style(10.0, {"relu1_1"});
  style.set_targets({{{"relu1_1", p}}});
  auto objective = (content + style) + nst::tv_loss<double>(0.1);
  STATIC_REQUIRE(std::tuple_size<std::decay_t<decltype(objective.terms())>>::value == 3);
  STATIC_REQUIRE(nst::is_loss_term<decltype(objective)>::value);
  STATIC_REQUIRE_FALSE(nst::is_loss_term<int>::value);
  CHECK(objective.layers() == std::vector<std::string>{"relu1_1"});

  nst::tape<double> tp;
  auto v = tp.variable(f);
  nst::feature_vars<double> features{{"relu1_1", v}};
  nst::loss_breakdown parts;
  auto total = objective.evaluate(nst::loss_inputs<double>{v, features}, &parts);
  CHECK(parts.size() == 3);
  CHECK(total.value()[0] == Approx(parts["content"] + parts["style"] + parts["tv"]).epsilon(1e-12));
  CHECK(parts["content"] == Approx(evaluate(content, f, "relu1_1")).epsilon(1e-12));

  nst::feature_vars<double> none;
  CHECK_THROWS_WITH(objective(nst::loss_inputs<double>{v, none}), Catch::Contains("no activation for layer 'relu1_1'"));
}
