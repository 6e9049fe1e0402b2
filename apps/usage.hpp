#pragma once
// Usage errors that name the word: CLI11 says "A subcommand is required" for `plural frobnicate` and "--data is
// required" for `plural train --bogus`, never the word the user got wrong.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace plural::apps {

/// The first unknown command or option on the command line, as a message that names it and suggests the closest
/// known one; "" when every word is known.
std::string unknown_word(const CLI::App& app, int argc, char** argv);

/// Parses the command line and runs the chosen verb; every failure becomes one line "<tool>: error: ..." on stderr
/// and the exit code: 2 for a usage error or bad input, 1 for everything else (I/O, a corrupt file, the machine).
int run_cli(CLI::App& app, const char* tool, int argc, char** argv);

/// The candidate closest to `word` by edit distance, or "" when none is close enough to be a typo.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace plural::apps
