#include "core/base/progress.hpp"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "core/base/error.hpp"

namespace plural::core {

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(::isatty(STDERR_FILENO)) {
  start_ = last_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (enabled_ && tty_ && !finished_) std::fputc('\n', stderr);
}

void Progress::update(int64_t done, const std::string& suffix) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  const double every = tty_ ? 0.1 : log_line_seconds();
  if (done < total_ && std::chrono::duration<double>(now - last_).count() < every) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  if (tty_)
    draw(done, secs, suffix);
  else if (done < total_)  // the last line is finish()'s, with the result
    log_line(done, secs, suffix);
}

double Progress::log_line_seconds() {
  static const double seconds = [] {
    const char* env = std::getenv("PLURAL_PROGRESS_SECONDS");
    char* end = nullptr;
    const double v = env ? std::strtod(env, &end) : 0;
    return env && end != env && *end == '\0' && v >= 0 ? v : 30.0;
  }();
  return seconds;
}

void Progress::draw(int64_t done, double secs, const std::string& suffix) {
  double frac = total_ > 0 ? double(done) / double(total_) : 1.0;
  int width = 30, filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(static_cast<size_t>(width), '.');
  double eta = frac > 0 ? secs / frac - secs : 0;
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %.0fs eta %.0fs %s\033[K", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), secs, eta, suffix.c_str());
  std::fflush(stderr);
}

void Progress::log_line(int64_t done, double secs, const std::string& suffix) {
  const double frac = total_ > 0 ? double(done) / double(total_) : 1.0;
  if (done < total_)
    std::fprintf(stderr, "%s %lld/%lld (%.0f%%) %.0fs, eta %.0fs %s\n", label_.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), 100 * frac, secs, frac > 0 ? secs / frac - secs : 0, suffix.c_str());
  else
    std::fprintf(stderr, "%s %lld/%lld done in %.1fs %s\n", label_.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), secs, suffix.c_str());
  std::fflush(stderr);
}

void Progress::finish(const std::string& suffix) {
  if (!enabled_ || finished_) return;
  if (tty_) {
    last_ = {};
    update(total_, suffix);
    std::fputc('\n', stderr);
  } else {
    log_line(total_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(), suffix);
  }
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
