#pragma once
// How the CLI prints evaluation results: one JSON shape and one table shape for every command.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/data/data.hpp"
#include "core/eval/evaluator.hpp"

namespace plural::core {

/// What a data set holds, as JSON: users (seen/unseen), texts, comparisons per split.
nlohmann::json data_json(const core::PreferenceData& data);
/// A grid cell as JSON (non-finite numbers become null).
nlohmann::json cell_json(const core::GridCell& c);
/// The seen/unseen × shots grid as a table under `title`.
void print_grid(const std::string& title, const std::vector<core::GridCell>& cells);
/// "0.858 [0.848, 0.868]": pair accuracy with its 95% Wilson interval.
std::string accuracy_with_ci(const core::GridCell& c);

}  // namespace plural::core
