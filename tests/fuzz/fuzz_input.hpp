#pragma once
// What every fuzz target shares: the input as a file (the loaders take paths), and the errors a loader may throw for
// bad input. Anything else escaping a loader, or any crash, is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include "core/base/error.hpp"

namespace plural::fuzz {

/// The input written to a private file with `extension` (loaders pick the format from it).
class InputFile {
 public:
  InputFile(const uint8_t* data, size_t size, const std::string& extension) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir ? dir : "/tmp") + "/plural-fuzz-" + std::to_string(::getpid()) + extension;
    std::ofstream f(path_, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  ~InputFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Runs `load`; plural's own errors for bad input are the expected outcome, everything else aborts the run.
template <typename F>
int expect_clean_errors(F&& load) {
  try {
    load();
  } catch (const plural::ValueError&) {
  } catch (const plural::IoError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz finding: an unexpected exception escaped the loader: %s\n", e.what());
    std::abort();
  }
  return 0;
}

}  // namespace plural::fuzz
