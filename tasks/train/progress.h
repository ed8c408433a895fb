// progress.h — a progress line for long loops: a bar with loss, img/s and ETA on a terminal,
// plain lines (every ~10 % or 30 s) when stderr is not one (logs, CI), or nothing.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace vt::tasks {

class Progress {
 public:
  enum class Mode { Auto, Bar, Lines, None };
  static Mode parse_mode(const std::string& s);  // auto|bar|lines|none, else vt::Error

  Progress(std::string label, int64_t total, Mode mode);
  // done: steps finished so far; images: since start; extra: e.g. "loss 0.123".
  void update(int64_t done, int64_t images, const std::string& extra);
  void finish(const std::string& extra);  // the final state on its own line

 private:
  std::string line(int64_t done, int64_t images, const std::string& extra) const;
  std::string label_;
  int64_t total_;
  Mode mode_;
  std::chrono::steady_clock::time_point start_, last_print_;
  int64_t last_decile_ = -1, last_images_ = 0;
};

std::string format_duration(double seconds);  // "1:05" or "1:02:03"

}  // namespace vt::tasks
