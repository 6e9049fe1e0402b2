#pragma once
// The trainer's JSONL metrics log. It appends to what the file held, but every epoch rewrites the whole file
// through the atomic writer: a full disk or a kill leaves the previous epoch's complete file, never a torn line.
#include <string>

namespace plural::core {

class MetricsLog {
 public:
  explicit MetricsLog(std::string path);  ///< "" = no log
  bool enabled() const { return !path_.empty(); }
  void append(const std::string& json_line);

 private:
  std::string path_, content_;
};

}  // namespace plural::core
