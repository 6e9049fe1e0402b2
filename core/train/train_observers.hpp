#pragma once
// What watches a training run epoch by epoch: the progress bar, the JSONL metrics log and the keeper of the best epoch
// (checkpoint, early stopping, restoring its weights at the end). The loop tells each of them, in that order.
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/base/metrics_log.hpp"
#include "core/base/progress.hpp"

namespace plural::core {

class RewardModel;
struct EpochLog;
struct TrainConfig;
struct TrainResult;

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void epoch_started(int /*epoch*/, int64_t /*steps*/) {}
  virtual void step_done(int64_t /*step*/) {}
  /// After an epoch's validation; true ends training.
  virtual bool epoch_done(const EpochLog& /*log*/) { return false; }
};

/// One bar per epoch, finished with the epoch's losses and the model's diagnostics.
class ProgressObserver : public TrainObserver {
 public:
  explicit ProgressObserver(bool enabled) : enabled_(enabled) {}
  void epoch_started(int epoch, int64_t steps) override;
  void step_done(int64_t step) override;
  bool epoch_done(const EpochLog& log) override;

 private:
  bool enabled_;
  std::unique_ptr<Progress> bar_;
};

/// One JSON object per epoch (`TrainConfig::metrics_path`).
class MetricsObserver : public TrainObserver {
 public:
  /// Each line also says where validation came from: `val_pairs` in all, `val_carved` of them held out of the train
  /// pairs because the data had no val split.
  MetricsObserver(const std::string& path, std::string family, int world_size, int64_t val_pairs, int64_t val_carved);
  bool epoch_done(const EpochLog& log) override;

 private:
  MetricsLog log_;
  std::string family_;
  int world_size_;  // 0: not data-parallel
  int64_t val_pairs_, val_carved_;
};

/// Keeps the weights of the epoch with the best validation loss, writes them as the checkpoint, and stops after
/// `patience` epochs without improvement or when the target accuracy is reached. Without validation pairs every epoch
/// is the best and the checkpoint is the final model.
class BestEpoch : public TrainObserver {
 public:
  BestEpoch(RewardModel& model, const TrainConfig& cfg, bool has_val, bool writes, TrainResult& result);
  bool epoch_done(const EpochLog& log) override;
  void restore_best();  ///< the best epoch's weights back into the model
  void save_final();    ///< without validation: the checkpoint is the final model

 private:
  void save_checkpoint();

  RewardModel& model_;
  const TrainConfig& cfg_;
  bool has_val_, writes_;
  TrainResult& result_;
  std::vector<torch::Tensor> best_;
  double best_val_;
  int since_best_ = 0;
};

}  // namespace plural::core
