#include "core/data/json_row.hpp"

#include <cmath>

#include "core/base/error.hpp"
#include "core/base/text_io.hpp"

namespace plural::core {

using nlohmann::json;

json parse_json_line(const std::string& source, size_t line_no, const std::string& line) {
  std::string last_key;
  auto track = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key) last_key = parsed.get<std::string>();
    return true;
  };
  const std::string clean = sanitize_utf8(line);
  try {
    return json::parse(clean, track);
  } catch (const json::out_of_range& e) {
    throw ValueError(
        detail::cat(source, ":", line_no, ": field '", last_key, "': number out of range (", e.what(), ")"));
  } catch (const json::exception& e) {
    throw ValueError(detail::cat(source, ":", line_no, ": malformed JSON: ", e.what()));
  }
}

std::string JsonRow::where(const std::string& field) const {
  return detail::cat(path, ":", line, ": field '", field, "'");
}

const json& JsonRow::at(const char* field) const {
  PLURAL_CHECK(has(field), where(field), ": missing");
  return obj[field];
}

std::string JsonRow::text_of(const json& v, const std::string& field) const {
  PLURAL_CHECK(v.is_string(), where(field), ": expected a string, got ", v.type_name());
  const auto& t = v.get_ref<const std::string&>();
  // A NUL would cut the text in C APIs (HDF5 strings), and two texts differing after it would collide.
  PLURAL_CHECK(t.find('\0') == std::string::npos, where(field), ": contains a NUL character (\\u0000)");
  return t;
}

std::string JsonRow::id(const char* field) const {
  const auto& v = at(field);
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  PLURAL_CHECK(v.is_string(), where(field), ": expected a string or a whole number, got ",
               v.is_number() ? v.dump() : v.type_name());
  std::string s = text_of(v, field);
  PLURAL_CHECK(s.find_first_not_of(" \t\r\n") != std::string::npos, where(field), ": empty");
  return s;
}

float JsonRow::number(const char* field) const {
  const auto& v = obj[field];
  PLURAL_CHECK(v.is_number(), where(field), ": expected a number, got ", v.type_name(),
               v.is_boolean() ? " (write 1 or 0)" : "");
  const double d = v.get<double>();
  PLURAL_CHECK(std::abs(d) <= 3.0e38, where(field), ": ", v.dump(), " is out of range (a 32-bit float)");
  return static_cast<float>(d);
}

}  // namespace plural::core
