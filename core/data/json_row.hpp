#pragma once
// One line of a JSON Lines file as JSON, for the readers: invalid UTF-8 becomes U+FFFD (one per bad byte, as
// docs/data_format.md promises), and a malformed line or a number out of range is a ValueError naming the source,
// the line and the field. JsonRow reads typed fields of such a record with errors naming the file, line and field.
#include <nlohmann/json.hpp>
#include <string>

namespace plural::core {

nlohmann::json parse_json_line(const std::string& source, size_t line_no, const std::string& line);

struct JsonRow {
  const std::string& path;
  size_t line;
  const nlohmann::json& obj;

  std::string where(const std::string& field) const;
  bool has(const char* field) const { return obj.contains(field) && !obj[field].is_null(); }
  /// The field, which must be present.
  const nlohmann::json& at(const char* field) const;
  /// A string field, without NUL characters.
  std::string text(const char* field) const { return text_of(at(field), field); }
  /// `v` (a value found under `field`, possibly nested) as such a string.
  std::string text_of(const nlohmann::json& v, const std::string& field) const;
  /// A user id: a non-blank string or a whole number (ids may be numbers in the wild).
  std::string id(const char* field) const;
  /// A number that fits a 32-bit float.
  float number(const char* field) const;
};

}  // namespace plural::core
