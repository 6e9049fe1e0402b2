#pragma once
// Progress on stderr: a bar redrawn in place on a terminal; in a log (stderr not a terminal) a line at most every
// PLURAL_PROGRESS_SECONDS (default 30) and one when the task finishes, so a long job's log shows it is alive and how
// far it got.
#include <chrono>
#include <cstdint>
#include <string>

namespace plural::core {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();
  void update(int64_t done, const std::string& suffix = "");
  void finish(const std::string& suffix = "");

 private:
  std::string label_;
  int64_t total_;
  /// Seconds between a log's lines: PLURAL_PROGRESS_SECONDS, else 30.
  static double log_line_seconds();
  void draw(int64_t done, double secs, const std::string& suffix);
  void log_line(int64_t done, double secs, const std::string& suffix);
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

/// Sets LibTorch's intra-op threads (0 = all cores) and returns the number in effect.
int set_threads(int threads);
/// set_threads clamps to this many threads per core (with a note on stderr).
constexpr int kMaxThreadsPerCore = 4;

}  // namespace plural::core
