#pragma once
// Query scorers: which pair should we ask this user next? Every family whose user state is a Gaussian posterior
// over a user vector u (PAL/LoRe: the Laplace posterior of θ; per-user BT: of the head w; VPL: q(z)) implements
// UserPosterior. Families whose uncertainty about a user is a choice among a few hypotheses (which training context
// describes them, which seen user they are like) implement HypothesisPosterior. bald and bald-mc work for both;
// dopt needs a Gaussian posterior.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/base/error.hpp"
#include "core/model.hpp"

namespace plural::core {

/// Candidate logits linearized in the user vector at the posterior mean: logit ≈ mean + grad·(u − û), u ~ N(û, cov).
struct LinearizedLogits {
  torch::Tensor mean;  ///< [C] logits at the posterior mean
  torch::Tensor grad;  ///< [C, P] d logit / d u
  torch::Tensor cov;   ///< [P, P] posterior covariance of u
};

/// What a model computes about a candidate pool once, whoever is asked: item projections (VPL), the pool's
/// geometry in the simplex weights (PAL/LoRe). Scoring a prepared pool for a user is then cheap.
class PreparedPool {
 public:
  virtual ~PreparedPool() = default;
};

/// Candidate pairs with their preparation for one model.
struct QueryPool {
  PairBatch pairs;
  std::shared_ptr<const PreparedPool> prepared;  ///< null for models without a UserPosterior
  std::string model_id;                          ///< the model it was prepared for
  int64_t size() const { return pairs.label.defined() ? pairs.size() : 0; }
};
/// Checks that the pool is not empty and prepares it for `model` (in eval mode, without grad).
QueryPool prepare_pool(RewardModel& model, const PairBatch& candidates);

/// Implemented by model families with a Gaussian user posterior.
class UserPosterior {
 public:
  virtual ~UserPosterior() = default;
  /// Called by prepare_pool, which has put the model in eval mode without grad.
  virtual std::shared_ptr<const PreparedPool> prepare(const PairBatch& candidates) = 0;
  virtual LinearizedLogits linearize(const UserState& state, const PreparedPool& pool) = 0;
  /// Logits [M, C] of the candidates under M draws of the user vector from its posterior (seeded).
  virtual torch::Tensor sample_logits(const UserState& state, const PreparedPool& pool, int64_t m, uint64_t seed) = 0;
};
/// Candidate logits under each of H hypotheses about the user, with the posterior weight of each.
struct WeightedHypotheses {
  torch::Tensor logits;   ///< [H, C]
  torch::Tensor weights;  ///< [H], non-negative, summing to 1
};

/// Implemented by model families whose user posterior is discrete (context: the training contexts; cross-attn: the
/// seen users' token sets), weighted by the likelihood of the user's answers.
class HypothesisPosterior {
 public:
  virtual ~HypothesisPosterior() = default;
  /// Called by prepare_pool, which has put the model in eval mode without grad.
  virtual std::shared_ptr<const PreparedPool> prepare_hypotheses(const PairBatch& candidates) = 0;
  virtual WeightedHypotheses hypotheses(const UserState& state, const PreparedPool& pool) = 0;
};

/// The posterior predictive's logit from a linearization: mean / √(1 + π/8 · gᵀ cov g) per candidate (MacKay).
torch::Tensor moderated_logits(const LinearizedLogits& lin);
/// The model's UserPosterior; throws ValueError naming the family and `scorer` when it has none.
UserPosterior& user_posterior(RewardModel& model, const std::string& scorer);
/// A state's posterior covariance ("cov"); a state without one (e.g. from an AdamW adapter) is a ValueError.
const torch::Tensor& state_covariance(const UserState& state);
/// A family's own PreparedPool type; a pool prepared by another family is a ValueError naming `family`.
template <typename Pool>
const Pool& prepared_as(const PreparedPool& pool, const std::string& family) {
  auto* p = dynamic_cast<const Pool*>(&pool);
  PLURAL_CHECK(p, "query: this pool was prepared for another model, not this ", family, " model");
  return *p;
}

/// BALD, I(y; u) = H[E p] − E H[p], from sampled probabilities [M, C] (nats).
torch::Tensor bald_from_probs(const torch::Tensor& probs);
/// The same for probabilities [H, C] under hypotheses with weights [H] (exact for a discrete posterior).
torch::Tensor bald_weighted(const torch::Tensor& probs, const torch::Tensor& weights);
/// Posterior weights [H] from the log-likelihoods [H] of a user's answers under a uniform prior.
torch::Tensor posterior_weights(const torch::Tensor& log_likelihood);
/// BALD for logits ~ N(mean, var) per candidate, by Gauss–Hermite quadrature (nats).
torch::Tensor bald_gaussian_logit(const torch::Tensor& mean, const torch::Tensor& var, int nodes = 20);

/// Uniform random scores: the control every active-learning curve is compared against.
class RandomQueryScorer : public QueryScorer {
 public:
  explicit RandomQueryScorer(uint64_t seed = 0) : seed_(seed) {}
  std::string name() const override { return "random"; }
  using QueryScorer::score;
  torch::Tensor score(RewardModel& model, const UserState& state, const QueryPool& pool) const override;

 private:
  uint64_t seed_;
};

using QueryScorerFactory = std::function<std::unique_ptr<QueryScorer>(uint64_t seed)>;
bool register_query_scorer(const std::string& name, QueryScorerFactory factory, const std::string& help);
std::unique_ptr<QueryScorer> make_query_scorer(const std::string& name, uint64_t seed = 0);
std::map<std::string, std::string> query_scorer_names();

}  // namespace plural::core
