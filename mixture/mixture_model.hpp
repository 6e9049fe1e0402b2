#pragma once
// The ideal-point mixture family (PAL-A, PAL-B, LoRe): everything is shared except each user's K logits θ_u,
// whose softmax w_u is a point on the simplex. A new user is K numbers, so adapting one is a K-dimensional problem.
#include <Eigen/Core>
#include <memory>
#include <string>

#include "core/logit_scale.hpp"
#include "core/model.hpp"
#include "core/query.hpp"
#include "core/tunable_prior.hpp"

namespace plural::mixture {

/// Simplex weights w = softmax(θ) of a user's K logits.
inline Eigen::VectorXd simplex_weights(const Eigen::VectorXd& theta) {
  Eigen::VectorXd e = (theta.array() - theta.maxCoeff()).exp();
  return e / e.sum();
}

/// A K-vector passed in without a copy, whether the caller holds it in a fixed-size (the Newton search at K ≤ 8)
/// or a dynamic-size vector.
using VectorRef = Eigen::Ref<const Eigen::VectorXd>;

/// A frozen model seen from one user's shots: the shots' logits z(w) and their Jacobian dz/dw, in K dimensions,
/// computed from one forward pass of the shared parts. What the Newton adapter optimises.
class ShotGeometry {
 public:
  virtual ~ShotGeometry() = default;
  /// z: [n] logits of the shots; dz: [n, K] derivatives with respect to the simplex weights w.
  virtual void eval(const VectorRef& w, Eigen::VectorXd& z, Eigen::MatrixXd& dz) const = 0;
  /// Σ_i r_i ∇²_w z_i, [K, K]: the logits' own curvature weighted by r — the term exact Newton adds to Fisher
  /// scoring, which turns its linear convergence into quadratic. Written into H (resized; no allocation when it is
  /// already [K, K]: the search calls this once per iteration).
  virtual void weighted_hessian(const VectorRef& w, const VectorRef& r, Eigen::MatrixXd& H) const = 0;
};

/// A tensor's values, row-major, as doubles for the K-dimensional solves: no LibTorch op for a contiguous float32
/// tensor (labels, weights, a frozen forward's outputs), where an adaptation of a few shots counts microseconds.
std::vector<double> to_doubles(const torch::Tensor& t);

/// Both sides of a batch as one item batch [a; b] (features, prompts and contexts where given).
core::ItemBatch both_sides(const core::PairBatch& batch);
/// Per-pair reward differences r(a) − r(b) from rewards scored on both_sides' [a; b] layout (B pairs).
torch::Tensor side_difference(const torch::Tensor& r, int64_t B);

class MixtureModel : public core::RewardModel,
                     public core::UserPosterior,
                     public core::TunablePrior,
                     public core::LogitScalable {
 public:
  int64_t K() const { return k_; }
  /// Simplex weights [B, K] of seen-user rows (-1 = the prior user, θ = 0, uniform weights). In partition mode
  /// (evaluation only) the weights are one-hot at argmax θ.
  torch::Tensor seen_weights(const torch::Tensor& users) const;
  /// Weights [K] of a state (softmax of its "theta", one-hot in partition mode at evaluation).
  torch::Tensor state_weights(const core::UserState& s) const;
  /// Rewards [B] of items under weights w [B, K] (or [K], broadcast).
  virtual torch::Tensor reward_weights(const core::ItemBatch& items, const torch::Tensor& w) = 0;
  /// Rewards [2B] of both sides [a; b] of a batch under w [2B, K]. In training each side must draw its own dropout
  /// masks, as two reward calls would; a model that shares work between rows (PAL-B's distinct prompts) keeps the
  /// sides apart then.
  virtual torch::Tensor reward_sides(const core::ItemBatch& both, const torch::Tensor& w) {
    return reward_weights(both, w);
  }
  /// The shots' geometry for the Newton adapter (eval mode, no grad).
  virtual std::unique_ptr<ShotGeometry> geometry(const core::PairBatch& shots) = 0;

  /// Both sides in one pass: the users' weights once, the projectors over [a; b], each distinct prompt's
  /// prototypes once — half the ops of two reward calls.
  torch::Tensor logits(const core::PairBatch& batch) override;
  /// A state with a posterior ("cov"), scored in eval mode without grad: the posterior predictive, MacKay's probit
  /// approximation on the logit linearized in θ — a new user with no answers is any of the prototypes, not sure of
  /// their average (PAL-B's NLL with no answers on Persona-K was 0.409 against BT's 0.348 at higher accuracy).
  torch::Tensor logits_for(const core::PairBatch& batch, const core::UserState& state) override;
  torch::Tensor reward_seen(const core::ItemBatch& items, const torch::Tensor& users) override;
  torch::Tensor reward(const core::ItemBatch& items, const core::UserState& state) override;
  std::map<std::string, std::vector<torch::Tensor>> param_groups() override;
  core::UserState seen_state(int64_t row) const override;
  core::UserState prior_state() const override;
  /// softmax(θ): the user's weights on the K prototypes.
  core::UserEmbedding user_embedding(const core::UserState& state) const override;
  /// A pool's preparation is its geometry (one frozen forward); a user's Laplace posterior N(θ, cov) then needs
  /// only K-dimensional arithmetic per candidate (core/query.hpp).
  std::shared_ptr<const core::PreparedPool> prepare(const core::PairBatch& candidates) override;
  core::LinearizedLogits linearize(const core::UserState& state, const core::PreparedPool& pool) override;
  torch::Tensor sample_logits(const core::UserState& state, const core::PreparedPool& pool, int64_t m,
                              uint64_t seed) override;
  const torch::Tensor& theta() const { return theta_; }
  double prior_var() const { return prior_var_; }
  /// Variances of the Gaussian prior on θ from 1/16 (the users stay near uniform weights) to 64.
  std::vector<double> prior_grid() const override { return {1.0 / 16, 0.25, 1, 4, 16, 64}; }
  double prior_variance() const override { return prior_var_; }
  void set_prior_variance(double v) override { prior_var_ = v; }
  /// θ_row = the adapted θ.
  void set_seen_state(int64_t row, const core::UserState& adapted) override;

 protected:
  /// Whether logits_for scores `state` by its posterior predictive (and not its MAP weights).
  bool predictive(const core::UserState& state) const;
  /// Registers θ [users, K] ~ N(0, I) (as the original does).
  void init_users(int64_t k, bool partition, double prior_var);
  int64_t k_ = 0;
  bool partition_ = false;
  double prior_var_ = 4.0;  ///< variance of the Gaussian prior on a new user's θ
  torch::Tensor theta_;
};

}  // namespace plural::mixture
