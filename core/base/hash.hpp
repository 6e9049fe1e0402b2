#pragma once
// 128-bit content hashes (XXH3-128): cache keys, encoder ids, fingerprints.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace plural::core {

struct Hash128 {
  uint64_t lo = 0, hi = 0;
  bool operator==(const Hash128& o) const { return lo == o.lo && hi == o.hi; }
  bool operator!=(const Hash128& o) const { return !(*this == o); }
  bool operator<(const Hash128& o) const { return hi != o.hi ? hi < o.hi : lo < o.lo; }
  std::string hex() const;  ///< 32 lower-case hex digits, hi first
};

Hash128 hash128(std::string_view bytes);
/// Hash of `namespace_` and `text` kept apart by a NUL, so ("ab","c") != ("a","bc").
Hash128 hash128(std::string_view namespace_, std::string_view text);
uint64_t hash64(std::string_view bytes, uint64_t seed = 0);

struct Hash128Hasher {
  size_t operator()(const Hash128& h) const noexcept {
    return static_cast<size_t>(h.lo ^ (h.hi * 0x9e3779b97f4a7c15ULL));
  }
};

}  // namespace plural::core
