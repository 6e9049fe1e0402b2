#pragma once
// Line-oriented reading of plain or gzip-compressed text files, and the TSV conventions we use.
#include <memory>
#include <string>
#include <vector>

namespace plural::core {

/// Reads lines from a plain or .gz file (zlib detects which). Throws IoError naming the path on failure.
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
  std::string path_;
  void* gz_ = nullptr;
  size_t line_no_ = 0;
};

/// Splits a TSV line on tabs (no quoting; see tsv_unescape for the escapes inside fields).
std::vector<std::string> split_tsv(const std::string& line);
/// Undoes our TSV escapes: \t, \n, \r, \\ (and UKP's literal "<br/>" line breaks are kept as is).
std::string tsv_unescape(const std::string& field);
std::string tsv_escape(const std::string& field);

/// Replaces invalid UTF-8 sequences by U+FFFD, deterministically (one replacement per bad byte).
std::string sanitize_utf8(const std::string& s);

/// Writes `content` to `path` atomically (temp file in the same folder, then rename).
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace plural::core
