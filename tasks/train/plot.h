// plot.h — learning curves and comparison charts as standalone SVG files (no dependency: SVG
// is text, and every browser shows it).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace vt::tasks {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
};

// Line charts side by side (e.g. training loss and validation accuracy against the epoch),
// written atomically.
void write_line_charts_svg(const std::string& path, const std::vector<Chart>& charts);

// One horizontal bar per (label, value), e.g. accuracy per method.
void write_bar_chart_svg(const std::string& path, const std::string& title,
                         const std::string& value_label,
                         const std::vector<std::pair<std::string, double>>& bars);

}  // namespace vt::tasks
