// Catch2's main, after registering every family explicitly (as the CLI and the Python module do).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "core/session/builtin_families.hpp"

int main(int argc, char** argv) {
  plural::core::register_builtin_families();
  return Catch::Session().run(argc, argv);
}
