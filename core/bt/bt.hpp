#pragma once
// Bradley–Terry baselines: the population model (one reward for everybody) and per-user BT (a shared MLP
// embedding plus a per-user linear head, adapted to new users by Newton with an empirical-Bayes prior).
#include <string>

#include "core/family.hpp"
#include "core/logit_scale.hpp"
#include "core/mlp.hpp"
#include "core/model.hpp"
#include "core/query.hpp"
#include "core/tunable_prior.hpp"

namespace plural::core {

/// r(x, p) = MLP([x; p]). Family "bt".
class BradleyTerry : public RewardModel, public LogitScalable {
 public:
  struct Config {
    MlpOptions mlp;
    bool use_prompt = true;  ///< concatenate prompt features when the data has them
  };
  BradleyTerry(const ModelDims& dims, Config config);
  std::string family() const override { return "bt"; }
  bool scale_logits(double factor) override;
  std::string config_json() const override;
  torch::Tensor reward_seen(const ItemBatch& items, const torch::Tensor& users) override;
  torch::Tensor reward(const ItemBatch& items, const UserState& state) override;
  torch::Tensor forward(const ItemBatch& items);
  /// The MLP's last hidden layer (the input itself when it has none).
  torch::Tensor item_representation(const ItemBatch& items) override;

 private:
  Config config_;
  Mlp mlp_{nullptr};
};

/// r_u(x, p) = (w0 + δ_u) · φ(x, p) with φ a shared MLP. Family "per-user-bt".
/// UserState tensors: "w" [E] (the user's head), "cov" [E, E] (Laplace covariance of w, adapted users).
class PerUserBT : public RewardModel, public UserPosterior, public TunablePrior, public LogitScalable {
 public:
  struct Config {
    MlpOptions mlp;
    int64_t embed = 64;  ///< E, size of φ
    bool use_prompt = true;
    double user_l2 = 1e-3;  ///< L2 penalty on δ_u per training pair
    /// > 0 with prior_mean and prior_diag: a new user's head prior is N(prior_mean, prior_var · diag(prior_diag)),
    /// the seen heads' moments when training ended, scaled on validation (prior tuning); 0: the seen heads' current
    /// moments, unscaled (models saved before the tuning).
    double prior_var = 0;
    std::vector<double> prior_mean, prior_diag;
  };
  PerUserBT(const ModelDims& dims, Config config);
  std::string family() const override { return "per-user-bt"; }
  bool scale_logits(double factor) override;
  std::string config_json() const override;
  torch::Tensor reward_seen(const ItemBatch& items, const torch::Tensor& users) override;
  torch::Tensor reward(const ItemBatch& items, const UserState& state) override;
  /// For a state with a posterior ("cov"), the posterior predictive: MacKay's probit approximation
  /// wᵀd / √(1 + π/8 · dᵀ cov d), d = φ(a) − φ(b). A user known from one answer is not as sure as her mean head.
  torch::Tensor logits_for(const PairBatch& batch, const UserState& state) override;
  torch::Tensor regularizer(const PairBatch& batch) override;
  std::map<std::string, std::vector<torch::Tensor>> param_groups() override;
  UserState seen_state(int64_t row) const override;
  UserState prior_state() const override;
  /// The personal head w.
  UserEmbedding user_embedding(const UserState& state) const override;

  /// φ(x, p): [B, E].
  torch::Tensor embed(const ItemBatch& items);
  torch::Tensor item_representation(const ItemBatch& items) override { return embed(items); }
  /// Empirical-Bayes prior over user heads from the seen users: mean [E] and per-dimension variance [E].
  std::pair<torch::Tensor, torch::Tensor> head_prior() const;
  /// Fixes the seen heads' mean and per-dimension variances (floored at 1e-4 of the head's energy per dimension)
  /// as the prior's shape.
  void begin_tuning() override;
  /// Scales of that shape from 1/64 to 256.
  std::vector<double> prior_grid() const override;
  double prior_variance() const override { return config_.prior_var; }
  void set_prior_variance(double v) override { config_.prior_var = v; }
  /// δ_row = the adapted head − w0.
  void set_seen_state(int64_t row, const UserState& adapted) override;
  const Config& config() const { return config_; }

  /// The logit wᵀ(φ(a) − φ(b)) is linear in the head w: a pool's preparation is φ(a) − φ(b), and the Laplace
  /// posterior N(w, cov) of the Newton adapter (or the prior) gives the query scorers' Gaussian (core/query.hpp).
  std::shared_ptr<const PreparedPool> prepare(const PairBatch& candidates) override;
  LinearizedLogits linearize(const UserState& state, const PreparedPool& pool) override;
  torch::Tensor sample_logits(const UserState& state, const PreparedPool& pool, int64_t m, uint64_t seed) override;

 private:
  Config config_;
  Mlp mlp_{nullptr};
  torch::Tensor w0_, delta_;
};

/// The families' records (core/family.hpp) and their adapters (bt_adapters.cpp).
FamilyRecord bt_family();
FamilyRecord per_user_bt_family();
/// Both BT families (core/session registers each family folder's list).
std::vector<FamilyRecord> bt_families();
std::vector<AdapterRecord> bt_adapters();
std::vector<AdapterRecord> per_user_bt_adapters();

}  // namespace plural::core
