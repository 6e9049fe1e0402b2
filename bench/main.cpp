// plural-bench: the benchmarks behind bench/RESULTS.md, kept out of the user's `plural` tool. Exit codes as plural's:
// 2 for a usage error or bad input, 1 for everything else.
#include <c10/util/Exception.h>

#include <iostream>

#include "apps/usage.hpp"
#include "bench/cmd_bench.hpp"
#include "core/base/error.hpp"
#include "core/session/builtin_families.hpp"

int main(int argc, char** argv) {
  CLI::App app{"plural-bench: benchmarks of plural's families, adapters and query scorers (tables or --json)"};
  app.name("plural-bench");
  app.require_subcommand(1);
  app.set_version_flag("--version", "plural-bench 0.1.0");
  plural::core::register_builtin_families();
  plural::apps::Common common;
  plural::bench::add_bench_commands(app, common);
  if (std::string bad = plural::apps::unknown_word(app, argc, argv); !bad.empty()) {
    std::cerr << "plural-bench: error: " << bad << "\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "plural-bench: error: " << e.what() << " (see 'plural-bench --help')\n";
    return 2;
  } catch (const plural::ValueError& e) {
    std::cerr << "plural-bench: error: " << e.what() << "\n";
    return 2;
  } catch (const plural::IoError& e) {
    std::cerr << "plural-bench: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "plural-bench: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "plural-bench: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
