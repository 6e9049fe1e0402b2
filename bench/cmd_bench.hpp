#pragma once
// The subcommands of `plural-bench`: each prints one table of bench/RESULTS.md (or --json).
#include <CLI/CLI.hpp>

#include "apps/cli_options.hpp"

namespace plural::bench {

/// Attaches persona, persona-c, ukp, adapt, train-speed, query, active, strength, ches and rationale to `app`.
void add_bench_commands(CLI::App& app, apps::Common& common);

}  // namespace plural::bench
