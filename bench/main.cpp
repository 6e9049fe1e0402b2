// plural-bench: the benchmarks behind bench/RESULTS.md, kept out of the user's `plural` tool. Exit codes as plural's:
// 2 for a usage error or bad input, 1 for everything else.
#include "apps/usage.hpp"
#include "bench/cmd_bench.hpp"
#include "core/session/builtin_families.hpp"

int main(int argc, char** argv) {
  CLI::App app{"plural-bench: benchmarks of plural's families, adapters and query scorers (tables or --json)"};
  app.name("plural-bench");
  app.require_subcommand(1);
  app.set_version_flag("--version", "plural-bench 0.1.0");
  plural::core::register_builtin_families();
  plural::apps::Common common;
  plural::bench::add_bench_commands(app, common);
  return plural::apps::run_cli(app, "plural-bench", argc, argv);
}
