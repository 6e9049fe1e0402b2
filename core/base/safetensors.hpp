#pragma once
// Reads .safetensors files (an 8-byte header length, a JSON header, raw little-endian tensors).
#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

namespace plural::core {

class SafeTensors {
 public:
  /// Reads the whole file; a missing or truncated file throws IoError naming it.
  explicit SafeTensors(const std::string& path);
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  /// The tensor `name` (float32 copy), checked against `shape`; errors name the file, tensor and shapes.
  torch::Tensor get(const std::string& name, const std::vector<int64_t>& shape) const;
  std::vector<std::string> names() const;
  const std::string& path() const { return path_; }
  const std::string& content_hash() const { return hash_; }  ///< XXH3-128 hex of the file bytes

 private:
  std::string path_, hash_;
  std::map<std::string, torch::Tensor> tensors_;
};

}  // namespace plural::core
