#pragma once
// The data-parallel strategy of a training run. One process sums nothing; a rank of a data-parallel run
// (docs/distributed.md) weights its loss by its share of the global batch, all-reduces the shared gradients, clips the
// global norm and, after each epoch, shares its users' rows and batch-norm statistics with the other ranks.
#include <torch/types.h>

#include <memory>
#include <vector>

namespace plural::core {

class Collective;
class DatasetView;
class RewardModel;
struct DataParallel;
struct PairBatch;
struct TrainConfig;

/// This rank's weights of a step's data loss and regularizer.
struct LossShares {
  double data = 1, reg = 1;
  bool scaled = false;  ///< false: one process, the plain sum
  torch::Tensor combine(const torch::Tensor& data_loss, const torch::Tensor& regularizer) const;
};

class TrainSync {
 public:
  virtual ~TrainSync() = default;
  virtual bool lead() const { return true; }  ///< writes the checkpoint, the metrics and the progress bar
  virtual int rank() const { return 0; }
  virtual Collective* comm() const { return nullptr; }
  /// Splits shared from per-user parameters (the heads are shared); on ranks, checks that every rank trains the same
  /// model with the same config and starts them all from rank 0's weights.
  virtual void start(RewardModel& model, const TrainConfig& cfg, const std::vector<torch::Tensor>& head_params);
  /// Floats all-reduced per step: the shared parameters (0 outside a data-parallel run).
  int64_t allreduce_floats() const { return allreduce_floats_; }
  virtual LossShares shares(RewardModel&, const PairBatch&, bool /*has_rows*/, const TrainConfig&) { return {}; }
  virtual void reduce_gradients() {}
  virtual void clip_gradients(double max_norm);
  /// Sums values over ranks.
  virtual std::vector<double> sum(std::vector<double> values) { return values; }
  /// After an epoch's steps: every rank sees every seen user's rows, refreshed from the data.
  virtual void end_epoch(RewardModel& model, const DatasetView& view);
  virtual double comm_seconds() const { return 0; }

 protected:
  std::vector<torch::Tensor> all_params_, shared_params_, user_params_;
  int64_t allreduce_floats_ = 0;
  bool counts_floats_ = false;  // one process replaying a data-parallel run reports what a rank would reduce

  friend std::unique_ptr<TrainSync> make_train_sync(const DataParallel* dp);
};

/// One process (dp null, or a replay of every shard) or a rank of `dp->comm`.
std::unique_ptr<TrainSync> make_train_sync(const DataParallel* dp);

}  // namespace plural::core
