#pragma once
// Subcommands of the `plural` tool; each file registers its own.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace plural::apps {

/// Options every command shares.
struct Common {
  int threads = 0;  ///< 0 = all cores
};

/// Each add_* attaches a subcommand to `app`; its callback runs the command.
void add_import(CLI::App& app, Common& common);
void add_encode(CLI::App& app, Common& common);
void add_embed(CLI::App& app, Common& common);
void add_train(CLI::App& app, Common& common);
void add_eval(CLI::App& app, Common& common);
void add_score(CLI::App& app, Common& common);
void add_adapt(CLI::App& app, Common& common);
void add_doctor(CLI::App& app, Common& common);
void add_bench(CLI::App& app, Common& common);

/// Parses "0,1,2,5" into integers; throws ValueError naming `option` otherwise.
std::vector<int64_t> parse_int_list(const std::string& s, const std::string& option);
/// Splits "a,b,c" (empty items dropped).
std::vector<std::string> split_list(const std::string& s);

}  // namespace plural::apps
