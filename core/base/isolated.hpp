#pragma once
// Running a parser we cannot trust in a child process: HDF5 hangs or crashes on some damaged files (found by the
// fuzzer in its global heap), and a library's crash must not be plural's. No torch here.
#include <chrono>
#include <functional>
#include <string>

namespace plural::core {

/// Runs `work` in a forked child and returns the bytes it returned. plural's ValueError and IoError thrown there are
/// rethrown here with their messages; a child that crashes, or is still running after `timeout`, is an IoError naming
/// `what` ("<what>: the reader crashed (signal 11): the file is damaged").
std::string run_isolated(const std::function<std::string()>& work, std::chrono::milliseconds timeout,
                         const std::string& what);

}  // namespace plural::core
