#include "core/data/json_row.hpp"

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

}  // namespace plural::core
