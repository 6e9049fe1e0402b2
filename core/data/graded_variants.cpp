#include "core/data/graded_variants.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/base/json_rows.hpp"
#include "core/base/text_io.hpp"

namespace plural::core {

GradedVariants read_graded_variants(const std::string& path, PreferenceData& data) {
  GradedVariants out;
  std::unordered_map<int64_t, size_t> line_of;  // (original, degree) → the line that gave it
  LineReader reader(path);
  std::string line;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const auto where = detail::cat(path, ":", reader.line_number());
    auto obj = parse_json_object_row(line, where);
    for (const char* field : {"text", "variant"})
      PLURAL_CHECK(obj.contains(field) && obj[field].is_string(), where, ": field '", field,
                   "': missing or not a string");
    PLURAL_CHECK(obj.contains("degree") && obj["degree"].is_number(), where,
                 ": field 'degree': missing or not a number");
    const double d = obj["degree"].get<double>();
    PLURAL_CHECK(std::isfinite(d) && d >= 1 && d == std::floor(d) && d < 1e6, where,
                 ": field 'degree': must be a whole number >= 1 (0 is the original itself), got ",
                 obj["degree"].dump());
    const auto text = sanitize_utf8(obj["text"].get<std::string>());
    const auto variant = sanitize_utf8(obj["variant"].get<std::string>());
    PLURAL_CHECK(variant != text, where, ": field 'variant': the same as its original text");
    ++out.variants;
    const int32_t t = data.texts.find(text);
    if (t < 0) {
      ++out.unmatched_rows;
      continue;
    }
    const auto degree = static_cast<int32_t>(d);
    const int64_t key = int64_t(t) * 1000000 + degree;
    auto [it, added] = line_of.emplace(key, reader.line_number());
    PLURAL_CHECK(added, where, ": field 'degree': text already has a degree-", degree, " variant (line ", it->second,
                 ")");
    out.of[t].push_back({degree, data.texts.intern(variant)});
    out.levels = std::max(out.levels, degree + 1);
  }
  PLURAL_CHECK(out.variants > 0, path, ": no variant rows");
  for (auto& [t, list] : out.of) std::sort(list.begin(), list.end());
  return out;
}

}  // namespace plural::core
