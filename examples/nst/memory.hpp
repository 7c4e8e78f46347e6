// memory.hpp — --max-memory: the peak memory of a run, estimated before it starts.
//
// The estimate follows what the code really allocates, not a table of layer sizes (which would
// drift whenever a kernel keeps more or less): the nst command runs itself as a child process
// (`--measure-peak-memory`) for a few iterations at two small sizes, reads each child's peak
// resident set size and fits
//   peak(pixels) = fixed + per_pixel * pixels
// (fixed: the program and the weights; per pixel: images, activations, gradients, the tape and
// the optimizer's state), then adds the L-BFGS history pairs the short runs did not reach.
//
//   const memory_estimate e = estimate_peak_memory(probe_args, content_height, content_width, 3, history, size);
//   if (e.peak_bytes > budget) ... e.largest_size(budget, ...) ...
// POSIX (fork, execv, getrusage); Linux for /proc/self/exe.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "arguments.hpp"

namespace nst_cli {

// "4G", "512M", "1.5g", "3000000000" -> bytes; K, M, G and T are powers of 1024.
inline std::uint64_t parse_memory_size(const std::string& name, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double number = std::strtod(text.c_str(), &end);
  double scale = 1;
  const std::string unit = end ? std::string(end) : "";
  if (unit == "K" || unit == "k") scale = 1024.0;
  else if (unit == "M" || unit == "m") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty()) throw usage_error("option " + name + ": '" + text + "' is not a size like 4G, 512M or 800K");
  if (text.empty() || errno != 0 || !std::isfinite(number) || number <= 0 || number * scale > 1e18)
    throw usage_error("option " + name + ": '" + text + "' is not a size like 4G, 512M or 800K");
  return static_cast<std::uint64_t>(number * scale);
}

// "1.23 GiB", "512 MiB".
inline std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", bytes, units[unit]);
  return text;
}

// This process's peak resident set size so far, in bytes.
inline std::uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

// Runs this program again with `args` (args[0] is ignored) and returns what it wrote on stdout
// and stderr; throws std::runtime_error when it cannot start or exits with a non-zero status.
inline std::string run_self(const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t child = fork();
  if (child < 0) throw std::runtime_error(std::string("cannot start a child process: ") + std::strerror(errno));
  if (child == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n > 0) output.append(buffer, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("the memory probe run failed: " + (output.empty() ? std::string("no output") : output));
  return output;
}

// The result of estimate_peak_memory.
struct memory_estimate {
  double fixed_bytes = 0;      // the program, the weights, the input files
  double per_pixel_bytes = 0;  // everything that grows with the result's pixel count
  double peak_bytes = 0;       // at the requested size
  long long probe_sizes[2] = {0, 0};
};

// The pixel count of an image of height x width resized so that its longer side is `size`.
inline double pixels_at(long long height, long long width, long long size) {
  const double scale = static_cast<double>(size) / static_cast<double>(std::max(height, width));
  return std::max(1.0, std::round(height * scale)) * std::max(1.0, std::round(width * scale));
}

// Estimates the peak memory of a run at longer side `size` for a content image of height x
// width, from two child runs of `probe_args` (this command's arguments, to which
// --image-size S, --iterations N and --measure-peak-memory are added). L-BFGS keeps up to
// `history_pairs` pairs of 2 image-sized tensors; the probes reach `probe_iterations` - 1 of them
// and the rest is added, as `pair_bytes_per_pixel` per pixel and pair (0 for Adam).
inline memory_estimate estimate_peak_memory(std::vector<std::string> probe_args, long long height, long long width,
                                            long long size, int probe_iterations, double extra_pairs,
                                            double pair_bytes_per_pixel) {
  memory_estimate e;
  // Small, so that the probes are quick, and always the same two, but not too small: below
  // ~256 px the peak follows the allocator's bookkeeping (the first evaluation's tensors come
  // from the C library, whose heap keeps what they free) more than the pixel count. Full VGG19,
  // a 2048x2048 content, measured peaks of 213, 287 and 491 MB at 128, 256 and 512 px put
  // 2048x2048 at 6.46 GB from 128 and 256 px, 4.57 GB from 256 and 512 px; measured 4.73 GB.
  e.probe_sizes[0] = 256;
  e.probe_sizes[1] = 512;
  double peaks[2];
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> args = probe_args;
    for (const std::string& a : {std::string("--image-size"), std::to_string(e.probe_sizes[i]), std::string("--iterations"),
                                 std::to_string(probe_iterations), std::string("--measure-peak-memory")})
      args.push_back(a);
    const std::string output = run_self(args);
    const std::size_t at = output.find("peak_rss_bytes ");
    if (at == std::string::npos) throw std::runtime_error("the memory probe run did not report its peak: " + output);
    peaks[i] = std::strtod(output.c_str() + at + 15, nullptr);
  }
  const double p0 = pixels_at(height, width, e.probe_sizes[0]), p1 = pixels_at(height, width, e.probe_sizes[1]);
  e.per_pixel_bytes = p1 > p0 ? std::max(0.0, (peaks[1] - peaks[0]) / (p1 - p0)) : 0.0;
  e.fixed_bytes = peaks[1] - e.per_pixel_bytes * p1;
  e.per_pixel_bytes += extra_pairs * pair_bytes_per_pixel;
  e.peak_bytes = e.fixed_bytes + e.per_pixel_bytes * pixels_at(height, width, size);
  return e;
}

// What a run in tiles keeps of the whole image besides the tile's own work, at its peak: about 5
// RGB float images (the content at size and in network space, the canvas, the progress image
// and its copy). Measured: 57 bytes a pixel at 1536x1152 and 4096x3072 with the narrow fixture
// network (examples/nst/tests/tiling_commands.sh checks the estimate against the measured peak).
constexpr double tiled_bytes_per_pixel = 5 * 3 * sizeof(float);

// The estimated peak of a run at longer side `size` in tiles of `tile` px (0: in one piece): the
// fit's per-pixel cost over one tile's pixels, and tiled_bytes_per_pixel over the whole image's.
inline double peak_at(const memory_estimate& e, long long height, long long width, long long size, long long tile) {
  const double pixels = pixels_at(height, width, size);
  const double scale = static_cast<double>(size) / static_cast<double>(std::max(height, width));
  const double tile_height = std::min<double>(tile, std::max(1.0, std::round(height * scale)));
  const double tile_width = std::min<double>(tile, std::max(1.0, std::round(width * scale)));
  if (tile == 0 || tile >= size) return e.fixed_bytes + e.per_pixel_bytes * pixels;
  return e.fixed_bytes + e.per_pixel_bytes * tile_height * tile_width + tiled_bytes_per_pixel * pixels;
}

// The largest tile side (a multiple of 16, 64 .. size - 1) whose estimated peak at `size` fits in
// `budget` bytes, or 0 when none does.
inline long long largest_fitting_tile(const memory_estimate& e, long long height, long long width, long long size,
                                      double budget) {
  for (long long tile = (size - 1) / 16 * 16; tile >= 64; tile -= 16)
    if (peak_at(e, height, width, size, tile) <= budget) return tile;
  return 0;
}

// The largest longer side (>= 16) whose estimated peak fits in `budget` bytes, or 0 when none does.
inline long long largest_fitting_size(const memory_estimate& e, long long height, long long width, double budget) {
  long long size = 16;
  if (e.fixed_bytes + e.per_pixel_bytes * pixels_at(height, width, size) > budget) return 0;
  long long too_big = 1 << 20;
  while (too_big - size > 1) {  // bisection on the monotone estimate
    const long long middle = (size + too_big) / 2;
    if (e.fixed_bytes + e.per_pixel_bytes * pixels_at(height, width, middle) <= budget) size = middle;
    else too_big = middle;
  }
  return size;
}

}  // namespace nst_cli
