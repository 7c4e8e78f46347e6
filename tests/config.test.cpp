#include <nst/config.hpp>
#include <nst/core/error.hpp>

#include "support/support.hpp"

TEST_CASE("config: the summary names every switch", "[config]") {
  nst::build_configuration off;
  off.openmp = off.stb = off.exceptions = off.xtensor = false;
  const std::string version = std::string("nst ") + NST_VERSION_STRING;
  CHECK(nst::build_summary(off) == version + ": openmp off, stb off, exceptions off, xtensor interop unavailable");
  nst::build_configuration on = off;
  on.openmp = on.stb = on.exceptions = on.xtensor = true;
  CHECK(nst::build_summary(on) == version + ": openmp on, stb on, exceptions on, xtensor interop available");
}

TEST_CASE("config: the macros agree with the build of the test program", "[config]") {
  const nst::build_configuration here;
  // The tests are built with exceptions, so NST_EXCEPTIONS is set and NST_THROW throws.
  CHECK(here.exceptions);
  CHECK_THROWS_AS(NST_THROW(nst::value_error, 299, "config test"), nst::value_error);
  // The nst::nst CMake target keeps Eigen single-threaded.
  CHECK(here.eigen_single_threaded);
#if defined(_OPENMP)
  CHECK(here.openmp);
#else
  CHECK_FALSE(here.openmp);
#endif
#if __has_include(<xtensor/xarray.hpp>)
  CHECK(here.xtensor);
#else
  CHECK_FALSE(here.xtensor);
#endif
}
