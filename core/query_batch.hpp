#pragma once
// Batch selection: n pairs that are worth asking together. The top n by score often ask the same thing n times
// (near-duplicate pairs along the direction the posterior is least sure of); choosing greedily, each pick scored as
// if the earlier picks had been answered, spreads the batch over what is still unknown.
#include <cstdint>
#include <string>
#include <vector>

#include "core/query.hpp"

namespace plural::core {

/// Scorers that can score a posterior other than the one a state carries: the Gaussian one through its linearized
/// logits, the discrete one through weights over hypotheses. bald, bald-mc, epig and dopt implement it.
class ConditionalScorer {
 public:
  virtual ~ConditionalScorer() = default;
  /// Scores [C] under u ~ N(û, lin.cov), the logits linearized in u; `user_id` seeds the scorers that draw.
  virtual torch::Tensor score_linearized(const LinearizedLogits& lin, const std::string& user_id) const = 0;
  /// Scores [C] from probabilities [H, C] under hypotheses weighted by `weights` [H].
  virtual torch::Tensor score_hypotheses(const torch::Tensor& probs, const torch::Tensor& weights,
                                         const std::string& user_id) const = 0;
};

/// The chosen pairs, in the order they were chosen, with each one's gain: its score given the pairs before it.
struct BatchChoice {
  std::vector<int64_t> order;
  std::vector<double> gain;
};

/// The top `n` by `scores`, without those whose score is below `min_gain`.
BatchChoice choose_top(const torch::Tensor& scores, int64_t n, double min_gain = -1e300);

/// Chooses up to `n` candidates of `pool` greedily. The first is the best by `scores` (the scorer's own scores for
/// the state). After each pick the posterior branches on both of her possible answers to it, and the next pick is the
/// best by its expected score over the branches (the 8 likeliest answer histories are kept): with bald, the greedy
/// conditional mutual information of BatchBALD. A discrete posterior reweighs its hypotheses by each answer's
/// likelihood; a Gaussian one is updated by assumed-density filtering of the answer's probit likelihood along the
/// linearized logit (mean and covariance). Picking stops early when the best gain is below `min_gain`. A candidate
/// scored −∞ in `scores` is never chosen (how a caller leaves out pairs already asked). A scorer that is not a
/// ConditionalScorer (random), or n = 1, takes the top n of `scores`.
BatchChoice choose_batch(RewardModel& model, const UserState& state, const QueryPool& pool, const QueryScorer& scorer,
                         const torch::Tensor& scores, int64_t n, double min_gain = -1e300);

}  // namespace plural::core
