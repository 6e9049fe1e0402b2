#pragma once
// Trainer: AdamW with per-group learning rates over minibatches of seen users' train comparisons, early stopping on
// their validation comparisons, format-versioned checkpoints, a JSONL metrics log and a progress bar. The loop is
// core/train/trainer.cpp; where rows come from (step_source), the data-parallel strategy (train_sync), auxiliary
// losses (aux_loss) and what watches each epoch (train_observers) have files of their own.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dataset_view.hpp"
#include "core/model.hpp"
#include "core/train/losses.hpp"
#include "core/train/prior_tuning.hpp"
#include "core/train/temperature.hpp"
#include "core/train/train_config.hpp"

namespace plural::core {

class ShardPlan;
class Collective;

/// A data-parallel run (docs/distributed.md). Every rank builds the same ShardPlan from the same full data; each
/// rank's view holds only its shard's comparisons. Without `comm`, one process replays every shard of each global
/// batch, which is what an N-rank run computes (the equivalence test compares the two).
struct DataParallel {
  const ShardPlan* plan = nullptr;
  const PreferenceData* full = nullptr;  ///< the data the plan was built on
  Collective* comm = nullptr;            ///< null: one process, all shards
  std::vector<size_t> full_row;          ///< with comm: row i of this rank's view is row full_row[i] of *full
};

struct EpochLog {
  int epoch = 0;
  double train_loss = 0, val_loss = 0, val_accuracy = 0, seconds = 0, pairs_per_second = 0;
  double elapsed = 0;  ///< wall seconds since training started, at the end of this epoch's validation
  std::vector<std::pair<std::string, double>> diagnostics;  ///< the model's own (RewardModel::diagnostics)
};

struct TrainResult {
  int epochs_run = 0, best_epoch = 0;
  double best_val_loss = 0, best_val_accuracy = 0;
  double seconds = 0, pairs_per_second = 0;
  int64_t train_pairs = 0, val_pairs = 0;
  bool early_stopped = false;
  double target_reached_seconds = -1;  ///< elapsed seconds when target_val_accuracy was reached (-1: never)
  double comm_seconds = 0;             ///< data-parallel: time inside collectives during the train steps
  int64_t steps = 0;                   ///< optimizer steps taken
  int64_t allreduce_floats = 0;        ///< data-parallel: floats all-reduced per step (the shared gradients)
  std::vector<EpochLog> history;
  PriorTuning prior;           ///< what fit_family's prior tuning chose (tuned = false when it did not run)
  TemperatureFit temperature;  ///< the logit temperature fit_family fitted before tuning the prior
};

/// What the training loss sees: logit − s·margin per pair, s = +1 when a is preferred, −1 when b is, 0 for a tie
/// (Secrets of RLHF II's adaptive margin inside the sigmoid; TRL's margin column). Validation uses plain logits.
torch::Tensor train_logits(const torch::Tensor& logits, const PairBatch& batch);

/// Trains `model` in place on `view` (bound to the model first). With validation pairs, the weights of the best
/// epoch are restored at the end. Deterministic given cfg.seed on one thread. With `dp`, trains one shard of a
/// data-parallel run (or replays all shards in one process); only rank 0 writes the checkpoint and metrics.
/// `on_epoch` is called after each epoch's validation, once the progress bar, metrics log and best-epoch keeper have
/// seen it (a notebook's progress bar, a caller's own early stopping); returning true ends training there.
using EpochCallback = std::function<bool(const EpochLog&)>;
TrainResult train(RewardModel& model, DatasetView& view, const TrainConfig& cfg, const DataParallel* dp = nullptr,
                  const EpochCallback& on_epoch = {});

/// Mean loss and pairwise accuracy of `model` on comparison rows of seen users (eval mode, no grad).
std::pair<double, double> evaluate_loss(RewardModel& model, const DatasetView& view, const std::vector<size_t>& rows,
                                        const std::string& loss, const LossOptions& options);

}  // namespace plural::core
