#pragma once
// One line of a JSON Lines file as JSON, for the readers: invalid UTF-8 becomes U+FFFD (one per bad byte, as
// docs/data_format.md promises), and a malformed line or a number out of range is a ValueError naming the source,
// the line and the field.
#include <nlohmann/json.hpp>
#include <string>

namespace plural::core {

nlohmann::json parse_json_line(const std::string& source, size_t line_no, const std::string& line);

}  // namespace plural::core
