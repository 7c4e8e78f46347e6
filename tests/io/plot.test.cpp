#include <nst/io/plot.hpp>

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "../support/support.hpp"
#include "detail/weight_test_support.hpp"

namespace {

using points = std::vector<std::pair<double, double>>;

// True when `xml` is one element with properly nested, closed tags and quoted attributes, and no
// bare '<' or '&' in text (a small checker for the subset of XML the plot writes).
bool well_formed_xml(const std::string& xml, std::string& root) {
  std::vector<std::string> open;
  std::size_t pos = 0;
  int roots = 0;
  while (pos < xml.size()) {
    if (xml[pos] != '<') {
      if (xml[pos] == '&') {
        const std::size_t semicolon = xml.find(';', pos);
        if (semicolon == std::string::npos) return false;
        const std::string entity = xml.substr(pos, semicolon - pos + 1);
        if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" && entity != "&apos;")
          return false;
      }
      ++pos;
      continue;
    }
    const std::size_t end = xml.find('>', pos);
    if (end == std::string::npos) return false;
    std::string tag = xml.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    if (tag.front() == '?') {
      if (tag.back() != '?') return false;
      continue;
    }
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0 || tag.find('<') != std::string::npos) return false;
    if (tag.front() == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return false;
      open.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    const std::string name = tag.substr(0, tag.find_first_of(" /"));
    if (open.empty()) ++roots, root = name;
    if (!self_closing) open.push_back(name);
  }
  return open.empty() && roots == 1;
}

// The polylines of a loss-curve SVG: series name -> runs of points, and name -> stroke colour.
std::map<std::string, std::vector<points>> polylines(const std::string& svg, std::map<std::string, std::string>* strokes = nullptr) {
  std::map<std::string, std::vector<points>> lines;
  const std::regex polyline("<polyline class=\"series\" data-name=\"([^\"]*)\"[^>]*stroke=\"(#[0-9a-f]{6})\"[^>]*points=\"([^\"]*)\"");
  for (std::sregex_iterator it(svg.begin(), svg.end(), polyline), end; it != end; ++it) {
    points run;
    std::istringstream in((*it)[3].str());
    double x = 0, y = 0;
    char comma = 0;
    while (in >> x >> comma >> y) run.emplace_back(x, y);
    lines[(*it)[1].str()].push_back(run);
    if (strokes) (*strokes)[(*it)[1].str()] = (*it)[2].str();
  }
  return lines;
}

// Three series a decade or more apart, so their lines never touch: total ~1e7, style ~1e5 falling,
// content ~1e2 rising.
std::vector<nst::plot_series> sample_series(std::size_t n) {
  std::vector<nst::plot_series> series{{"total", {}}, {"style", {}}, {"content", {}}};
  for (std::size_t i = 0; i < n; ++i) {
    series[0].values.push_back(2e7 * std::pow(0.97, static_cast<double>(i)));
    series[1].values.push_back(3e5 * std::pow(0.95, static_cast<double>(i)));
    series[2].values.push_back(50 * std::pow(1.01, static_cast<double>(i)));
  }
  return series;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("loss_history: records the total and each term by iteration", "[io][plot]") {
  nst::loss_history history;
  CHECK(history.series().empty());
  history.record(10, {{"style", 7}, {"content", 2}, {"tv", 1}});
  history.record(8, {{"style", 5}, {"content", 2.5}, {"tv", 0.5}});
  REQUIRE(history.iterations() == 2);
  REQUIRE(history.series().size() == 4);
  CHECK(history.series()[0].name == "total");
  CHECK(history.series()[0].values == std::vector<double>{10, 8});
  CHECK(history.series()[1].name == "content");  // a loss_breakdown's (sorted) order
  CHECK(history.series()[1].values == std::vector<double>{2, 2.5});
  CHECK(history.series()[3].name == "tv");
  CHECK(history.series()[3].values == std::vector<double>{1, 0.5});
  CHECK_THROWS_WITH((history.record(7, {{"style", 5}, {"content", 2}})), Catch::Contains("value_error.265"));
  CHECK_THROWS_WITH((history.record(7, {{"style", 5}, {"content", 2}, {"tw", 1}})), Catch::Contains("value_error.265"));
  CHECK(history.iterations() == 2);
}

TEST_CASE("loss_curve_svg: well-formed SVG whose polylines follow the losses on a log scale", "[io][plot]") {
  const auto series = sample_series(40);
  const std::string svg = nst::loss_curve_svg(series, {640, 400, "tubingen & <starry night>"});
  std::string root;
  REQUIRE(well_formed_xml(svg, root));
  CHECK(root == "svg");
  CHECK(svg.find("tubingen &amp; &lt;starry night&gt;") != std::string::npos);

  const auto lines = polylines(svg);
  REQUIRE(lines.size() == 3);
  // The scale: pixels per decade, from the first points of "total" and "content" (5 decades apart).
  const points& total = lines.at("total").at(0);
  REQUIRE(total.size() == 40);
  const double per_decade = (lines.at("content").at(0).front().second - total.front().second) /
                            (std::log10(series[0].values.front()) - std::log10(series[2].values.front()));
  REQUIRE(per_decade > 0);
  for (const auto& s : series) {
    REQUIRE(lines.at(s.name).size() == 1);
    const points& line = lines.at(s.name)[0];
    REQUIRE(line.size() == s.values.size());
    for (std::size_t i = 0; i < line.size(); ++i) {
      // x: the same equally spaced iteration positions in every series.
      CHECK(line[i].first == Approx(total[i].first).margin(0.011));
      if (i > 0) CHECK(line[i].first - line[i - 1].first == Approx(total[1].first - total[0].first).margin(0.02));
      // y: up by per_decade pixels for each factor of ten down, against total's first point.
      const double expected = total.front().second - per_decade * (std::log10(s.values[i]) - std::log10(series[0].values[0]));
      CHECK(line[i].second == Approx(expected).margin(0.03));
    }
  }
  CHECK(total.back().first > total.front().first);
}

TEST_CASE("loss_curve_svg: a zero leaves a gap, names are escaped", "[io][plot]") {
  const std::vector<nst::plot_series> series{{"total", {5, 4, 3, 2, 1}}, {"a<b&\"c\"", {1, 0, 2, 3, 0}}};
  const std::string svg = nst::loss_curve_svg(series);
  std::string root;
  REQUIRE(well_formed_xml(svg, root));
  const auto lines = polylines(svg);
  REQUIRE(lines.count("a&lt;b&amp;&quot;c&quot;") == 1);
  const auto& runs = lines.at("a&lt;b&amp;&quot;c&quot;");
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].size() == 1);
  CHECK(runs[1].size() == 2);
  CHECK(runs[1][0].first == Approx(lines.at("total")[0][2].first));
}

TEST_CASE("render_loss_curve: the image has the size asked and each curve's colour where the SVG puts it", "[io][plot]") {
  const auto series = sample_series(60);
  const nst::plot_options options{500, 300, "losses"};
  const nst::tensor<float> image = nst::render_loss_curve<float>(series, options);
  REQUIRE(image.shape() == nst::shape({1, 3, 300, 500}));
  std::map<std::string, std::string> strokes;
  const auto lines = polylines(nst::loss_curve_svg(series, options), &strokes);
  REQUIRE(lines.size() == 3);
  for (const auto& [name, runs] : lines) {
    const std::string& hex = strokes.at(name);
    const float rgb[3] = {static_cast<float>(std::stoi(hex.substr(1, 2), nullptr, 16)) / 255.f,
                          static_cast<float>(std::stoi(hex.substr(3, 2), nullptr, 16)) / 255.f,
                          static_cast<float>(std::stoi(hex.substr(5, 2), nullptr, 16)) / 255.f};
    for (const auto& [x, y] : runs.at(0)) {
      const auto col = static_cast<nst::index_t>(std::lround(x)), row = static_cast<nst::index_t>(std::lround(y));
      for (nst::index_t c = 0; c < 3; ++c) CHECK(image.at(0, c, row, col) == Approx(rgb[c]).margin(0.003));
    }
  }
  // Far from every curve (a third of the way down between the style and content lines, where
  // only a grid line could be) the pixel is background white or grid grey; the curves drew a lot
  // of colour.
  const points& style = lines.at("style")[0];
  const points& content = lines.at("content")[0];
  const auto col = static_cast<nst::index_t>(std::lround(style[30].first));
  const auto row = static_cast<nst::index_t>(std::lround((2 * style[30].second + content[30].second) / 3));
  for (nst::index_t c = 0; c < 3; ++c) CHECK(image.at(0, c, row, col + 1) >= 0.87f);
  nst::index_t coloured = 0;
  for (nst::index_t y = 0; y < 300; ++y)
    for (nst::index_t x = 0; x < 500; ++x)
      if (image.at(0, 0, y, x) != image.at(0, 2, y, x)) ++coloured;  // not grey: a series colour
  CHECK(coloured > 300);
}

TEST_CASE("save_loss_curve: .svg writes the SVG text, .png the rendered image", "[io][plot]") {
  nst_test::scratch_dir dir;
  const auto series = sample_series(10);
  nst::save_loss_curve(dir.file("curve.svg"), series);
  CHECK(read_text(dir.file("curve.svg")) == nst::loss_curve_svg(series));
  nst::save_loss_curve(dir.file("curve.PNG"), series);
  const auto loaded = nst::load_image<float>(dir.file("curve.PNG"));
  const auto rendered = nst::render_loss_curve<float>(series);
  REQUIRE(loaded.shape() == nst::shape({1, 3, 400, 640}));
  CHECK(nst_test::max_relative_error(loaded, rendered, 1.0) < 0.5 / 255 + 1e-6);
}

TEST_CASE("loss curves: bad input is a clear error", "[io][plot]") {
  nst_test::scratch_dir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH((nst::loss_curve_svg({})), Catch::Contains("value_error.267"));
  CHECK_THROWS_WITH((nst::loss_curve_svg({{"total", {}}})), Catch::Contains("value_error.267"));
  CHECK_THROWS_WITH((nst::render_loss_curve<float>({{"total", {3, 2, nan}}})), Catch::Contains("value_error.266"));
  CHECK_THROWS_WITH((nst::loss_curve_svg({{"tv", {1, HUGE_VAL}}})), Catch::Contains("value_error.266"));
  CHECK_THROWS_WITH((nst::loss_curve_svg({{"tv", {1, -1}}})), Catch::Contains("value_error.266"));
  CHECK_THROWS_WITH((nst::loss_curve_svg({{"tv", {0, 0}}})), Catch::Contains("value_error.273"));
  CHECK_THROWS_WITH((nst::loss_curve_svg({{"tv", {1}}}, {100, 400, ""})), Catch::Contains("value_error.274"));
  try {
    nst::save_loss_curve(dir.file("nan.svg"), {{"total", {3, 2, nan}}, {"style", {1, 1, 1}}});
    FAIL("no error");
  } catch (const nst::value_error& e) {
    CHECK(std::string(e.what()).find("'total' is nan at iteration 3") != std::string::npos);
  }
  CHECK_THROWS_WITH((nst::save_loss_curve(dir.file("curve.txt"), {{"tv", {1}}})), Catch::Contains("value_error.275"));
  CHECK_THROWS_WITH((nst::save_loss_curve(dir.file("missing/curve.svg"), {{"tv", {1}}})), Catch::Contains("io_error.421"));
  CHECK_THROWS_WITH((nst::save_loss_curve(dir.file("missing/curve.png"), {{"tv", {1}}})), Catch::Contains("io_error.421"));
  CHECK(dir.listing().empty());  // nothing half-written is left behind
}
