#pragma once
// What a training run is told: the loss, the optimizer's rates, the epochs and when to stop, the auxiliary losses and
// where to write. The fields that decide the weights are declared once (train_config_schema): validation, the
// data-parallel ranks' agreement check and `plural train --help` read that one list.
#include <cstdint>
#include <map>
#include <string>

#include "core/base/config_schema.hpp"
#include "core/train/losses.hpp"

namespace plural::core {

/// Learning rates above this are refused: no family trains with them, and they diverge to NaN.
constexpr double kMaxLearningRate = 10.0;

struct TrainConfig {
  std::string loss = "bt";
  LossOptions loss_options;
  double lr = 1e-3;       ///< shared parameters
  double user_lr = 1e-2;  ///< parameters in the "user" group (per-user heads, simplex logits)
  double weight_decay = 1e-4;
  double user_weight_decay = 0.0;
  std::map<std::string, double> group_lr;  ///< per-group lr overrides by name (e.g. "scale" for PAL-B's τ)
  int64_t batch_size = 256;
  int epochs = 50;
  int patience = 5;            ///< epochs without val improvement before stopping (0 = never stop early)
  double min_delta = 1e-4;     ///< a smaller val-loss improvement does not count
  double max_grad_norm = 0.0;  ///< > 0: clip the global gradient norm
  uint64_t seed = 0;
  double target_val_accuracy = 0;  ///< > 0: stop at the first epoch whose val accuracy reaches it (time-to-accuracy)
  /// > 0: add this times the rationale loss (core/train/rationale.hpp) on pairs that carry a rationale. Needs a family
  /// with an item representation (pal-a, pal-b, lore, bt, per-user-bt).
  double rationale_weight = 0;
  double rationale_temperature = 0.1;  ///< the InfoNCE temperature over cosine similarities
  /// > 0: add this times SPO's preference-degree loss (core/train/spo.hpp) on pairs whose responses have graded
  /// variants (DatasetView::set_graded_variants). Needs a family with an item representation, as the rationale loss
  /// does.
  double spo_weight = 0;
  /// After training, on the validation pairs: fit the logit temperature (core/train/temperature.hpp), choose the
  /// prior of a family with a tunable one (per-user BT, PAL, LoRe, pal-h), and replace seen users' trained states by
  /// their posteriors when those predict better (core/train/prior_tuning.hpp).
  bool tune_prior = true;
  // Where the run reports; not part of what decides the weights.
  bool progress = true;
  std::string metrics_path;     ///< JSONL, one object per epoch (empty = none)
  std::string checkpoint_path;  ///< the best model so far (empty = none)
  std::string encoder_id;       ///< recorded in checkpoints
  int64_t val_carved = 0;       ///< val pairs held out of the train pairs (carve_validation): metrics
  void validate() const;
};

/// Every field that decides the weights, with its range and help (the reporting fields are not in it).
const ConfigSchema<TrainConfig>& train_config_schema();

}  // namespace plural::core
