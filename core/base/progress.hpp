#pragma once
// A one-line progress bar on stderr, drawn only when stderr is a terminal (logs and CI stay clean).
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
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

/// Sets LibTorch's intra-op threads (0 = all cores) and returns the number in effect.
int set_threads(int threads);
/// set_threads clamps to this many threads per core (with a note on stderr).
constexpr int kMaxThreadsPerCore = 4;

}  // namespace plural::core
