// TSV comparisons (core/data/read_tsv.cpp).
#include "core/data/readers.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plural::fuzz::InputFile in(data, size, ".tsv");
  return plural::fuzz::expect_clean_errors([&] { plural::core::read_preferences(in.path()); });
}
