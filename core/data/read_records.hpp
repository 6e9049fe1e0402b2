#pragma once
// Comparisons from records already in memory as JSON values (a DataFrame's or a datasets.Dataset's rows, converted
// column by column in the bindings), with the JSONL schema and errors of read_jsonl (docs/data_format.md).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

/// Record i is numbered i + 1 in errors, which name `source`, that number and the field.
PreferenceData parse_json_objects(const std::vector<nlohmann::json>& records, const std::string& source,
                                  bool unlabelled = false);

}  // namespace plural::core
