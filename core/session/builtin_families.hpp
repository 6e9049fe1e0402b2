#pragma once
// Registers every family that ships with plural. Called by the session, the CLI, the Python module and the tests;
// explicit calls (not static initializers alone) so that a static link keeps every family. Safe to call again.
namespace plural::core {

void register_builtin_families();

}  // namespace plural::core
