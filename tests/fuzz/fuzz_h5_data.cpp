// plural's HDF5 preference files (core/data/data_h5.cpp).
#include "core/data/readers.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plural::fuzz::InputFile in(data, size, ".h5");
  return plural::fuzz::expect_clean_errors([&] { plural::core::read_preferences(in.path()); });
}
