#pragma once
// Shared test fixtures: a scratch folder per test, file writing, paths into the source tree.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>

namespace plural::test {

inline std::string source_dir() { return PLURAL_SOURCE_DIR; }
inline std::string cli() { return PLURAL_CLI; }

/// A fresh folder removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("plural-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void write_text(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
}

/// A trained epoch's diagnostic by name (an EpochLog), NaN if it has none: any comparison with it then fails.
template <class EpochLog>
double diagnostic(const EpochLog& log, const std::string& name) {
  for (const auto& [n, v] : log.diagnostics)
    if (n == name) return v;
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace plural::test
