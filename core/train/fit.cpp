#include "core/train/fit.hpp"

#include <torch/torch.h>

#include "core/family.hpp"
#include "core/staged_training.hpp"
#include "core/train/prior_tuning.hpp"
#include "core/train/train_defaults.hpp"

namespace plural::core {

TrainConfig fit_config(const std::string& family, const std::function<void(TrainConfig&)>& adjust) {
  TrainConfig tc = default_train_config(family);
  if (adjust) adjust(tc);
  tc.validate();
  return tc;
}

namespace {
// One result for a staged training: the last stage's best, every stage's epochs, steps and time.
void append_stage(TrainResult& total, TrainResult stage) {
  const int offset = total.epochs_run;
  for (auto& e : stage.history) {
    e.epoch += offset;
    e.elapsed += total.seconds;
    total.history.push_back(e);
  }
  const double seconds = total.seconds + stage.seconds;
  total.pairs_per_second =
      (total.pairs_per_second * total.seconds + stage.pairs_per_second * stage.seconds) / std::max(seconds, 1e-9);
  total.seconds = seconds;
  total.epochs_run += stage.epochs_run;
  total.steps += stage.steps;
  total.comm_seconds += stage.comm_seconds;
  total.best_epoch = offset + stage.best_epoch;
  total.best_val_loss = stage.best_val_loss;
  total.best_val_accuracy = stage.best_val_accuracy;
  total.early_stopped = stage.early_stopped;
  if (total.target_reached_seconds < 0 && stage.target_reached_seconds >= 0)
    total.target_reached_seconds = total.seconds - stage.seconds + stage.target_reached_seconds;
}
}  // namespace

Fitted fit_family(const std::string& family, DatasetView& view, const std::string& config_json,
                  const TrainConfig& train_config, const DataParallel* dp, const EpochCallback& on_epoch) {
  torch::manual_seed(train_config.seed);  // initial weights: the same model for the same seed, from any front end
  Fitted f;
  f.model = make_model(family, view.dims(), config_for_data(family, view, config_json));
  auto* staged = dynamic_cast<StagedTraining*>(f.model.get());
  const int stages = staged ? staged->training_stages() : 1;
  for (int stage = 0; stage < stages; ++stage) {
    if (staged) staged->begin_stage(stage);
    TrainConfig tc = train_config;
    if (stage > 0) tc.rationale_weight = tc.spo_weight = 0;  // their heads shape the representation stage 0 trained
    EpochCallback numbered;
    if (on_epoch)
      numbered = [&, offset = f.result.epochs_run](const EpochLog& log) {
        EpochLog on = log;
        on.epoch += offset;
        if (staged) on.diagnostics.emplace_back("stage", stage);  // a progress bar's total grows with each stage
        return on_epoch(on);
      };
    TrainResult r = train(*f.model, view, tc, dp, numbered);
    if (stage > 0)
      append_stage(f.result, std::move(r));
    else
      f.result = std::move(r);
  }
  if (staged) staged->begin_stage(stages);
  if (train_config.tune_prior && !dp) {  // calibrated likelihoods first: the prior's width is chosen under them
    f.result.temperature = fit_temperature(*f.model, view);
    f.result.prior = tune_prior(*f.model, view);
  }
  return f;
}

}  // namespace plural::core
