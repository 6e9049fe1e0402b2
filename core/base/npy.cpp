#include "core/base/npy.hpp"

#include <cstring>
#include <fstream>
#include <regex>

#include "core/base/atomic_file.hpp"
#include "core/base/error.hpp"

namespace plural::core {

namespace {
float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
}  // namespace

NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(detail::cat(path, ": cannot open"));
  char magic[8];
  f.read(magic, 8);
  if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw IoError(detail::cat(path, ": not a .npy file (bad magic)"));
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    uint16_t l;
    f.read(reinterpret_cast<char*>(&l), 2);
    header_len = l;
  } else {
    f.read(reinterpret_cast<char*>(&header_len), 4);
  }
  {
    const auto at = f.tellg();
    f.seekg(0, std::ios::end);
    const auto size = f.tellg();
    f.seekg(at);
    if (!f || at < 0 || static_cast<uint64_t>(size - at) < header_len)
      throw IoError(detail::cat(path, ": truncated .npy header"));
  }
  std::string header(header_len, '\0');
  f.read(header.data(), header_len);
  if (!f) throw IoError(detail::cat(path, ": truncated .npy header"));
  std::smatch m;
  PLURAL_CHECK(std::regex_search(header, m, std::regex("'descr':\\s*'([<>|=]?)([a-z])(\\d+)'")), path,
               ": .npy header has no dtype");
  std::string kind = m[2].str() + m[3].str();
  PLURAL_CHECK(m[1].str() != ">", path, ": big-endian arrays are not supported");
  PLURAL_CHECK(kind == "f2" || kind == "f4" || kind == "f8", path, ": expected a float array (f2, f4, f8), got dtype '",
               kind, "'");
  PLURAL_CHECK(header.find("'fortran_order': False") != std::string::npos, path,
               ": Fortran-ordered arrays are not supported (save with np.ascontiguousarray)");
  PLURAL_CHECK(std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")), path,
               ": .npy header has no shape");
  NpyArray out;
  std::string dims = m[1].str();
  std::regex num("\\d+");
  size_t elt = kind == "f2" ? 2 : kind == "f4" ? 4 : 8;
  uint64_t bytes = elt;  // checked against the file before anything that size is allocated
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it) {
    const std::string d = it->str();
    PLURAL_CHECK(d.size() <= 15, path, ": .npy shape entry ", d, " is too large");
    out.shape.push_back(std::stoll(d));
    PLURAL_CHECK(!__builtin_mul_overflow(bytes, static_cast<uint64_t>(out.shape.back()), &bytes), path,
                 ": .npy shape (", dims, ") is too large");
  }
  const auto data_at = static_cast<uint64_t>(f.tellg());
  f.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(f.tellg());
  f.seekg(static_cast<std::streamoff>(data_at));
  if (file_size - data_at < bytes)
    throw IoError(detail::cat(path, ": truncated: expected ", bytes, " bytes of data, found ", file_size - data_at));
  const auto n = static_cast<int64_t>(bytes / elt);
  std::vector<char> raw(bytes);
  f.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  if (static_cast<size_t>(f.gcount()) != raw.size())
    throw IoError(detail::cat(path, ": truncated: expected ", raw.size(), " bytes of data, found ", f.gcount()));
  out.data.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const char* p = raw.data() + i * elt;
    if (elt == 4) {
      std::memcpy(&out.data[i], p, 4);
    } else if (elt == 8) {
      double d;
      std::memcpy(&d, p, 8);
      out.data[i] = static_cast<float>(d);
    } else {
      uint16_t h;
      std::memcpy(&h, p, 2);
      out.data[i] = half_to_float(h);
    }
  }
  return out;
}

void write_npy(const std::string& path, const float* data, int64_t rows, int64_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  AtomicFile f(path);
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t len = static_cast<uint16_t>(header.size());
  f.write(&len, 2);
  f.write(header);
  f.write(data, static_cast<size_t>(rows * cols) * 4);
  f.commit();
}

}  // namespace plural::core
