#pragma once
// Bradley–Terry baselines: the population model (one reward for everybody) and per-user BT (a shared MLP
// embedding plus a per-user linear head, adapted to new users by Newton with an empirical-Bayes prior).
#include <string>

#include "core/family.hpp"
#include "core/mlp.hpp"
#include "core/model.hpp"
#include "core/query.hpp"

namespace plural::core {

/// r(x, p) = MLP([x; p]). Family "bt".
class BradleyTerry : public RewardModel {
 public:
  struct Config {
    MlpOptions mlp;
    bool use_prompt = true;  ///< concatenate prompt features when the data has them
  };
  BradleyTerry(const ModelDims& dims, Config config);
  std::string family() const override { return "bt"; }
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
class PerUserBT : public RewardModel, public UserPosterior {
 public:
  struct Config {
    MlpOptions mlp;
    int64_t embed = 64;  ///< E, size of φ
    bool use_prompt = true;
    double user_l2 = 1e-3;  ///< L2 penalty on δ_u per training pair
  };
  PerUserBT(const ModelDims& dims, Config config);
  std::string family() const override { return "per-user-bt"; }
  std::string config_json() const override;
  torch::Tensor reward_seen(const ItemBatch& items, const torch::Tensor& users) override;
  torch::Tensor reward(const ItemBatch& items, const UserState& state) override;
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
