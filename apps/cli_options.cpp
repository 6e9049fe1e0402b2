// Option parsing shared by the `plural` tool and `plural-bench`: lists of integers and names, bounded.
#include "apps/cli_options.hpp"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/base/error.hpp"

namespace plural::apps {

std::string resource_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  const fs::path package = exe.parent_path().parent_path();
  if (!ec && exe.parent_path().filename() == "bin" && fs::exists(package / "_build_info.py", ec))
    return package.string();
  return PLURAL_SOURCE_DIR;
}

std::string bundled_data(const std::string& relative) {
  const char* dir = std::getenv("PLURAL_DATA_DIR");
  return (dir && *dir ? std::string(dir) : resource_dir() + "/data") + "/" + relative;
}

void default_models_dir() {
  namespace fs = std::filesystem;
  const char* env = std::getenv("PLURAL_MODELS");
  if (env && *env) return;
  std::error_code ec;
  const fs::path shipped = fs::path(resource_dir()) / "models";
  if (!fs::exists("models/all-MiniLM-L6-v2", ec) && fs::exists(shipped / "all-MiniLM-L6-v2", ec))
    ::setenv("PLURAL_MODELS", shipped.c_str(), 0);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<int64_t> parse_int_list(const std::string& s, const std::string& option, int64_t lo, int64_t hi) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(part.c_str(), &end, 10);
    PLURAL_CHECK(!part.empty() && end && *end == '\0' && errno != ERANGE, option,
                 ": expected comma-separated integers, got '", s, "'");
    PLURAL_CHECK(v >= lo && v <= hi, option, ": ", v, " is outside [", lo, ", ", hi, "]");
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace plural::apps
