// Model files (core/model.cpp load_model): torch archives with plural's fields and checksum.
#include "core/model.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plural::fuzz::InputFile in(data, size, ".pt");
  return plural::fuzz::expect_clean_errors([&] { plural::core::load_model(in.path()); });
}
