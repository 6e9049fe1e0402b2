#pragma once
// Evaluator: the same protocol for every family. Seen users are scored with their trained state on their test
// pairs; unseen users are adapted from k of their support pairs (k in `shots`) and scored on their test pairs.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/dataset_view.hpp"
#include "core/eval/stats.hpp"
#include "core/model.hpp"

namespace plural::core {

struct PairMetrics {
  int64_t pairs = 0;                            ///< all scored pairs
  int64_t strict = 0;                           ///< pairs with label != 0.5 (the ones accuracy counts)
  double accuracy = 0, acc_lo = 0, acc_hi = 0;  ///< with its 95% Wilson interval
  double nll = 0;                               ///< mean binary cross-entropy against the (soft) label
  double nll_lo = 0, nll_hi = 0;                ///< its 95% normal interval over pairs
  double brier = 0;                             ///< mean (σ(logit) - label)²
  /// Expected calibration error: 10 equal-width bins of P(a ≻ b) = σ(logit), Σ (bin share) · |mean P − mean label|.
  /// Binned on P(a ≻ b) itself (not max(P, 1 − P)), so a pair and its mirror land in mirrored bins.
  double ece = 0;
};
/// The ECE of probabilities p [B] against soft labels y [B] over `bins` equal-width bins of [0, 1].
double expected_calibration_error(const torch::Tensor& p, const torch::Tensor& y, int64_t bins = 10);
/// Metrics of logits [B] against soft labels [B].
PairMetrics pair_metrics(const torch::Tensor& logits, const torch::Tensor& labels);

struct GridCell {
  std::string users;   ///< "seen" or "unseen"
  int64_t shots = -1;  ///< -1 for seen users (their trained state)
  PairMetrics pairs;
  MeanSummary per_user;  ///< per-user accuracy: mean with bootstrap CI over users, worst decile
};

struct EvalConfig {
  std::vector<int64_t> shots = {0, 1, 2, 5, 10, 20, 50};
  std::string adapter;  ///< "" = the family's default
  std::string adapter_options = "{}";
  uint64_t seed = 0;  ///< which support pairs are the first k
  int bootstrap = 1000;
  Split split = Split::test;  ///< what to score
  void validate() const;
};

/// The {seen, unseen} × {shots} grid. Cells with no users are left out.
std::vector<GridCell> evaluate_grid(RewardModel& model, DatasetView& view, const EvalConfig& cfg);

/// Logits of pairs for one adapted/seen user state, in eval mode without grad.
torch::Tensor score_pairs(RewardModel& model, const PairBatch& batch, const UserState* state);

}  // namespace plural::core
