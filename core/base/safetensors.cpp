#include "core/base/safetensors.hpp"

#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/base/error.hpp"
#include "core/base/hash.hpp"

namespace plural::core {

SafeTensors::SafeTensors(const std::string& path) : path_(path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(detail::cat(path, ": cannot open weight file (run `make models` to fetch it)"));
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8) throw IoError(detail::cat(path, ": truncated safetensors file (", bytes.size(), " bytes)"));
  hash_ = hash128(bytes).hex();
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > bytes.size() - 8)
    throw IoError(detail::cat(path, ": truncated safetensors header (needs ", header_len, " bytes, file has ",
                              bytes.size() - 8, ")"));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(8, header_len));
  } catch (const std::exception& e) {
    throw IoError(detail::cat(path, ": safetensors header is not valid JSON: ", e.what()));
  }
  if (!header.is_object()) throw IoError(detail::cat(path, ": safetensors header is not a JSON object"));
  const size_t data_start = 8 + header_len;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    std::string dtype;
    std::vector<int64_t> shape;
    std::vector<uint64_t> off;
    try {
      dtype = info.at("dtype").get<std::string>();
      // Element by element: converting a JSON float such as 7e19 to an integer would be undefined behaviour.
      for (const auto& d : info.at("shape")) {
        if (!d.is_number_integer())
          throw IoError(detail::cat(path, ": tensor '", name, "': shape entries must be integers"));
        shape.push_back(d.get<int64_t>());
      }
      for (const auto& o : info.at("data_offsets")) {
        if (!o.is_number_unsigned())
          throw IoError(detail::cat(path, ": tensor '", name, "': offsets must be integers >= 0"));
        off.push_back(o.get<uint64_t>());
      }
    } catch (const nlohmann::json::exception& e) {
      throw IoError(detail::cat(path, ": tensor '", name, "' has a malformed header entry: ", e.what()));
    }
    if (off.size() != 2 || off[1] < off[0] || off[1] > bytes.size() - data_start)
      throw IoError(detail::cat(path, ": tensor '", name, "' lies beyond the end of the file (truncated download?)"));
    torch::ScalarType st;
    size_t elt;
    if (dtype == "F32")
      st = torch::kFloat32, elt = 4;
    else if (dtype == "F16")
      st = torch::kHalf, elt = 2;
    else if (dtype == "BF16")
      st = torch::kBFloat16, elt = 2;
    else if (dtype == "I64")
      st = torch::kInt64, elt = 8;
    else
      continue;        // types we never need
    uint64_t n = elt;  // bytes the shape needs; an overflow or a negative size cannot match the offsets
    bool bad = false;
    for (auto d : shape) bad |= d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n);
    if (bad || n != off[1] - off[0])
      throw IoError(detail::cat(path, ": tensor '", name, "' has ", off[1] - off[0], " bytes for shape ",
                                torch::IntArrayRef(shape), " of ", dtype));
    auto t = torch::empty(shape, torch::TensorOptions().dtype(st));
    if (off[1] > off[0])  // an empty tensor has no storage to copy into
      std::memcpy(t.data_ptr(), bytes.data() + data_start + off[0], off[1] - off[0]);
    tensors_[name] = t;
  }
}

torch::Tensor SafeTensors::get(const std::string& name, const std::vector<int64_t>& shape) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw IoError(detail::cat(path_, ": expected tensor '", name, "' is missing"));
  if (it->second.sizes() != torch::IntArrayRef(shape)) {
    std::ostringstream want, got;
    want << torch::IntArrayRef(shape);
    got << it->second.sizes();
    throw IoError(detail::cat(path_, ": tensor '", name, "' has shape ", got.str(), ", expected ", want.str()));
  }
  return it->second.to(torch::kFloat32);
}

std::vector<std::string> SafeTensors::names() const {
  std::vector<std::string> out;
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

}  // namespace plural::core
