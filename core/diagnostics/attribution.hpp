#pragma once
// Preference attribution ("Dissecting human and LLM preferences"): which item properties explain a user's choices.
// Per user, a Bayesian logistic regression of P(a ≻ b) on the standardized property differences x(a) − x(b),
// β ~ N(0, prior_sd² I), fitted by Newton with the Laplace posterior; credible intervals and P(β > 0) from the
// normal (Boost.Math). The population fit pools every user's comparisons; the user average is the mean of the
// users' posterior means with their spread. Plain C++ (Eigen, Boost.Math), no torch.
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

/// Numeric properties of the data's texts: values[text][property], NaN where unknown.
struct ItemProperties {
  std::vector<std::string> names;
  std::vector<std::vector<double>> values;
  int64_t unmatched_rows = 0;  ///< rows of a properties file naming texts the data does not have
};

/// "log_length": log(1 + UTF-8 bytes) of every text, always available.
ItemProperties length_property(const PreferenceData& data);

/// Adds the numeric fields of a JSON Lines file, one row per text: {"text": "...", "<name>": number, ...}. A text
/// missing from a row (or a null) leaves that property unknown for it. Errors name the file, line and field.
void read_item_properties(const std::string& path, const PreferenceData& data, ItemProperties& properties);

struct PropertyEffect {
  double mean = 0, sd = 0, lo = 0, hi = 0;  ///< posterior mean, sd and credible interval, per unit of `scale`
  double p_positive = 0.5;                  ///< posterior P(β > 0)
};

struct AttributionFit {
  std::string user;  ///< "" for the population
  int64_t pairs = 0;
  std::vector<PropertyEffect> effects;  ///< one per property
};

struct AttributionConfig {
  double prior_sd = 1.0;  ///< per unit of standardized difference
  int min_pairs = 10;     ///< users with fewer usable comparisons get no fit of their own
  double level = 0.95;    ///< credible interval
  void validate() const;
};

struct Attribution {
  std::vector<std::string> properties;
  std::vector<double> scale;  ///< RMS of each property's difference over the usable comparisons
  AttributionFit population;
  std::vector<AttributionFit> users;
  std::vector<double> user_average, user_spread;        ///< mean and s.d. of the users' posterior means
  std::vector<int64_t> users_positive, users_negative;  ///< users whose interval lies above / below 0
  int64_t usable = 0;                                   ///< comparisons with every property known for both items
  int64_t missing = 0;                                  ///< comparisons left out for an unknown property value
  std::vector<std::string> warnings;                    ///< e.g. a property that never differs within a pair
};

/// Every comparison of the data (any split; soft labels and ties as targets, weights as weights) whose items have
/// every property known.
Attribution attribute_preferences(const PreferenceData& data, const ItemProperties& properties,
                                  const AttributionConfig& config = {});

}  // namespace plural::core
