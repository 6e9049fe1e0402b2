#include "core/base/hash.hpp"

#include <xxhash.h>

#include <cstdio>
#include <string>

namespace plural::core {

std::string Hash128::hex() const {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

Hash128 hash128(std::string_view bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return {h.low64, h.high64};
}

Hash128 hash128(std::string_view ns, std::string_view text) {
  std::string buf;
  buf.reserve(ns.size() + 1 + text.size());
  buf.append(ns).push_back('\0');
  buf.append(text);
  return hash128(buf);
}

uint64_t hash64(std::string_view bytes, uint64_t seed) {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

}  // namespace plural::core
