#include "core/train/fit.hpp"

#include <torch/torch.h>

#include "core/family.hpp"
#include "core/train/prior_tuning.hpp"
#include "core/train/train_defaults.hpp"

namespace plural::core {

TrainConfig fit_config(const std::string& family, const std::function<void(TrainConfig&)>& adjust) {
  TrainConfig tc = default_train_config(family);
  if (adjust) adjust(tc);
  tc.validate();
  return tc;
}

Fitted fit_family(const std::string& family, DatasetView& view, const std::string& config_json,
                  const TrainConfig& train_config, const DataParallel* dp) {
  torch::manual_seed(train_config.seed);  // initial weights: the same model for the same seed, from any front end
  Fitted f;
  f.model = make_model(family, view.dims(), config_json);
  f.result = train(*f.model, view, train_config, dp);
  if (train_config.tune_prior && !dp) f.result.prior = tune_prior(*f.model, view);
  return f;
}

}  // namespace plural::core
