// .safetensors weights (core/base/safetensors.cpp): every tensor it lists is read back.
#include <c10/util/Exception.h>

#include "core/base/safetensors.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plural::fuzz::InputFile in(data, size, ".safetensors");
  return plural::fuzz::expect_clean_errors([&] {
    plural::core::SafeTensors st(in.path());
    for (const auto& name : st.names()) {
      try {
        st.get(name, {});  // a wrong shape is a ValueError naming both shapes
      } catch (const plural::ValueError&) {
      }
    }
  });
}
