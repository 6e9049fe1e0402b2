#pragma once
// Auxiliary losses beside the preference loss (the rationale loss, SPO's degree loss): each brings a trainer-only head,
// trained with the shared parameters and dropped when training ends, and adds weight · its term to each step's loss.
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace plural::core {

class Collective;
class DatasetView;
class RewardModel;
struct DataParallel;
struct PairBatch;
struct StepRows;
struct TrainConfig;

/// What an auxiliary loss sees of one step.
struct AuxStep {
  const PairBatch& batch;
  const StepRows& rows;
  double data_share = 1;    ///< this rank's share of the global batch's data loss (1 in one process)
  bool collective = false;  ///< a data-parallel rank (not one process replaying every shard)
};

class AuxLoss {
 public:
  virtual ~AuxLoss() = default;
  virtual std::string name() const = 0;  ///< its key in the epoch's diagnostics
  virtual double weight() const = 0;
  virtual std::vector<torch::Tensor> parameters() = 0;  ///< the head's
  /// The unweighted term of this step; its share of the epoch's sum is kept.
  virtual torch::Tensor step_loss(RewardModel& model, const DatasetView& view, const AuxStep& step) = 0;
  /// The epoch's mean per train pair (summed over ranks where every rank computes it); starts the next epoch's sum.
  virtual double epoch_mean(Collective* comm, int64_t train_pairs) = 0;
};

/// The losses `cfg` turns on, in a fixed order (rationale, then SPO's degree). Their heads are built here, before the
/// data-parallel broadcast of the initial weights, so every rank starts from rank 0's heads too.
std::vector<std::unique_ptr<AuxLoss>> make_aux_losses(RewardModel& model, const DatasetView& view,
                                                      const std::vector<size_t>& train_rows, const TrainConfig& cfg,
                                                      const DataParallel* dp);

}  // namespace plural::core
