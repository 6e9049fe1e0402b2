#include "core/base/metrics_log.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"

namespace plural::core {

MetricsLog::MetricsLog(std::string path) : path_(std::move(path)) {
  if (path_.empty() || !std::filesystem::exists(path_)) return;
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw IoError(detail::cat(path_, ": cannot read the metrics log to append to it"));
  std::ostringstream os;
  os << in.rdbuf();
  content_ = os.str();
  if (!content_.empty() && content_.back() != '\n') content_ += '\n';  // a torn last line from an older writer
}

void MetricsLog::append(const std::string& json_line) {
  content_ += json_line + "\n";
  write_file_atomic(path_, content_);
}

}  // namespace plural::core
