// nst/core/error.hpp — the error family of nst.
//
// Every failure nst reports is an `nst::error` (derived from std::runtime_error) carrying a
// numeric id and a message that names the problem and the values involved, e.g.
//
//   [nst.shape_error.101] conv2d: input has 3 channels but the weight expects 4
//                         (input [1,3,5,5], weight [8,4,3,3])
//
// The subclasses say what kind of thing went wrong so callers can catch only what they handle:
//   shape_error   tensors whose shapes do not fit together
//   value_error   an argument outside its allowed range (negative size, NaN weight, ...)
//   format_error  a file whose bytes are not what its format promises (corrupt, hostile)
//   io_error      the operating system refused (missing file, unreadable, disk full)
//   lookup_error  a name that is not there (a layer, a tensor in a weight file)
//
// Code throws through NST_THROW so that a build with -fno-exceptions still compiles: there the
// error is handed to nst::error_handler() (by default: print the message, then std::abort()).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace nst {

// The base of every nst error: what() is "[nst.KIND.ID] message", id() the number alone.
class error : public std::runtime_error {
 public:
  // `kind` names the subclass ("shape_error"), `id` the failure (see the ranges below).
  error(const char* kind, int id, const std::string& what)
      : std::runtime_error("[nst." + std::string(kind) + "." + std::to_string(id) + "] " + what),
        id_(id) {}
  int id() const noexcept { return id_; }  // the failure's number, stable across versions

 private:
  int id_;
};

// Ids: 100s shapes, 200s values, 300s file formats, 400s operating system, 500s lookups.
// Tensors whose shapes do not fit together (ids 1xx).
class shape_error : public error {
 public:
  shape_error(int id, const std::string& what) : error("shape_error", id, what) {}
};
// An argument outside its allowed range: a negative size, a NaN weight, an unknown option (2xx).
class value_error : public error {
 public:
  value_error(int id, const std::string& what) : error("value_error", id, what) {}
};
// A file whose bytes are not what its format promises: corrupt, truncated or hostile (3xx).
class format_error : public error {
 public:
  format_error(int id, const std::string& what) : error("format_error", id, what) {}
};
// The operating system refused: a missing or unreadable file, a full disk (4xx).
class io_error : public error {
 public:
  io_error(int id, const std::string& what) : error("io_error", id, what) {}
};
// A name that is not there: a layer, a tensor in a weight file (5xx).
class lookup_error : public error {
 public:
  lookup_error(int id, const std::string& what) : error("lookup_error", id, what) {}
};

// Called instead of `throw` when exceptions are disabled. Replace it with set_error_handler().
using error_handler_fn = void (*)(const error&);

// The handler a -fno-exceptions build starts with: prints "nst: fatal: <what>" to stderr, aborts.
inline void default_error_handler(const error& e) {
  std::fprintf(stderr, "nst: fatal: %s\n", e.what());
  std::abort();
}

// The handler in use (a function-local static, shared by every translation unit).
inline error_handler_fn& error_handler() {
  static error_handler_fn handler = &default_error_handler;
  return handler;
}

// Installs `handler` (it must not return: abort, longjmp or exit); nullptr restores the default.
inline void set_error_handler(error_handler_fn handler) {
  error_handler() = handler ? handler : &default_error_handler;
}

namespace detail {

// Builds a message from any streamable pieces: concat("got ", 3, " channels").
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

template <class Error>
[[noreturn]] void raise(const Error& e) {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
  throw e;
#else
  error_handler()(e);
  std::abort();  // a handler must not return; if it does, stop here
#endif
}

}  // namespace detail
}  // namespace nst

// NST_THROW(nst::shape_error, 101, "conv2d: ...", value, "...") builds the message and raises it.
#define NST_THROW(ErrorType, id, ...) \
  ::nst::detail::raise(ErrorType((id), ::nst::detail::concat(__VA_ARGS__)))

// NST_CHECK(cond, ErrorType, id, message pieces...) raises unless cond holds.
#define NST_CHECK(cond, ErrorType, id, ...)    \
  do {                                         \
    if (!(cond)) NST_THROW(ErrorType, id, __VA_ARGS__); \
  } while (false)
