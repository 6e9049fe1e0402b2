#pragma once
// "Fit a family with its defaults", once: the CLI, Python, the benchmarks and the data doctor's ensemble all train
// through here, so a family is seeded, built and trained the same way everywhere.
#include <functional>
#include <memory>
#include <string>

#include "core/train/trainer.hpp"

namespace plural::core {

struct Fitted {
  std::shared_ptr<RewardModel> model;
  TrainResult result;
};

/// The family's measured TrainConfig (its record's TrainingDefaults) with `adjust` applied, then validated.
TrainConfig fit_config(const std::string& family, const std::function<void(TrainConfig&)>& adjust = {});

/// Builds `family` for `view` from `config_json` (initial weights drawn from train.seed) and trains it. `on_epoch` (see
/// train) numbers the epochs of a staged family's stages on from each other.
Fitted fit_family(const std::string& family, DatasetView& view, const std::string& config_json,
                  const TrainConfig& train, const DataParallel* dp = nullptr, const EpochCallback& on_epoch = {});

}  // namespace plural::core
