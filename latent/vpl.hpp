#pragma once
// VPL (Poddar et al., NeurIPS 2024) on frozen features: a user is a Gaussian posterior q(z | their answered pairs),
// produced in one pass by a set encoder; the reward is a decoder r(x, z). Family "vpl". Label convention as
// everywhere: comparisons carry P(a ≻ b); support pairs are stored oriented (chosen, rejected), as in VPL.
#include <cstdint>
#include <string>
#include <utility>

#include "core/logit_scale.hpp"
#include "core/mlp.hpp"
#include "core/model.hpp"
#include "core/query.hpp"
#include "core/support.hpp"

namespace plural::latent {

/// VPL's cyclic cosine KL schedule: slope(t) = b + (1 − b)·(cos(π(t'/T − 1)) + 1)/2 with t' = t mod T, rising from b
/// to 1 over each period T. Stepped once per training step (the reference also stepped it during evaluation).
struct KlAnnealer {
  int64_t period = 0;  ///< 0: no annealing (slope 1)
  double baseline = 0.1;
  double slope(int64_t step) const;
};

class Vpl : public core::RewardModel, public core::UserPosterior, public core::LogitScalable {
 public:
  struct Config {
    int64_t latent = 32, hidden = 256;  ///< d_z and the MLP width (the control code's sizes; the LLM code used 512)
    double beta = 1e-3;                 ///< KL weight of the ELBO
    int64_t anneal_period = 500;        ///< training steps per KL cycle (0 = constant β)
    double anneal_baseline = 0.1;
    double clamp = 1.0;                         ///< μ and log σ² clamped to [−clamp, clamp], as the reference
    bool normalize = false;                     ///< z ← √d_z·z/‖z‖, in training and evaluation alike
    double free_bits = 0.0;                     ///< per-dimension KL floor in nats (0 = off); a remedy for collapse
    int64_t context_min = 1, context_max = 32;  ///< support pairs per training set, drawn uniformly
    int64_t seen_context = 64;                  ///< train pairs encoded into a seen user's state
    bool use_prompt = true;                     ///< prompt features enter the pair encoder and the decoder
    /// "mlp": r = MLP([x; z]) (the reference). "bilinear": r = b(x) + h(x)ᵀz with b, h one MLP's outputs — the
    /// user part is linear in z, like PAL's mixture weights. With "mlp" and no set_norm (the reference design) the
    /// latent collapsed on Persona-K with MiniLM features (docs/vpl.md); bilinear + set_norm uses it.
    std::string decoder = "bilinear";
    /// What the pair encoder reads: "concat" [chosen; rejected] (the reference) or "difference" chosen − rejected
    /// (antisymmetric: a set's mean then points along what this user prefers).
    std::string pair_input = "concat";
    double dropout = 0.0;
    /// Batch-normalize each set's pooled summary across the sets of a batch (running statistics at evaluation):
    /// a mean over a user's pairs is mostly the population's mean pair, and the part that differs between users
    /// is too small at initialisation for the decoder to pick up — normalizing across users makes it O(1).
    bool set_norm = true;
    double logvar_init = 0.0;  ///< initial bias of the log σ² head (the reference: ≈ 0, σ ≈ 1)
    void validate() const;
  };
  Vpl(const core::ModelDims& dims, Config config);
  std::string family() const override { return "vpl"; }
  bool scale_logits(double factor) override;
  std::string config_json() const override;
  const Config& config() const { return config_; }

  /// Posterior (μ, log σ²) of each support set, [S, d_z] each; an empty set gives the prior (0, 0).
  std::pair<torch::Tensor, torch::Tensor> encode(const core::SupportSet& set);
  /// Rewards [B] of items for latents z ([B, d_z], or [d_z] for all), before normalization.
  torch::Tensor decode(const core::ItemBatch& items, const torch::Tensor& z);
  /// KL(N(μ, σ²) ‖ N(0, I)) per dimension.
  static torch::Tensor kl_per_dim(const torch::Tensor& mu, const torch::Tensor& logvar);

  torch::Tensor reward_seen(const core::ItemBatch& items, const torch::Tensor& users) override;
  torch::Tensor reward(const core::ItemBatch& items, const core::UserState& state) override;
  /// With support sets in the batch, each target's latent comes from its set (sampled in training, μ otherwise);
  /// without, from the seen users' encoded states.
  torch::Tensor logits(const core::PairBatch& batch) override;
  /// For a new user (shots ≥ 0) with the bilinear decoder, the posterior predictive over z ~ N(μ, σ²): MacKay's
  /// probit approximation Δb + Δhᵀμ over √(1 + π/8 · Σ_d Δh_d² σ_d²). With no answers that is the population's
  /// spread of users, not the average user's certainty (VPL was over-confident at 0 shots on UKPConvArg1).
  torch::Tensor logits_for(const core::PairBatch& batch, const core::UserState& state) override;
  /// β·slope(t)·KL of the last training batch's posteriors (with free bits if set): the ELBO's second term.
  torch::Tensor regularizer(const core::PairBatch& batch) override;
  std::pair<int64_t, int64_t> support_range() const override { return {config_.context_min, config_.context_max}; }
  void refresh_seen_users(const core::DatasetView& view) override;
  std::vector<torch::Tensor> seen_user_tensors() override;
  double regularizer_units(const core::PairBatch& batch) const override;  ///< support sets: one per distinct user
  /// Posterior-collapse diagnostics: KL per dimension ("kl/dN") and in total, active units (Var_users E[z_d] > 0.01),
  /// validation accuracy with each user's z and with z = 0.
  std::vector<std::pair<std::string, double>> diagnostics(const core::DatasetView& view) override;
  core::UserState seen_state(int64_t row) const override;
  core::UserState prior_state() const override;
  /// The posterior mean of z.
  core::UserEmbedding user_embedding(const core::UserState& state) const override;
  /// The state of a user from their posterior.
  core::UserState make_user(const std::string& user_id, int64_t shots, const torch::Tensor& mu,
                            const torch::Tensor& logvar) const;

  /// With the bilinear decoder the pool's preparation is each pair's b(a) − b(b) and h(a) − h(b): a user's logits
  /// are then one [C, d_z] product. With the MLP decoder every user needs a full decoder pass.
  std::shared_ptr<const core::PreparedPool> prepare(const core::PairBatch& candidates) override;
  core::LinearizedLogits linearize(const core::UserState& state, const core::PreparedPool& pool) override;
  torch::Tensor sample_logits(const core::UserState& state, const core::PreparedPool& pool, int64_t m,
                              uint64_t seed) override;
  int64_t step() const { return step_; }

 private:
  torch::Tensor latent_of(const torch::Tensor& z) const;            // normalization, when configured
  torch::Tensor decoder_input(const core::ItemBatch& items) const;  // [x; prompt]
  torch::Tensor seen_latents(const torch::Tensor& users) const;     // seen users' μ, 0 for row -1
  torch::Tensor state_mu(const core::UserState& s) const;
  bool prompts() const { return config_.use_prompt && dims_.prompt_dim > 0; }
  Config config_;
  KlAnnealer annealer_;
  core::Mlp pair_{nullptr}, decoder_{nullptr};
  torch::nn::BatchNorm1d set_norm_{nullptr};
  torch::nn::Linear q_{nullptr}, k_{nullptr}, v_{nullptr}, mu_head_{nullptr}, logvar_head_{nullptr};
  torch::Tensor seen_mu_, seen_logvar_;  // buffers [users, d_z]: seen users' encoded states
  torch::Tensor last_kl_;                // [S, d_z] of the last training batch
  int64_t step_ = 0;
};

}  // namespace plural::latent
