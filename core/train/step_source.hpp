#pragma once
// Where each training step's rows come from: the whole view in one shuffled order (one process), or a ShardPlan's
// shards (a data-parallel run, or one process replaying every shard of it).
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "core/base/random.hpp"

namespace plural::core {

class DatasetView;
struct DataParallel;
struct TrainConfig;

/// The rows of one step.
struct StepRows {
  torch::Tensor rows;                // this process's rows in its view
  int64_t global_count = 0;          // rows in the whole global batch (every rank's part)
  std::vector<int64_t> shard_sizes;  // one process replaying a data-parallel run: each shard's rows, in order
};

class StepSource {
 public:
  StepSource(const DatasetView& view, const TrainConfig& cfg, const DataParallel* dp, Rng& rng);
  int64_t total_rows() const;  ///< train rows of an epoch, over every rank
  int64_t steps() const;       ///< steps per epoch
  void start_epoch(int epoch);
  StepRows step(int64_t s) const;

 private:
  StepRows shard_step(int64_t s) const;

  const TrainConfig& cfg_;
  const DataParallel* dp_;
  Rng& rng_;
  std::vector<int64_t> order_;
  torch::Tensor perm_;
  std::vector<std::vector<size_t>> shard_orders_;
  std::vector<int64_t> local_of_;
};

}  // namespace plural::core
