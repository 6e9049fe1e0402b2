#pragma once
// Sections of `plural doctor data` that go beyond the records: preference attribution on item properties, and
// length control of a trained model. Each returns JSON ({"missing": why} when it cannot run) and prints its rows.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/data/data.hpp"
#include "core/dataset_view.hpp"
#include "embeddings/feature_cache.hpp"

namespace plural::apps {

/// Bayesian logistic attribution on log length plus the numeric fields of `property_files`.
nlohmann::json attribution_section(const core::PreferenceData& data, const std::vector<std::string>& property_files,
                                   double prior_sd);
void print_attribution(const nlohmann::json& section);

/// The model's preferences on the seen users' test comparisons (all of theirs when there are none), with and without
/// their length term (and the numeric fields of `property_files` as further covariates, fitted jointly).
nlohmann::json length_control_section(const std::string& model_path, core::DatasetView& view,
                                      const std::vector<std::string>& property_files = {});
void print_length_control(const nlohmann::json& section);

/// Quantiles of per-comparison CHES scores (NaN = not scored) and the five highest distinct pairs;
/// {"missing": `missing`} when none is scored.
nlohmann::json ches_summary(const core::PreferenceData& data, const std::vector<double>& scores,
                            const std::string& missing);

/// Token-level CHES of every strict pair from a MiniLM-family encoder's token states of each response (their sums are
/// cached under '<encoder id>+token-sums'), with its Spearman correlation to the pooled CHES when that is given.
nlohmann::json token_ches_section(const core::PreferenceData& data, core::FeatureCache& cache,
                                  const std::string& encoder_spec, const std::vector<double>& pooled);
void print_token_ches(const nlohmann::json& section);

/// Runs scripts/doctor_report.py on the health JSON to draw `png`; a clear error when Python or the script is missing.
void write_png_report(const nlohmann::json& health, const std::string& png);

}  // namespace plural::apps
