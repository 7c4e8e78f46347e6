#include <nst/version.hpp>

#include <string>

#include "support/support.hpp"

TEST_CASE("version: the string is MAJOR.MINOR.PATCH of the numeric macros", "[version]") {
  CHECK(std::string(NST_VERSION_STRING) == std::to_string(NST_VERSION_MAJOR) + "." +
                                               std::to_string(NST_VERSION_MINOR) + "." +
                                               std::to_string(NST_VERSION_PATCH));
}

TEST_CASE("version: NST_VERSION_AT_LEAST compares component by component", "[version]") {
  STATIC_REQUIRE(NST_VERSION_AT_LEAST(NST_VERSION_MAJOR, NST_VERSION_MINOR, NST_VERSION_PATCH));
  STATIC_REQUIRE(NST_VERSION_AT_LEAST(0, 0, 0));
  STATIC_REQUIRE_FALSE(NST_VERSION_AT_LEAST(NST_VERSION_MAJOR, NST_VERSION_MINOR, NST_VERSION_PATCH + 1));
  STATIC_REQUIRE_FALSE(NST_VERSION_AT_LEAST(NST_VERSION_MAJOR, NST_VERSION_MINOR + 1, 0));
  STATIC_REQUIRE_FALSE(NST_VERSION_AT_LEAST(NST_VERSION_MAJOR + 1, 0, 0));
}
