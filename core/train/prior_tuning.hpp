#pragma once
// Empirical Bayes by validation: after training, the prior width on the family's grid that best predicts each seen
// user's val pairs from her other val pairs (leave one out, few shots as a new user gives; the shared weights never
// saw these pairs) is kept. Then, when the seen users' posteriors from their train pairs under that prior predict
// their val pairs better than their trained states do, they replace them: the trained states of users with few pairs
// are over-confident (per-user BT's NLL 1.12 on real data, #29).
#include <cstdint>

#include "core/dataset_view.hpp"
#include "core/model.hpp"

namespace plural::core {

struct PriorTuning {
  bool tuned = false;          ///< false: the family has no tunable prior, or no seen user has train and val pairs
  double variance = 0;         ///< the prior variance kept
  double val_nll_trained = 0;  ///< per-user val NLL of the trained seen states
  double val_nll_adapted = 0;  ///< the same of the seen users' posteriors under the kept prior
  bool seen_refit = false;     ///< the posteriors replaced the trained seen states
  int64_t users = 0;           ///< seen users it was measured on
};

/// Tunes `model`'s prior on `view`'s seen users (eval mode, no grad; shared weights untouched).
PriorTuning tune_prior(RewardModel& model, DatasetView& view);

}  // namespace plural::core
