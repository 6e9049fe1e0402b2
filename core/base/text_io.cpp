#include "core/base/text_io.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/base/error.hpp"

namespace plural::core {

LineReader::LineReader(const std::string& path) : path_(path) {
  if (!std::filesystem::is_regular_file(path)) throw IoError(detail::cat(path, ": cannot open (no such file)"));
  gz_ = gzopen(path.c_str(), "rb");
  if (!gz_) throw IoError(detail::cat(path, ": cannot open: ", std::strerror(errno)));
  gzbuffer(static_cast<gzFile>(gz_), 1 << 17);
}

LineReader::~LineReader() {
  if (gz_) gzclose(static_cast<gzFile>(gz_));
}

bool LineReader::fill() {
  if (eof_) return false;
  auto* f = static_cast<gzFile>(gz_);
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  const size_t old = buf_.size(), chunk = 1 << 16;
  buf_.resize(old + chunk);
  int n = gzread(f, buf_.data() + old, static_cast<unsigned>(chunk));
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  if (n < 0 || (err != Z_OK && err != Z_BUF_ERROR)) {
    buf_.resize(old);
    throw IoError(detail::cat(path_, ": read error after line ", line_no_, ": ", msg));
  }
  buf_.resize(old + static_cast<size_t>(n));
  if (n > 0) return true;
  // zlib reports a stream that stops before its trailer (8 bytes of CRC and length) as Z_BUF_ERROR.
  if (err == Z_BUF_ERROR)
    throw IoError(detail::cat(path_, ": the gzip stream ends without its trailer after line ", line_no_,
                              ": the file was cut short (truncated download or copy)"));
  eof_ = true;
  return false;
}

bool LineReader::next(std::string& line) {
  line.clear();
  size_t nl;
  while ((nl = buf_.find('\n', pos_)) == std::string::npos)
    if (!fill()) break;
  if (pos_ >= buf_.size() && nl == std::string::npos) return false;
  size_t end = nl == std::string::npos ? buf_.size() : nl;
  line.assign(buf_, pos_, end - pos_);
  pos_ = nl == std::string::npos ? buf_.size() : nl + 1;
  ++line_no_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_no_ == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
  if (line.find('\0') != std::string::npos)
    throw ValueError(detail::cat(path_, ":", line_no_, ": contains a NUL byte (a binary file, or text in UTF-16?)"));
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
      if (n == 't') {
        out.push_back('\t');
        ++i;
        continue;
      }
      if (n == 'n') {
        out.push_back('\n');
        ++i;
        continue;
      }
      if (n == 'r') {
        out.push_back('\r');
        ++i;
        continue;
      }
      if (n == '\\') {
        out.push_back('\\');
        ++i;
        continue;
      }
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
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        out.push_back(c);
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

}  // namespace plural::core
