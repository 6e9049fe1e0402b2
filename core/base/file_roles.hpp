#pragma once
// An output is never an input: every command names its files by role, and this refuses, before any work, an output
// that is the same file as an input (or as another output). No torch here.
#include <string>
#include <utility>
#include <vector>

namespace plural::core {

/// A file a command reads or writes, with the option that named it ("--cache", "-o").
struct FileRole {
  std::string option;
  std::string path;
};

/// Throws ValueError naming both options when an output is the same file as an input or another output: the same
/// device and inode when both exist, the same absolute path (symbolic links resolved) otherwise. Empty paths are
/// ignored (options not given).
void require_distinct_files(const std::vector<FileRole>& outputs, const std::vector<FileRole>& inputs);

/// True when `a` and `b` name one file (see require_distinct_files).
bool same_file(const std::string& a, const std::string& b);

}  // namespace plural::core
