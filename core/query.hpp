#pragma once
// Query scorers: which pair should we ask this user next? Every family whose user state is a Gaussian posterior
// over a user vector u (PAL/LoRe: the Laplace posterior of θ; VPL: q(z)) implements UserPosterior, and the scorers
// here work for all of them.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/model.hpp"

namespace plural::core {

/// Candidate logits linearized in the user vector at the posterior mean: logit ≈ mean + grad·(u − û), u ~ N(û, cov).
struct LinearizedLogits {
  torch::Tensor mean;  ///< [C] logits at the posterior mean
  torch::Tensor grad;  ///< [C, P] d logit / d u
  torch::Tensor cov;   ///< [P, P] posterior covariance of u
};

/// Implemented by model families with a Gaussian user posterior.
class UserPosterior {
 public:
  virtual ~UserPosterior() = default;
  virtual LinearizedLogits linearize(const UserState& state, const PairBatch& candidates) = 0;
  /// Logits [M, C] of the candidates under M draws of the user vector from its posterior (seeded).
  virtual torch::Tensor sample_logits(const UserState& state, const PairBatch& candidates, int64_t m,
                                      uint64_t seed) = 0;
};
/// The model's UserPosterior; throws ValueError naming the family and `scorer` when it has none.
UserPosterior& user_posterior(RewardModel& model, const std::string& scorer);

/// BALD, I(y; u) = H[E p] − E H[p], from sampled probabilities [M, C] (nats).
torch::Tensor bald_from_probs(const torch::Tensor& probs);
/// BALD for logits ~ N(mean, var) per candidate, by Gauss–Hermite quadrature (nats).
torch::Tensor bald_gaussian_logit(const torch::Tensor& mean, const torch::Tensor& var, int nodes = 20);

/// Uniform random scores: the control every active-learning curve is compared against.
class RandomQueryScorer : public QueryScorer {
 public:
  explicit RandomQueryScorer(uint64_t seed = 0) : seed_(seed) {}
  std::string name() const override { return "random"; }
  torch::Tensor score(RewardModel& model, const UserState& state, const PairBatch& candidates) const override;

 private:
  uint64_t seed_;
};

using QueryScorerFactory = std::function<std::unique_ptr<QueryScorer>(uint64_t seed)>;
bool register_query_scorer(const std::string& name, QueryScorerFactory factory, const std::string& help);
std::unique_ptr<QueryScorer> make_query_scorer(const std::string& name, uint64_t seed = 0);
std::map<std::string, std::string> query_scorer_names();

}  // namespace plural::core
