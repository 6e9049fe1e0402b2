// User-state files (core/model.cpp UserState::load).
#include "core/model.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plural::fuzz::InputFile in(data, size, ".state");
  return plural::fuzz::expect_clean_errors([&] { plural::core::UserState::load(in.path()); });
}
