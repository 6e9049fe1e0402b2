#pragma once
// Line-oriented reading of plain or gzip-compressed text files, and the TSV conventions we use.
#include <memory>
#include <string>
#include <vector>

namespace plural::core {

/// Reads lines from a plain or .gz file (zlib detects which). Throws IoError naming the path on failure: a gzip
/// stream must end with its trailer and a matching CRC (a file cut short is an error, not a shorter file). A UTF-8
/// byte-order mark before the first line is skipped; a NUL byte inside a line is an error naming the line.
class LineReader {
 public:
  explicit LineReader(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  /// Next line without its "\n" / "\r\n"; false at end of file.
  bool next(std::string& line);
  size_t line_number() const { return line_no_; }  ///< 1-based number of the last line returned
  const std::string& path() const { return path_; }

 private:
  bool fill();  ///< reads more into buf_; false at a clean end of the stream
  std::string path_;
  void* gz_ = nullptr;
  size_t line_no_ = 0;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
};

/// Splits a TSV line on tabs (no quoting; see tsv_unescape for the escapes inside fields).
std::vector<std::string> split_tsv(const std::string& line);
/// Undoes our TSV escapes: \t, \n, \r, \\ (and UKP's literal "<br/>" line breaks are kept as is).
std::string tsv_unescape(const std::string& field);
std::string tsv_escape(const std::string& field);

/// Replaces invalid UTF-8 sequences by U+FFFD, deterministically (one replacement per bad byte).
std::string sanitize_utf8(const std::string& s);

}  // namespace plural::core
