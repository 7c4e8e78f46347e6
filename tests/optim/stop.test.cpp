#include <nst/optim/stop.hpp>

#include <limits>

#include "../support/support.hpp"

TEST_CASE("relative_change_below compares the change with the current loss", "[optim][stop]") {
  CHECK(nst::relative_change_below(100.0, 99.999, 1e-4));
  CHECK_FALSE(nst::relative_change_below(100.0, 99.98, 1e-4));
  CHECK(nst::relative_change_below(-5.0, -5.0, 1e-12));            // negative losses use |f|
  CHECK_FALSE(nst::relative_change_below(1.0, 0.0, 1e-3));         // a drop to 0 is a big change
  CHECK(nst::relative_change_below(0.0, 0.0, 1e-12));              // 0 -> 0 is no change at all
  CHECK_FALSE(nst::relative_change_below(100.0, 100.0, 0.0));      // 0 switches the test off
}

TEST_CASE("validate(stop_criteria) refuses negative limits", "[optim][stop]") {
  CHECK_NOTHROW(nst::validate(nst::stop_criteria{}));
  CHECK_THROWS_WITH(nst::validate(nst::stop_criteria{-1}),
                    Catch::Contains("value_error.222") && Catch::Contains("max_iterations"));
  CHECK_THROWS_WITH(nst::validate(nst::stop_criteria{10, -5}), Catch::Contains("max_evaluations"));
  CHECK_THROWS_WITH(nst::validate(nst::stop_criteria{10, 0, -1e-3}), Catch::Contains("relative_tolerance"));
  CHECK_THROWS_AS(nst::validate(nst::stop_criteria{10, 0, std::numeric_limits<double>::infinity()}),
                  nst::value_error);
}
