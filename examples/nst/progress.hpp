// progress.hpp — what the nst command shows while it works, and its JSON log.
//
// On a terminal: one line redrawn in place, e.g.
//   [#########...........]  45% 450/1000  loss 1.23e+05 (content 4.1e+04 style 8.1e+04 tv 1.2e+03)  0.84 s/it  ETA 7m42s
// Elsewhere (a pipe, a CI log): a plain line every --print-every iterations.
// With --log-json FILE: one JSON object per iteration, a line each:
//   {"iteration": 1, "loss": ..., "content": ..., "style": ..., "tv": ..., "seconds": ..., "elapsed": ...}
// ("seconds": that iteration's wall time; "elapsed": wall time since the command started, loading
// and target computation included, as bench/time_to_result.py measures time to result).
#pragma once

#include <nst/style/stylize.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

namespace nst_cli {

// When the command started (static initialisation, before main): "elapsed" in the JSON log.
inline const std::chrono::steady_clock::time_point command_started = std::chrono::steady_clock::now();

inline std::string format_duration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  if (s >= 3600) std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(text, sizeof text, "%lds", s);
  return text;
}

inline std::string format_parts(const nst::loss_breakdown& parts) {
  std::string out;
  char number[32];
  for (const char* name : {"content", "style", "tv"}) {
    auto it = parts.find(name);
    if (it == parts.end()) continue;
    std::snprintf(number, sizeof number, "%.3g", it->second);
    out += (out.empty() ? "" : " ") + std::string(name) + " " + number;
  }
  return out;
}

class progress_printer {
 public:
  // print_every = 0 prints nothing (except errors); the bar on a terminal ignores print_every.
  progress_printer(int print_every, const std::string& json_path)
      : print_every_(print_every), terminal_(isatty(fileno(stderr)) == 1) {
    if (!json_path.empty()) {
      json_.open(json_path, std::ios::trunc);
      if (!json_) throw nst::io_error(421, "cannot write the JSON log '" + json_path + "'");
      json_.precision(10);
    }
  }

  void operator()(const nst::stylize_progress<float>& p) {
    elapsed_ += p.seconds;
    ++seen_;
    if (json_.is_open()) write_json(p);
    if (print_every_ <= 0) return;
    if (terminal_) draw_bar(p);
    else if (p.iteration % print_every_ == 0 || p.iteration == p.iterations) print_line(p);
  }

  // Ends the redrawn line so later output starts on a fresh one.
  void finish() {
    if (terminal_ && drawn_) std::fprintf(stderr, "\n");
    drawn_ = false;
  }

 private:
  void write_json(const nst::stylize_progress<float>& p) {
    auto part = [&p](const char* name) {
      auto it = p.parts.find(name);
      return it == p.parts.end() ? 0.0 : it->second;
    };
    json_ << "{\"iteration\": " << p.iteration << ", \"loss\": " << p.loss << ", \"content\": " << part("content")
          << ", \"style\": " << part("style") << ", \"tv\": " << part("tv") << ", \"seconds\": " << p.seconds
          << ", \"elapsed\": " << std::chrono::duration<double>(std::chrono::steady_clock::now() - command_started).count()
          << "}\n";
    json_.flush();
  }

  // " (tile 3/20)" in a run in tiles, "" otherwise.
  static std::string tile_text(const nst::stylize_progress<float>& p) {
    return p.tiles > 0 ? " (tile " + std::to_string(p.tile) + "/" + std::to_string(p.tiles) + ")" : "";
  }

  void print_line(const nst::stylize_progress<float>& p) {
    std::fprintf(stderr, "iteration %d/%d%s  loss %.6g  (%s)  %.3f s/it\n", p.iteration, p.iterations, tile_text(p).c_str(),
                 p.loss, format_parts(p.parts).c_str(), elapsed_ / seen_);
  }

  void draw_bar(const nst::stylize_progress<float>& p) {
    const int width = 20;
    const double done = p.iterations > 0 ? static_cast<double>(p.iteration) / p.iterations : 1.0;
    const int filled = static_cast<int>(done * width);
    const double per_iteration = elapsed_ / seen_;
    std::fprintf(stderr, "\r[%s%s] %3d%% %d/%d%s  loss %.3g (%s)  %.2f s/it  ETA %s   ",
                 std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(), static_cast<int>(done * 100),
                 p.iteration, p.iterations, tile_text(p).c_str(), p.loss, format_parts(p.parts).c_str(), per_iteration,
                 format_duration(per_iteration * (p.iterations - p.iteration)).c_str());
    std::fflush(stderr);
    drawn_ = true;
  }

  int print_every_;
  bool terminal_;
  bool drawn_ = false;
  double elapsed_ = 0;
  int seen_ = 0;  // iterations of this process (a resumed run starts past 1)
  std::ofstream json_;
};

}  // namespace nst_cli
