// progress.cpp — see progress.h.
#include "tasks/train/progress.h"

#include <unistd.h>

#include <cstdio>

#include "engine/dtype.h"

namespace vt::tasks {

Progress::Mode Progress::parse_mode(const std::string& s) {
  if (s == "auto") return Mode::Auto;
  if (s == "bar") return Mode::Bar;
  if (s == "lines") return Mode::Lines;
  if (s == "none") return Mode::None;
  throw Error("progress: expected auto, bar, lines or none, got '" + s + "'");
}

std::string format_duration(double s) {
  const int64_t t = (int64_t)(s + 0.5), h = t / 3600, m = t / 60 % 60, sec = t % 60;
  char buf[32];
  if (h) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)h, (long long)m, (long long)sec);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)m, (long long)sec);
  return buf;
}

Progress::Progress(std::string label, int64_t total, Mode mode)
    : label_(std::move(label)), total_(total), mode_(mode) {
  if (mode_ == Mode::Auto) mode_ = isatty(STDERR_FILENO) ? Mode::Bar : Mode::Lines;
  start_ = last_print_ = std::chrono::steady_clock::now();
}

std::string Progress::line(int64_t done, int64_t images, const std::string& extra) const {
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double ips = el > 0 ? images / el : 0.0;
  const double eta = done > 0 ? el * (total_ - done) / done : 0.0;
  std::string bar;
  if (mode_ == Mode::Bar) {
    const int width = 24, fill = total_ ? (int)(width * done / total_) : width;
    bar = "[" + std::string(fill, '=') + (fill < width ? ">" : "") +
          std::string(width - fill - (fill < width), ' ') + "] ";
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s %s%lld/%lld %s  %.1f img/s  %s %s", label_.c_str(), bar.c_str(),
                (long long)done, (long long)total_, extra.c_str(), ips,
                done < total_ ? "ETA" : "took", format_duration(done < total_ ? eta : el).c_str());
  return buf;
}

void Progress::update(int64_t done, int64_t images, const std::string& extra) {
  if (mode_ == Mode::None) return;
  last_images_ = images;
  auto now = std::chrono::steady_clock::now();
  if (mode_ == Mode::Bar) {
    if (std::chrono::duration<double>(now - last_print_).count() < 0.2 && done < total_) return;
    std::fprintf(stderr, "\r%s\033[K", line(done, images, extra).c_str());
    std::fflush(stderr);
    last_print_ = now;
    return;
  }
  const int64_t decile = total_ ? 10 * done / total_ : 10;
  if (decile == last_decile_ && std::chrono::duration<double>(now - last_print_).count() < 30) return;
  last_decile_ = decile;
  last_print_ = now;
  std::fprintf(stderr, "%s\n", line(done, images, extra).c_str());
}

void Progress::finish(const std::string& extra) {
  if (mode_ == Mode::None) return;
  if (mode_ == Mode::Bar) std::fprintf(stderr, "\r%s\033[K\n", line(total_, last_images_, extra).c_str());
}

}  // namespace vt::tasks
