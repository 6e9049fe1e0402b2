#pragma once
// Preference strength from an ensemble of cheap reward heads on cached features (Secrets of RLHF II, §5.1 of the
// reference): M models trained with different seeds and orders; for each comparison the mean and spread of
// s·(r(a) − r(b)) over the members, s = the label's direction. A negative mean says the ensemble disagrees with
// the label: the pair is likely mislabeled or ambiguous.
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data.hpp"
#include "core/dataset_view.hpp"

namespace plural::core {

struct StrengthConfig {
  int members = 5;
  std::string family = "bt";  ///< any registered family; cheap ones make this seconds, not GPU-days
  std::string config = "{}";
  int epochs = 5;
  uint64_t seed = 0;  ///< member m trains with seed + m (initial weights and batch order)
  void validate() const;
};

struct PairStrength {
  std::vector<double> mean, spread;  ///< per comparison of the view's data; NaN for ties and unscored rows
  std::vector<double> prob;          ///< the ensemble's mean P(a ≻ b), per comparison (NaN where unscored)
};

/// Trains `members` models on the seen users' train comparisons of `view` and scores every comparison of seen
/// users (train, val and test).
PairStrength ensemble_strength(DatasetView& view, const StrengthConfig& config);

/// Train labels rewritten with the strength: "flip" swaps strict labels whose mean strength is negative; "soft"
/// replaces them by the ensemble's probability (train with soft-bce). At most `max_fraction` of the scored train
/// pairs change, the most negative first (Secrets of RLHF II flips only the negative tail). "margin" keeps the
/// labels and sets every scored train pair's margin to margin_scale·μ (the adaptive margin inside the sigmoid: strong
/// pairs must be won by more, negative ones are pushed less); "flip+margin" flips as "flip" and then sets the
/// margin from the strength towards the new label. Other splits are left as they are. Returns how many labels
/// changed.
int64_t relabel_with_strength(PreferenceData& data, const PairStrength& strength, const std::string& how,
                              double max_fraction = 1.0, double margin_scale = 1.0);

}  // namespace plural::core
