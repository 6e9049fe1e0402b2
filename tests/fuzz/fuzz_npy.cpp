// .npy feature arrays (core/base/npy.cpp).
#include "core/base/npy.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plural::fuzz::InputFile in(data, size, ".npy");
  return plural::fuzz::expect_clean_errors([&] { plural::core::read_npy(in.path()); });
}
