#include "core/base/zip_check.hpp"

#include <zlib.h>

#include <cstdint>
#include <cstring>

#include "core/base/error.hpp"

namespace plural::core {

namespace {
uint32_t u32(const std::string& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;  // zip is little-endian, as is every host plural builds on
}
uint16_t u16(const std::string& b, size_t at) {
  uint16_t v;
  std::memcpy(&v, b.data() + at, 2);
  return v;
}

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw IoError(detail::cat(path, ": corrupt or truncated file (", why, ")"));
}

constexpr uint32_t kEndSig = 0x06054b50, kCentralSig = 0x02014b50, kLocalSig = 0x04034b50, kWide = 0xffffffffu;

// The end-of-central-directory record: the last 22 bytes, or earlier by the length of a trailing comment.
size_t find_end_record(const std::string& b, const std::string& path) {
  if (b.size() < 22) corrupt(path, "too short to be a zip archive");
  const size_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  for (size_t at = b.size() - 22;; --at) {
    if (u32(b, at) == kEndSig && at + 22 + u16(b, at + 20) == b.size()) return at;
    if (at == lowest) break;
  }
  throw IoError(detail::cat(path,
                            ": cannot read: not a plural model or state file, or cut short (no zip directory "
                            "at its end)"));
}
// CRC-32 of an entry's content: stored bytes as they are, deflated ones (LibTorch compresses its code records)
// inflated first.
uint32_t content_crc(const std::string& b, uint64_t data, uint32_t size, uint32_t raw_size, bool deflated,
                     const std::string& name, const std::string& path) {
  const auto* p = reinterpret_cast<const Bytef*>(b.data() + data);
  if (!deflated) return static_cast<uint32_t>(crc32(0L, p, size));
  if (raw_size > (64u << 20)) corrupt(path, "entry '" + name + "' claims an implausible size");
  std::string out(raw_size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) corrupt(path, "zlib cannot start");
  z.next_in = const_cast<Bytef*>(p);
  z.avail_in = size;
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = raw_size;
  const int rc = inflate(&z, Z_FINISH);
  const bool whole = rc == Z_STREAM_END && z.total_out == raw_size;
  inflateEnd(&z);
  if (!whole) corrupt(path, "entry '" + name + "' does not inflate to its recorded size");
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(out.data()), raw_size));
}
}  // namespace

void verify_zip(const std::string& b, const std::string& path) {
  const size_t end = find_end_record(b, path);
  const uint16_t entries = u16(b, end + 10);
  const uint32_t dir_size = u32(b, end + 12), dir_at = u32(b, end + 16);
  if (dir_at == kWide || dir_size == kWide) return;  // zip64: LibTorch's own reader checks it
  if (static_cast<uint64_t>(dir_at) + dir_size > end) corrupt(path, "its zip directory lies outside the file");
  size_t at = dir_at;
  for (uint16_t i = 0; i < entries; ++i) {
    if (at + 46 > end || u32(b, at) != kCentralSig) corrupt(path, "a damaged zip directory entry");
    const uint16_t method = u16(b, at + 10), name_len = u16(b, at + 28), extra_len = u16(b, at + 30),
                   comment_len = u16(b, at + 32);
    const uint32_t crc = u32(b, at + 16), size = u32(b, at + 20), raw_size = u32(b, at + 24), local = u32(b, at + 42);
    if (at + 46 + name_len > end) corrupt(path, "a damaged zip directory entry");
    const std::string name = b.substr(at + 46, name_len);
    at += 46 + size_t{name_len} + extra_len + comment_len;
    if (size == kWide || raw_size == kWide || local == kWide) continue;  // zip64 entry
    if (!(method == 0 && size == raw_size) && method != 8)
      corrupt(path, "entry '" + name + "' is neither stored nor deflated");
    if (static_cast<uint64_t>(local) + 30 > b.size() || u32(b, local) != kLocalSig)
      corrupt(path, "entry '" + name + "' has no local header");
    const uint64_t data = uint64_t{local} + 30 + u16(b, local + 26) + u16(b, local + 28);
    if (data + size > b.size()) corrupt(path, "entry '" + name + "' runs past the end of the file");
    if (content_crc(b, data, size, raw_size, method == 8, name, path) != crc)
      corrupt(path, "entry '" + name + "' does not match its CRC-32");
  }
  if (at > end) corrupt(path, "a damaged zip directory");
}

}  // namespace plural::core
