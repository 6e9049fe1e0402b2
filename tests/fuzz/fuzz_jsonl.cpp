// JSON Lines comparisons (core/data/read_jsonl.cpp).
#include "core/data/readers.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plural::fuzz::InputFile in(data, size, ".jsonl");
  return plural::fuzz::expect_clean_errors([&] { plural::core::read_preferences(in.path()); });
}
