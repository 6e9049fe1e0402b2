#pragma once
// Minimal .npy reader/writer for 2-D float arrays (C order), enough to import features made with numpy.
#include <cstdint>
#include <string>
#include <vector>

namespace plural::core {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  ///< converted to float32 (from <f2, <f4 or <f8)
};
/// Throws IoError/ValueError naming the file and what is wrong (dtype, order, truncated data).
NpyArray read_npy(const std::string& path);
void write_npy(const std::string& path, const float* data, int64_t rows, int64_t cols);

}  // namespace plural::core
