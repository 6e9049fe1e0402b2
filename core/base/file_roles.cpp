#include "core/base/file_roles.hpp"

#include <sys/stat.h>

#include <filesystem>

#include "core/base/error.hpp"

namespace plural::core {

namespace fs = std::filesystem;

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code ea, eb;
  auto ca = fs::weakly_canonical(fs::absolute(a), ea), cb = fs::weakly_canonical(fs::absolute(b), eb);
  return !ea && !eb && ca == cb;
}

void require_distinct_files(const std::vector<FileRole>& outputs, const std::vector<FileRole>& inputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& out = outputs[i];
    if (out.path.empty()) continue;
    for (const auto& in : inputs)
      PLURAL_CHECK(in.path.empty() || !same_file(out.path, in.path), out.option, " '", out.path,
                   "' is the same file as the input ", in.option, " '", in.path,
                   "': writing it would destroy the input; choose another output path");
    for (size_t j = i + 1; j < outputs.size(); ++j)
      PLURAL_CHECK(outputs[j].path.empty() || !same_file(out.path, outputs[j].path), out.option, " and ",
                   outputs[j].option, " both name '", out.path, "'; give each output its own path");
  }
}

}  // namespace plural::core
