#include "core/text_io.hpp"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace plural::core {

LineReader::LineReader(const std::string& path) : path_(path) {
  if (!std::filesystem::is_regular_file(path))
    throw IoError(detail::cat(path, ": cannot open (no such file)"));
  gz_ = gzopen(path.c_str(), "rb");
  if (!gz_) throw IoError(detail::cat(path, ": cannot open: ", std::strerror(errno)));
  gzbuffer(static_cast<gzFile>(gz_), 1 << 18);
}

LineReader::~LineReader() {
  if (gz_) gzclose(static_cast<gzFile>(gz_));
}

bool LineReader::next(std::string& line) {
  line.clear();
  char buf[1 << 14];
  auto* f = static_cast<gzFile>(gz_);
  bool got = false;
  while (gzgets(f, buf, sizeof buf)) {
    got = true;
    size_t n = std::strlen(buf);
    line.append(buf, n);
    if (n > 0 && buf[n - 1] == '\n') break;
  }
  if (!got) {
    int err = 0;
    const char* msg = gzerror(f, &err);
    if (err != Z_OK && err != Z_BUF_ERROR)
      throw IoError(detail::cat(path_, ": read error after line ", line_no_, ": ", msg));
    if (!gzeof(f)) throw IoError(detail::cat(path_, ": read error after line ", line_no_));
    return false;
  }
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  ++line_no_;
  return true;
}

std::vector<std::string> split_tsv(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return out;
}

std::string tsv_unescape(const std::string& field) {
  if (field.find('\\') == std::string::npos) return field;
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    char c = field[i];
    if (c == '\\' && i + 1 < field.size()) {
      char n = field[i + 1];
      if (n == 't') { out.push_back('\t'); ++i; continue; }
      if (n == 'n') { out.push_back('\n'); ++i; continue; }
      if (n == 'r') { out.push_back('\r'); ++i; continue; }
      if (n == '\\') { out.push_back('\\'); ++i; continue; }
    }
    out.push_back(c);
  }
  return out;
}

std::string tsv_escape(const std::string& field) {
  std::string out;
  out.reserve(field.size());
  for (char c : field) {
    switch (c) {
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\\': out += "\\\\"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string sanitize_utf8(const std::string& s) {
  static const char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok && len > 1) {
      uint32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
      // Reject overlong forms, surrogates and values past U+10FFFF.
      ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000) &&
           !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += kReplacement;
      i += 1;
    }
  }
  return out;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw IoError(detail::cat(path, ": cannot write (", std::strerror(errno), ")"));
    f << content;
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      throw IoError(detail::cat(path, ": write failed (disk full?)"));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw IoError(detail::cat(path, ": cannot replace: ", ec.message()));
  }
}

}  // namespace plural::core
