#pragma once
// One JSON Lines row of a side file (item properties, graded variants): parsed, and required to be an object; errors
// name `where` (file:line).
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/error.hpp"

namespace plural::core {

inline nlohmann::json parse_json_object_row(const std::string& line, const std::string& where) {
  nlohmann::json obj;
  try {
    obj = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    throw ValueError(where + ": malformed JSON: " + e.what());
  }
  PLURAL_CHECK(obj.is_object(), where, ": expected a JSON object");
  return obj;
}

}  // namespace plural::core
