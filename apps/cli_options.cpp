// Option parsing shared by the `plural` tool and `plural-bench`: lists of integers and names, bounded.
#include "apps/cli_options.hpp"

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "core/base/error.hpp"

namespace plural::apps {

std::string bundled_data(const std::string& relative) {
  const char* dir = std::getenv("PLURAL_DATA_DIR");
  return (dir && *dir ? std::string(dir) : std::string(PLURAL_SOURCE_DIR) + "/data") + "/" + relative;
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
