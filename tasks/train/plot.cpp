// plot.cpp — see plot.h. Axes get "nice" ticks (1, 2, 5 × 10^k); lines cycle through a small
// colour-blind-safe palette; each series is named in a legend.
#include "tasks/train/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "engine/io/safetensors.h"

namespace vt::tasks {

namespace {

const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

// Tick step of 1, 2 or 5 × 10^k giving about 5 ticks over [lo, hi].
double nice_step(double lo, double hi) {
  const double raw = (hi - lo) / 5, p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

void chart_svg(std::ostringstream& o, const Chart& c, double ox, double oy, double w, double h) {
  const double L = 60, R = 15, T = 30, B = 45;  // margins
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (auto& s : c.series)
    for (auto& [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 - x0 < 1e-12) x1 = x0 + 1;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  const double ys = nice_step(y0, y1);
  y0 = std::floor(y0 / ys) * ys, y1 = std::ceil(y1 / ys) * ys;
  auto px = [&](double x) { return ox + L + (x - x0) / (x1 - x0) * (w - L - R); };
  auto py = [&](double y) { return oy + h - B - (y - y0) / (y1 - y0) * (h - T - B); };
  o << "<text x='" << ox + w / 2 << "' y='" << oy + 18 << "' text-anchor='middle' font-weight='bold'>"
    << esc(c.title) << "</text>\n";
  for (double y = y0; y <= y1 + ys / 2; y += ys)
    o << "<line x1='" << px(x0) << "' x2='" << px(x1) << "' y1='" << py(y) << "' y2='" << py(y)
      << "' stroke='#ddd'/><text x='" << px(x0) - 5 << "' y='" << py(y) + 4
      << "' text-anchor='end' font-size='11'>" << num(y) << "</text>\n";
  const double xs = nice_step(x0, x1);
  for (double x = std::ceil(x0 / xs) * xs; x <= x1 + xs / 100; x += xs)
    o << "<text x='" << px(x) << "' y='" << py(y0) + 16 << "' text-anchor='middle' font-size='11'>"
      << num(x) << "</text>\n";
  o << "<rect x='" << px(x0) << "' y='" << py(y1) << "' width='" << px(x1) - px(x0) << "' height='"
    << py(y0) - py(y1) << "' fill='none' stroke='#444'/>\n";
  o << "<text x='" << ox + w / 2 << "' y='" << oy + h - 8 << "' text-anchor='middle' font-size='12'>"
    << esc(c.x_label) << "</text>\n";
  o << "<text transform='translate(" << ox + 14 << "," << oy + h / 2
    << ") rotate(-90)' text-anchor='middle' font-size='12'>" << esc(c.y_label) << "</text>\n";
  for (size_t i = 0; i < c.series.size(); ++i) {
    const auto& s = c.series[i];
    const char* col = kColours[i % 7];
    o << "<polyline fill='none' stroke='" << col << "' stroke-width='2' points='";
    for (auto& [x, y] : s.points)
      if (std::isfinite(y)) o << px(x) << "," << py(y) << " ";
    o << "'/>\n";
    if (s.points.size() == 1)
      o << "<circle cx='" << px(s.points[0].first) << "' cy='" << py(s.points[0].second)
        << "' r='3' fill='" << col << "'/>\n";
    o << "<text x='" << px(x0) + 8 << "' y='" << py(y1) + 16 + 14 * i << "' font-size='11' fill='"
      << col << "'>" << esc(s.name) << "</text>\n";
  }
}

}  // namespace

void write_line_charts_svg(const std::string& path, const std::vector<Chart>& charts) {
  const double w = 420, h = 300;
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w * charts.size() << "' height='" << h
    << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  for (size_t i = 0; i < charts.size(); ++i) chart_svg(o, charts[i], w * i, 0, w, h);
  o << "</svg>\n";
  write_file_atomic(path, o.str());
}

void write_bar_chart_svg(const std::string& path, const std::string& title,
                         const std::string& value_label,
                         const std::vector<std::pair<std::string, double>>& bars) {
  const double w = 560, row = 26, L = 130, R = 60, T = 36;
  const double h = T + row * bars.size() + 30;
  double vmax = 0;
  for (auto& b : bars) vmax = std::max(vmax, b.second);
  if (vmax <= 0) vmax = 1;
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << h
    << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  o << "<text x='" << w / 2 << "' y='20' text-anchor='middle' font-weight='bold'>" << esc(title)
    << "</text>\n";
  for (size_t i = 0; i < bars.size(); ++i) {
    const double y = T + row * i, len = (w - L - R) * std::max(0.0, bars[i].second) / vmax;
    o << "<text x='" << L - 6 << "' y='" << y + row / 2 + 4 << "' text-anchor='end' font-size='12'>"
      << esc(bars[i].first) << "</text>\n<rect x='" << L << "' y='" << y + 3 << "' width='" << len
      << "' height='" << row - 6 << "' fill='" << kColours[i % 7] << "'/>\n<text x='" << L + len + 4
      << "' y='" << y + row / 2 + 4 << "' font-size='11'>" << num(bars[i].second) << "</text>\n";
  }
  o << "<text x='" << L + (w - L - R) / 2 << "' y='" << h - 8
    << "' text-anchor='middle' font-size='12'>" << esc(value_label) << "</text>\n</svg>\n";
  write_file_atomic(path, o.str());
}

}  // namespace vt::tasks
