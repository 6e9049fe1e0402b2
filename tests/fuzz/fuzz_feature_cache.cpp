// The HDF5 feature cache (embeddings/feature_cache.cpp): opened, every encoder group read, a lookup made.
#include <torch/types.h>

#include "embeddings/feature_cache.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  plural::fuzz::InputFile in(data, size, ".h5");
  return plural::fuzz::expect_clean_errors([&] {
    plural::core::FeatureCache cache(in.path());
    for (const auto& id : cache.encoders()) {
      cache.dim(id);
      cache.contains(id, {"a", "b"});
      try {
        cache.lookup(id, {"a"});
      } catch (const plural::ValueError&) {  // not cached
      }
    }
  });
}
