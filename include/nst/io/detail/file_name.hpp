// nst/io/detail/file_name.hpp — what a file's name says: its extension, which picks the format
// save_image and save_loss_curve write.
#pragma once

#include <cctype>
#include <string>

namespace nst {
namespace detail {

// The extension of `path` after its last dot, lower-cased ("" if none): "a/b.PNG" -> "png".
inline std::string lowercase_extension(const std::string& path) {
  const std::size_t dot = path.find_last_of('.');
  const std::size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace detail
}  // namespace nst
