#include "core/base/progress.hpp"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "core/base/error.hpp"

namespace plural::core {

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && ::isatty(STDERR_FILENO)) {
  start_ = last_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (enabled_ && !finished_) std::fputc('\n', stderr);
}

void Progress::update(int64_t done, const std::string& suffix) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double frac = total_ > 0 ? double(done) / double(total_) : 1.0;
  int width = 30, filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(static_cast<size_t>(width), '.');
  double eta = frac > 0 ? secs / frac - secs : 0;
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %.0fs eta %.0fs %s\033[K", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), secs, eta, suffix.c_str());
  std::fflush(stderr);
}

void Progress::finish(const std::string& suffix) {
  if (!enabled_ || finished_) return;
  last_ = {};
  update(total_, suffix);
  std::fputc('\n', stderr);
  finished_ = true;
}

int set_threads(int threads) {
  PLURAL_CHECK(threads >= 0, "--threads must be >= 0 (0 = all cores), got ", threads);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads == 0) threads = cores;
  // More threads than this only adds contention, and 100,000 of them would exhaust the process.
  const int limit = kMaxThreadsPerCore * cores;
  if (threads > limit) {
    std::fprintf(stderr, "note: --threads %d clamped to %d (%d per core on %d cores)\n", threads, limit,
                 kMaxThreadsPerCore, cores);
    threads = limit;
  }
  at::set_num_threads(threads);
  return at::get_num_threads();
}

}  // namespace plural::core
