#pragma once
// The logit temperature of a trained model, fitted on the seen users' val pairs (core/logit_scale.hpp), before the
// prior is tuned: the prior's width is then chosen for calibrated likelihoods.
#include <cstdint>

#include "core/dataset_view.hpp"
#include "core/model.hpp"

namespace plural::core {

struct TemperatureFit {
  bool fitted = false;        ///< false: the family cannot scale its logits, or no seen user has val pairs
  double temperature = 1;     ///< logits were divided by it
  double val_nll_before = 0;  ///< NLL of the seen users' val pairs before
  double val_nll_after = 0;   ///< and after
  int64_t pairs = 0;          ///< val pairs it was fitted on
};

/// Fits T ∈ [1, 4] minimizing the val NLL of the seen users' trained states and folds it into `model`.
TemperatureFit fit_temperature(RewardModel& model, DatasetView& view);

}  // namespace plural::core
