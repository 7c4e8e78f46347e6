// nst/version.hpp — the library's version; CMake reads the project version from this file.
#pragma once

// The version as numbers (semantic versioning: a MAJOR change may break code written for an
// older one) and as the string "MAJOR.MINOR.PATCH".
#define NST_VERSION_MAJOR 0
#define NST_VERSION_MINOR 1
#define NST_VERSION_PATCH 0
#define NST_VERSION_STRING "0.1.0"

// NST_VERSION_AT_LEAST(0, 1, 0) is true for this version and later ones.
#define NST_VERSION_AT_LEAST(major, minor, patch)                                              \
  ((NST_VERSION_MAJOR * 10000 + NST_VERSION_MINOR * 100 + NST_VERSION_PATCH) >=                \
   ((major) * 10000 + (minor) * 100 + (patch)))
