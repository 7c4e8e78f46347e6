// nst/io/plot.hpp — loss curves: losses against iteration on a log scale, as SVG or as an image.
//
// A run's losses are collected in a loss_history (one `record` per iteration: the total and each
// weighted term, as stylize's observer sees them) and drawn as one line per series:
//
//   nst::loss_history history;
//   auto result = nst::stylize(net, content, {style}, options, [&](const nst::stylize_progress<float>& p) {
//     history.record(p.loss, p.parts);                       // "total", then "content", "style", "tv"
//   });
//   nst::save_loss_curve("losses.svg", history.series());    // or .png (needs libstb)
//
// The x axis is the iteration (1 .. the longest series), the y axis log10 of the value with a
// grid line at each power of ten. The SVG is written by hand (loss_curve_svg): a frame, grid,
// labels, a legend and one <polyline class="series" data-name="NAME"> per run of positive values.
// The first series (the total) is drawn last, on top of the others.
// render_loss_curve draws the same picture (same coordinates, same colours) into an RGB tensor
// with a small rasteriser and a built-in 5x7 pixel font, for save_image. A value of 0 has no place
// on a log scale: it is left out and breaks the line there. Files are written atomically.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/limits.hpp"
#include "../core/tensor.hpp"
#include "detail/atomic_file.hpp"
#include "detail/file_name.hpp"
#if defined(NST_HAVE_STB)
#include "image.hpp"
#endif

namespace nst {

// One named line of a plot: values[i] is the value at iteration i + 1 (finite and >= 0).
struct plot_series {
  std::string name;
  std::vector<double> values;
};

// The size and title of a loss curve, in pixels (SVG user units for SVG).
struct plot_options {
  index_t width = 640;   // 240 .. max_image_side
  index_t height = 400;  // 160 .. max_image_side
  std::string title;     // drawn above the plot when not empty
};

// The losses of a run, one record per iteration: the series "total" first, then one per term in
// the order of the first record (a loss_breakdown is sorted by name: content, style, tv).
class loss_history {
 public:
  // Appends one iteration. Throws value_error 265 when `parts` names other terms than the first
  // record did. Values are not checked here (a run is not stopped for its plot); the plotting is.
  void record(double total, const std::map<std::string, double>& parts = {}) {
    if (series_.empty()) {
      series_.push_back({"total", {}});
      for (const auto& part : parts) series_.push_back({part.first, {}});
    }
    NST_CHECK(parts.size() + 1 == series_.size() &&
                  std::all_of(series_.begin() + 1, series_.end(),
                              [&](const plot_series& s) { return parts.count(s.name) == 1; }),
              value_error, 265, "loss_history::record: iteration ", iterations() + 1, " has ", parts.size(),
              " terms that differ from the ", series_.size() - 1, " of the first iteration");
    series_[0].values.push_back(total);
    for (std::size_t i = 1; i < series_.size(); ++i) series_[i].values.push_back(parts.at(series_[i].name));
  }
  // The recorded series, "total" first; empty before the first record.
  const std::vector<plot_series>& series() const noexcept { return series_; }
  // Iterations recorded so far.
  std::size_t iterations() const noexcept { return series_.empty() ? 0 : series_[0].values.size(); }

 private:
  std::vector<plot_series> series_;
};

namespace detail {

struct plot_rgb {
  double r, g, b;  // in [0,1]
};

// Series colours in order (the first, "total" in a loss_history, black), then repeating.
inline plot_rgb plot_color(std::size_t series_index) {
  static const plot_rgb palette[] = {{0.0, 0.0, 0.0},       {0.122, 0.467, 0.706}, {0.839, 0.153, 0.157},
                                     {0.173, 0.627, 0.173}, {1.0, 0.498, 0.055},   {0.580, 0.404, 0.741},
                                     {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}};
  return palette[series_index % (sizeof palette / sizeof palette[0])];
}

inline std::string svg_color(const plot_rgb& c) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "#%02x%02x%02x", static_cast<unsigned>(std::lround(c.r * 255)),
                static_cast<unsigned>(std::lround(c.g * 255)), static_cast<unsigned>(std::lround(c.b * 255)));
  return hex;
}

inline constexpr plot_rgb plot_grid_color{0.87, 0.87, 0.87};
inline constexpr plot_rgb plot_frame_color{0.27, 0.27, 0.27};

// "1e5", "1e-3": the label of a power of ten.
inline std::string decade_label(int exponent) { return "1e" + std::to_string(exponent); }

// Where everything goes: the plot area in pixels and the maps from (iteration, value) into it.
// Both renderers draw from one frame, so the SVG and the image agree to the pixel.
struct plot_frame {
  double left = 64, top = 28, right = 0, bottom = 0;  // the plot area
  index_t iterations = 0;                             // the longest series
  int low_decade = 0, high_decade = 1;                // the y axis spans 10^low .. 10^high

  double x(double iteration) const {
    return left + (iteration - 1) / static_cast<double>(std::max<index_t>(iterations - 1, 1)) * (right - left);
  }
  double y(double value) const {
    return top + (high_decade - std::log10(value)) / (high_decade - low_decade) * (bottom - top);
  }
  // Iterations with a tick: multiples of a 1-2-5 step giving at most 8 ticks (1 when none fits).
  std::vector<index_t> x_ticks() const {
    index_t step = 1;
    for (index_t scale = 1; (iterations - 1) / step > 8; scale *= 10)
      for (index_t m : {1, 2, 5})
        if ((iterations - 1) / step > 8) step = m * scale;
    std::vector<index_t> ticks;
    for (index_t i = step; i <= iterations; i += step) ticks.push_back(i);
    if (ticks.empty() || ticks.front() != 1) ticks.insert(ticks.begin(), 1);
    return ticks;
  }
  // Powers of ten with a grid line and a label: every one, or every k-th so at most 10 remain.
  std::vector<int> y_ticks() const {
    const int every = (high_decade - low_decade + 9) / 10;
    std::vector<int> ticks;
    for (int d = low_decade; d <= high_decade; d += every) ticks.push_back(d);
    return ticks;
  }
};

// Checks the series and options (naming `caller` in errors) and lays out the frame.
inline plot_frame make_plot_frame(const std::vector<plot_series>& series, const plot_options& options,
                                  const char* caller) {
  NST_CHECK(!series.empty(), value_error, 267, caller, ": nothing to plot (no series; was anything recorded?)");
  NST_CHECK(options.width >= 240 && options.height >= 160 && image_size_allowed(options.height, options.width),
            value_error, 274, caller, ": a plot must be 240x160 to ", max_image_side, " pixels per side, got ",
            options.width, "x", options.height);
  plot_frame frame;
  double smallest = HUGE_VAL, largest = 0;
  for (const plot_series& s : series) {
    NST_CHECK(!s.values.empty(), value_error, 267, caller, ": the series '", s.name, "' has no values");
    for (std::size_t i = 0; i < s.values.size(); ++i) {
      const double v = s.values[i];
      NST_CHECK(std::isfinite(v) && v >= 0, value_error, 266, caller, ": the series '", s.name, "' is ", v,
                " at iteration ", i + 1, "; a loss curve needs finite values >= 0");
      if (v > 0) smallest = std::min(smallest, v), largest = std::max(largest, v);
    }
    frame.iterations = std::max(frame.iterations, static_cast<index_t>(s.values.size()));
  }
  NST_CHECK(largest > 0, value_error, 273, caller, ": every value is 0, which a log scale cannot show");
  frame.low_decade = static_cast<int>(std::floor(std::log10(smallest)));
  frame.high_decade = std::max(static_cast<int>(std::ceil(std::log10(largest))), frame.low_decade + 1);
  frame.top = options.title.empty() ? 16 : 28;
  frame.right = static_cast<double>(options.width) - 112;  // the legend sits right of the plot
  frame.bottom = static_cast<double>(options.height) - 44;
  return frame;
}

// The drawable pieces of one series: runs of consecutive positive values as (x, y) pixel points.
inline std::vector<std::vector<std::pair<double, double>>> series_runs(const plot_frame& frame, const plot_series& s) {
  std::vector<std::vector<std::pair<double, double>>> runs(1);
  for (std::size_t i = 0; i < s.values.size(); ++i) {
    if (s.values[i] > 0) {
      runs.back().emplace_back(frame.x(static_cast<double>(i + 1)), frame.y(s.values[i]));
    } else if (!runs.back().empty()) {
      runs.emplace_back();
    }
  }
  if (runs.back().empty()) runs.pop_back();
  return runs;
}

// Escapes the five XML special characters of a series name or title.
inline std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

inline std::string svg_number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

// The 5x7 pixel font of render_loss_curve: each glyph is 7 rows, bit 4 the leftmost column.
// Upper-case letters are drawn as lower-case; characters not here are drawn as a blank.
inline const unsigned char* glyph_rows(char c) {
  static const char characters[] = "0123456789abcdefghijklmnopqrstuvwxyz-.()_+:/";
  static const unsigned char rows[][7] = {
      {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},  // 0 1
      {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},  // 2 3
      {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},  // 4 5
      {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},  // 6 7
      {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},  // 8 9
      {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}, {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E},  // a b
      {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}, {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F},  // c d
      {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}, {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08},  // e f
      {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}, {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11},  // g h
      {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C},  // i j
      {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},  // k l
      {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11},  // m n
      {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10},  // o p
      {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}, {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10},  // q r
      {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06},  // s t
      {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04},  // u v
      {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11},  // w x
      {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}, {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F},  // y z
      {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C},  // - .
      {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},  // ( )
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}, {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00},  // _ +
      {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},  // : /
  };
  const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  for (std::size_t i = 0; i + 1 < sizeof characters; ++i)
    if (characters[i] == lower) return rows[i];
  return nullptr;
}

inline constexpr int glyph_advance = 6;  // 5 columns and a space

// A canvas over an RGB [1,3,H,W] tensor: pixels, lines and text, clipped to the image.
template <class T>
class raster_canvas {
 public:
  explicit raster_canvas(tensor<T>& image) : image_(image), height_(image.dim(2)), width_(image.dim(3)) {}

  void pixel(index_t x, index_t y, const plot_rgb& c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    image_.at(0, 0, y, x) = static_cast<T>(c.r);
    image_.at(0, 1, y, x) = static_cast<T>(c.g);
    image_.at(0, 2, y, x) = static_cast<T>(c.b);
  }
  // A line from (x0, y0) to (x1, y1) (Bresenham), `thickness` pixels wide (a square brush).
  void line(double x0, double y0, double x1, double y1, const plot_rgb& c, int thickness = 1) {
    index_t ax = std::lround(x0), ay = std::lround(y0);
    const index_t bx = std::lround(x1), by = std::lround(y1);
    const index_t dx = std::abs(bx - ax), dy = -std::abs(by - ay), sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1;
    index_t err = dx + dy;
    for (;;) {
      for (int i = 0; i < thickness; ++i)
        for (int j = 0; j < thickness; ++j) pixel(ax + i - thickness / 2, ay + j - thickness / 2, c);
      if (ax == bx && ay == by) break;
      const index_t e2 = 2 * err;
      if (e2 >= dy) err += dy, ax += sx;
      if (e2 <= dx) err += dx, ay += sy;
    }
  }
  // Text with its top-left corner at (x, y).
  void text(double x, double y, const std::string& s, const plot_rgb& c) {
    const index_t left = std::lround(x), top = std::lround(y);
    for (std::size_t k = 0; k < s.size(); ++k) {
      const unsigned char* rows = glyph_rows(s[k]);
      if (!rows) continue;
      for (index_t r = 0; r < 7; ++r)
        for (index_t col = 0; col < 5; ++col)
          if (rows[r] >> (4 - col) & 1) pixel(left + static_cast<index_t>(k) * glyph_advance + col, top + r, c);
    }
  }

 private:
  tensor<T>& image_;
  index_t height_, width_;
};

inline double text_width(const std::string& s) { return static_cast<double>(s.size() * glyph_advance); }

enum class loss_curve_format { svg, image };

// The format save_loss_curve writes to `path`: .svg, or an image format save_image knows.
// Throws value_error 275 for any other extension (and 276 for an image without libstb).
inline loss_curve_format loss_curve_format_for(const std::string& path) {
  const std::string ext = lowercase_extension(path);
  if (ext == "svg") return loss_curve_format::svg;
  NST_CHECK(ext == "png" || ext == "jpg" || ext == "jpeg" || ext == "bmp" || ext == "tga", value_error, 275,
            "save_loss_curve: cannot tell the format of ", path, " from its extension '", ext,
            "' (use .svg or .png)");
#if !defined(NST_HAVE_STB)
  NST_THROW(value_error, 276, "save_loss_curve: writing ", path, " as an image needs libstb (NST_HAVE_STB); use .svg");
#endif
  return loss_curve_format::image;
}

}  // namespace detail

// The loss curve of `series` as a standalone SVG document (text). Throws value_error 267 (no
// series, or an empty one), 271 (a NaN, infinite or negative value), 273 (all values 0), 274 (size).
inline std::string loss_curve_svg(const std::vector<plot_series>& series, const plot_options& options = {}) {
  const detail::plot_frame f = detail::make_plot_frame(series, options, "loss_curve_svg");
  using detail::svg_number;
  const std::string grid = detail::svg_color(detail::plot_grid_color), ink = detail::svg_color(detail::plot_frame_color);
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(options.width) + "\" height=\"" +
         std::to_string(options.height) + "\" viewBox=\"0 0 " + std::to_string(options.width) + " " +
         std::to_string(options.height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  if (!options.title.empty())
    svg += "<text x=\"" + svg_number(f.left) + "\" y=\"16\" font-size=\"13\">" + detail::xml_escape(options.title) +
           "</text>\n";
  for (int d : f.y_ticks()) {
    const std::string y = svg_number(f.y(std::pow(10.0, d)));
    svg += "<line x1=\"" + svg_number(f.left) + "\" y1=\"" + y + "\" x2=\"" + svg_number(f.right) + "\" y2=\"" + y +
           "\" stroke=\"" + grid + "\"/>\n";
    svg += "<text x=\"" + svg_number(f.left - 6) + "\" y=\"" + y + "\" text-anchor=\"end\" dominant-baseline=\"middle\">" +
           detail::decade_label(d) + "</text>\n";
  }
  for (index_t i : f.x_ticks()) {
    const std::string x = svg_number(f.x(static_cast<double>(i)));
    svg += "<line x1=\"" + x + "\" y1=\"" + svg_number(f.bottom) + "\" x2=\"" + x + "\" y2=\"" +
           svg_number(f.bottom + 4) + "\" stroke=\"" + ink + "\"/>\n";
    svg += "<text x=\"" + x + "\" y=\"" + svg_number(f.bottom + 16) + "\" text-anchor=\"middle\">" +
           std::to_string(i) + "</text>\n";
  }
  svg += "<rect x=\"" + svg_number(f.left) + "\" y=\"" + svg_number(f.top) + "\" width=\"" +
         svg_number(f.right - f.left) + "\" height=\"" + svg_number(f.bottom - f.top) + "\" fill=\"none\" stroke=\"" +
         ink + "\"/>\n";
  svg += "<text x=\"" + svg_number((f.left + f.right) / 2) + "\" y=\"" + svg_number(f.bottom + 34) +
         "\" text-anchor=\"middle\">iteration</text>\n";
  svg += "<text x=\"4\" y=\"" + svg_number(f.top - 6) + "\">loss</text>\n";
  for (std::size_t k = series.size(); k-- > 0;) {  // the first series last, on top
    const std::string color = detail::svg_color(detail::plot_color(k)), name = detail::xml_escape(series[k].name);
    for (const auto& run : detail::series_runs(f, series[k])) {
      svg += "<polyline class=\"series\" data-name=\"" + name + "\" fill=\"none\" stroke=\"" + color +
             "\" stroke-width=\"1.5\" points=\"";
      for (std::size_t p = 0; p < run.size(); ++p)
        svg += (p ? " " : "") + svg_number(run[p].first) + "," + svg_number(run[p].second);
      svg += "\"/>\n";
    }
    const std::string y = svg_number(f.top + 8 + 16 * static_cast<double>(k));
    svg += "<line x1=\"" + svg_number(f.right + 10) + "\" y1=\"" + y + "\" x2=\"" + svg_number(f.right + 28) +
           "\" y2=\"" + y + "\" stroke=\"" + color + "\" stroke-width=\"2\"/>\n";
    svg += "<text x=\"" + svg_number(f.right + 34) + "\" y=\"" + y + "\" dominant-baseline=\"middle\">" + name +
           "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

// The same loss curve drawn into an RGB image [1,3,height,width] with values in [0,1] (white
// background), ready for save_image. Throws as loss_curve_svg.
template <class T = float>
tensor<T> render_loss_curve(const std::vector<plot_series>& series, const plot_options& options = {}) {
  const detail::plot_frame f = detail::make_plot_frame(series, options, "render_loss_curve");
  tensor<T> image({1, 3, options.height, options.width}, T(1));
  detail::raster_canvas<T> canvas(image);
  const detail::plot_rgb ink = detail::plot_frame_color;
  if (!options.title.empty()) canvas.text(f.left, 5, options.title, ink);
  for (int d : f.y_ticks()) {
    const double y = f.y(std::pow(10.0, d));
    canvas.line(f.left, y, f.right, y, detail::plot_grid_color);
    const std::string label = detail::decade_label(d);
    canvas.text(f.left - 6 - detail::text_width(label), y - 3, label, ink);
  }
  for (index_t i : f.x_ticks()) {
    const double x = f.x(static_cast<double>(i));
    canvas.line(x, f.bottom, x, f.bottom + 4, ink);
    const std::string label = std::to_string(i);
    canvas.text(x - detail::text_width(label) / 2, f.bottom + 8, label, ink);
  }
  canvas.line(f.left, f.top, f.right, f.top, ink);  // the frame
  canvas.line(f.right, f.top, f.right, f.bottom, ink);
  canvas.line(f.right, f.bottom, f.left, f.bottom, ink);
  canvas.line(f.left, f.bottom, f.left, f.top, ink);
  canvas.text((f.left + f.right) / 2 - detail::text_width("iteration") / 2, f.bottom + 26, "iteration", ink);
  canvas.text(4, f.top - 13, "loss", ink);
  for (std::size_t k = series.size(); k-- > 0;) {  // the first series last, on top
    const detail::plot_rgb color = detail::plot_color(k);
    for (const auto& run : detail::series_runs(f, series[k]))
      for (std::size_t p = 0; p < run.size(); ++p) {
        const auto& from = run[p == 0 ? 0 : p - 1];
        canvas.line(from.first, from.second, run[p].first, run[p].second, color, 2);
      }
    const double y = f.top + 8 + 16 * static_cast<double>(k);
    canvas.line(f.right + 10, y, f.right + 28, y, color, 2);
    canvas.text(f.right + 34, y - 3, series[k].name, ink);
  }
  return image;
}

// Writes the loss curve of `series` to `path`: SVG for .svg, else an image through save_image
// (.png, .jpg, .bmp, .tga; needs libstb). Atomic: `path` is replaced whole or left as it was.
// Throws as loss_curve_svg, value_error 275 (unknown extension) or 276 (an image without
// libstb), and io_error (421-424) when the file cannot be written.
inline void save_loss_curve(const std::string& path, const std::vector<plot_series>& series,
                            const plot_options& options = {}) {
  if (detail::loss_curve_format_for(path) == detail::loss_curve_format::svg) {
    const std::string svg = loss_curve_svg(series, options);
    detail::write_file_atomically(path, "save_loss_curve", [&](detail::byte_sink& out) { out.write(svg.data(), svg.size()); });
  } else {
#if defined(NST_HAVE_STB)
    save_image(path, render_loss_curve<float>(series, options));
#endif
  }
}

}  // namespace nst
