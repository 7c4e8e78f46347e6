// nst/config.hpp — every switch that changes what nst compiles to, in one place.
//
// nst is header-only, so its configuration is whatever the including translation unit sees:
// macros set by the build system (the nst::nst CMake target, or `pkg-config --cflags nst`) and
// macros the compiler predefines. This header turns them into one set of NST_ macros, each
// defined (to 1) when the feature is there and left undefined when it is not, so both
// `#if defined(NST_HAVE_OPENMP)` and `#if NST_HAVE_OPENMP` work; and a one-line summary for logs:
//
//   #include <nst/config.hpp>
//   #if defined(NST_HAVE_STB)
//   auto photo = nst::load_image<float>("photo.jpg");          // <nst/io/image.hpp> is usable
//   #endif
//   std::puts(nst::build_summary().c_str());
//   // nst 0.1.0: openmp on, stb on, exceptions on, xtensor interop available
//
// The macros:
//   NST_HAVE_STB         image files through Debian's libstb (<nst/io/image.hpp>). Defined to 1
//                        by the nst::nst CMake target (option NST_USE_STB, default ON) and by
//                        nst.pc when libstb was found; it cannot be detected from the headers
//                        alone because libstb must also be linked.
//   NST_HAVE_OPENMP      nst::parallel_for splits loops over OpenMP threads (_OPENMP, set by
//                        -fopenmp; the CMake target adds it under option NST_USE_OPENMP).
//                        Without it every loop runs on the calling thread.
//   NST_EXCEPTIONS       errors are thrown as nst::error subclasses. Undefined under
//                        -fno-exceptions: NST_THROW then calls nst::error_handler()
//                        (core/error.hpp), which by default prints the message and aborts;
//                        install your own with nst::set_error_handler (it must not return).
//                        The same test as core/error.hpp makes.
//   NST_HAVE_XTENSOR     <xtensor/xarray.hpp> is on the include path, so <nst/interop/xtensor.hpp>
//                        can be included (nst itself never needs xtensor).
//   NST_EIGEN_SINGLE_THREADED  EIGEN_DONT_PARALLELIZE is set (by the CMake target and nst.pc):
//                        Eigen's GEMM does not start threads of its own inside nst's parallel
//                        loops. Set it yourself when you compile without the target.
//
// Version macros (NST_VERSION_MAJOR/MINOR/PATCH/STRING, NST_VERSION_AT_LEAST) are in
// <nst/version.hpp>, included here.
//
// Limits you may set (define them before including any nst header, the same in every
// translation unit of a program, or the inline functions that read them differ — an ODR
// violation):
//   NST_MAX_IMAGE_SIDE    default 65535     core/limits.hpp  pixels per side of an image read,
//                                                            written or resized to
//   NST_MAX_IMAGE_PIXELS  default 2^28      core/limits.hpp  pixels of such an image
// They become nst::max_image_side and nst::max_image_pixels there.
//
// Fixed limits are typed constants beside the code they bound, not macros:
//   nst::shape::max_rank = 6                       core/tensor.hpp      rank of a tensor
//   nst::jpeg_quality = 95                         io/image.hpp         quality of saved JPEGs
//   nst::detail::safetensors_max_header = 100 MiB  io/safetensors.hpp   a safetensors JSON header
//   nst::detail::json_parser::max_depth = 16       io/detail/json.hpp   nesting in that header
//   nst::detail::unpickler::max_depth, max_memo,   io/detail/unpickler.hpp  a .pth file's pickle
//     max_stack, max_values, max_string
//   nst::detail::wolfe_max_evaluations = 25        optim/detail/strong_wolfe.hpp  one line search
#pragma once

#include <string>

#include "version.hpp"

#if defined(_OPENMP)
#define NST_HAVE_OPENMP 1
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define NST_EXCEPTIONS 1
#endif

#if defined(__has_include)
#if __has_include(<xtensor/xarray.hpp>)
#define NST_HAVE_XTENSOR 1
#endif
#endif

#if defined(EIGEN_DONT_PARALLELIZE)
#define NST_EIGEN_SINGLE_THREADED 1
#endif

namespace nst {
namespace detail {
#if defined(NST_HAVE_OPENMP)
inline constexpr bool macro_defined_openmp = true;
#else
inline constexpr bool macro_defined_openmp = false;
#endif
#if defined(NST_HAVE_STB)
inline constexpr bool macro_defined_stb = true;
#else
inline constexpr bool macro_defined_stb = false;
#endif
#if defined(NST_EXCEPTIONS)
inline constexpr bool macro_defined_exceptions = true;
#else
inline constexpr bool macro_defined_exceptions = false;
#endif
#if defined(NST_HAVE_XTENSOR)
inline constexpr bool macro_defined_xtensor = true;
#else
inline constexpr bool macro_defined_xtensor = false;
#endif
#if defined(NST_EIGEN_SINGLE_THREADED)
inline constexpr bool macro_defined_eigen_single_threaded = true;
#else
inline constexpr bool macro_defined_eigen_single_threaded = false;
#endif
}  // namespace detail

// The configuration this translation unit was compiled with, as values.
struct build_configuration {
  const char* version = NST_VERSION_STRING;                                  // "0.1.0"
  bool openmp = detail::macro_defined_openmp;                                // NST_HAVE_OPENMP
  bool stb = detail::macro_defined_stb;                                      // NST_HAVE_STB
  bool exceptions = detail::macro_defined_exceptions;                        // NST_EXCEPTIONS
  bool xtensor = detail::macro_defined_xtensor;                              // NST_HAVE_XTENSOR
  bool eigen_single_threaded = detail::macro_defined_eigen_single_threaded;  // NST_EIGEN_SINGLE_THREADED
};

// "nst 0.1.0: openmp on, stb on, exceptions on, xtensor interop available".
inline std::string build_summary(const build_configuration& c = {}) {
  const auto on = [](bool b) { return b ? "on" : "off"; };
  return std::string("nst ") + c.version + ": openmp " + on(c.openmp) + ", stb " + on(c.stb) + ", exceptions " +
         on(c.exceptions) + ", xtensor interop " + (c.xtensor ? "available" : "unavailable");
}

}  // namespace nst
