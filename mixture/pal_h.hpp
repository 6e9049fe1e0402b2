#pragma once
// Hierarchical PAL: a user is her ideal point in a mixture *and* her own deviation from it. With no answers she is
// the mixture's prior (PAL-B); with many her deviation on a shared low-rank head takes over (per-user BT's
// strength), shrunk toward the seen users' spread of deviations. Neither half alone wins everywhere: PAL-B is
// better with few answers, per-user BT with many (bench/RESULTS.md).
#include <torch/nn/modules/linear.h>

#include <memory>
#include <string>
#include <vector>

#include "core/query.hpp"
#include "core/staged_training.hpp"
#include "core/tunable_prior.hpp"
#include "mixture/pal.hpp"

namespace plural::mixture {

/// r_u(x, c) = τ·cos(f(x), Σ_k w_uk g_k(c)) + δ_uᵀ H [x; c], w_u = softmax(θ_u), δ_u ~ N(μ, s·diag(σ²)) with μ, σ²
/// the seen users' moments and s chosen on validation. Family "pal-h".
/// UserState tensors: "theta" [K], "delta" [R], "cov" [K + R, K + R] (Laplace covariance of [θ; δ]).
class PalH : public core::RewardModel,
             public core::UserPosterior,
             public core::TunablePrior,
             public core::StagedTraining,
             public core::LogitScalable {
 public:
  struct Config {
    int64_t k = 2;
    int64_t dim = 64;                         ///< PAL-B's projection width d
    std::string proj = "mlp2-gelu-dropout3";  ///< PAL-B's projectors
    int64_t rank = 8;                         ///< R, the deviation head's width
    bool use_prompt = true;                   ///< the head reads [x; prompt] when the data has prompts
    double user_l2 = 1e-3;                    ///< L2 on δ_u per training pair
    double theta_var = 4.0;                   ///< variance of the prior on a new user's mixture logits
    /// > 0 with prior_mean and prior_diag: δ's prior is N(prior_mean, prior_var · diag(prior_diag)), set by the prior
    /// tuning; 0: the seen deviations' current moments.
    double prior_var = 0;
    std::vector<double> prior_mean, prior_diag;
  };
  PalH(const core::ModelDims& dims, Config config);
  std::string family() const override { return "pal-h"; }
  bool scale_logits(double factor) override;
  std::string config_json() const override;
  int64_t K() const { return config_.k; }
  int64_t rank() const { return config_.rank; }

  torch::Tensor reward_seen(const core::ItemBatch& items, const torch::Tensor& users) override;
  torch::Tensor reward(const core::ItemBatch& items, const core::UserState& state) override;
  torch::Tensor logits(const core::PairBatch& batch) override;
  /// With a posterior ("cov"), in eval mode without grad: the posterior predictive over [θ; δ] (MacKay's probit
  /// approximation on the linearized logit).
  torch::Tensor logits_for(const core::PairBatch& batch, const core::UserState& state) override;
  torch::Tensor item_representation(const core::ItemBatch& items) override;
  torch::Tensor regularizer(const core::PairBatch& batch) override;
  std::map<std::string, std::vector<torch::Tensor>> param_groups() override;
  core::UserState seen_state(int64_t row) const override;
  core::UserState prior_state() const override;
  /// softmax(θ): where she sits among the prototypes (her deviation is not part of it).
  core::UserEmbedding user_embedding(const core::UserState& state) const override;

  /// H [x; c]: [B, R].
  torch::Tensor head(const core::ItemBatch& items);
  /// The mixture half (PAL-B), whose θ rows are the seen users' mixture logits.
  PalB& mixture() { return *mix_; }
  /// Prior of a new user's δ: mean [R] and variances [R].
  std::pair<torch::Tensor, torch::Tensor> delta_prior() const;
  double theta_var() const { return config_.theta_var; }

  /// Part 0: the deviation prior's scale over the seen deviations' moments (4^-3 … 4^4); part 1: the mixture
  /// logits' variance (as PAL-B's grid).
  int prior_parts() const override { return 2; }
  void select_prior_part(int part) override { part_ = part; }
  void begin_tuning() override;
  std::vector<double> prior_grid() const override;
  double prior_variance() const override { return part_ == 0 ? config_.prior_var : config_.theta_var; }
  void set_prior_variance(double v) override { (part_ == 0 ? config_.prior_var : config_.theta_var) = v; }
  void set_seen_state(int64_t row, const core::UserState& adapted) override;

  /// Stage 0 trains the mixture alone (δ = 0, H unused); stage 1 the deviations and the users' θ on the frozen
  /// mixture, so a new user with no answers meets the mixture stage 0 chose.
  int training_stages() const override { return 2; }
  void begin_stage(int stage) override;
  /// Training mode, except a frozen mixture's (stage 1), which keeps scoring without dropout.
  void train(bool on = true) override;

  /// The logit is linear in δ and smooth in θ: a pool's preparation is PAL-B's geometry plus H a − H b.
  std::shared_ptr<const core::PreparedPool> prepare(const core::PairBatch& candidates) override;
  core::LinearizedLogits linearize(const core::UserState& state, const core::PreparedPool& pool) override;
  torch::Tensor sample_logits(const core::UserState& state, const core::PreparedPool& pool, int64_t m,
                              uint64_t seed) override;

 private:
  torch::Tensor head_input(const core::ItemBatch& items) const;
  Config config_;
  std::shared_ptr<PalB> mix_;
  torch::nn::Linear head_{nullptr};
  torch::Tensor delta_;
  bool deviations_ = true;       // false while training the mixture alone
  bool frozen_mixture_ = false;  // true while training the deviations
  int part_ = 0;                 // the prior part being tuned
};

}  // namespace plural::mixture
