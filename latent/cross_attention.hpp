#pragma once
// PPD-style user conditioning (Dang et al. 2025, moved from diffusion models to reward models on frozen features):
// each of a user's answered pairs becomes a token, the scored item attends to the user's tokens, and
//   r_u(x) = w0ᵀh(x) + λ · g([h; a; h ⊙ a]),   a = attention of h(x) over the user's tokens.
// λ = 0 (or no pairs) is the population model. Trained episodically; adapting a new user is one forward pass.
// Family "cross-attn". UserState tensors: "memory" [N, m] (the user's tokens), "lambda" [] (strength), and for an
// interpolated user "memory2" [N2, m] and "alpha" [] (a = α·a(memory) + (1 − α)·a(memory2)). An adapted user also
// keeps the item projections of their answered pairs ("shot_chosen", "shot_rejected" [N, m]): query scorers weigh
// the seen users as hypotheses about the new one by the likelihood of those answers, and ask the pairs on which the
// plausible seen users disagree.
#include <string>
#include <utility>

#include "core/mlp.hpp"
#include "core/model.hpp"
#include "core/query.hpp"
#include "core/support.hpp"

namespace plural::latent {

class UserCrossAttention : public core::RewardModel, public core::HypothesisPosterior {
 public:
  struct Config {
    int64_t token = 64;           ///< m: width of pair tokens and attention
    int64_t hidden = 256;         ///< MLP width
    int64_t self_attention = 1;   ///< self-attention layers over a user's tokens (0 or more)
    double branch_dropout = 0.1;  ///< training: the personal term is dropped for this share of target pairs
    int64_t context_min = 1, context_max = 32;  ///< support pairs per training episode, drawn uniformly
    int64_t seen_context = 64;                  ///< train pairs kept as a seen user's tokens
    bool use_prompt = true;
    double dropout = 0.0;
    void validate() const;
  };
  UserCrossAttention(const core::ModelDims& dims, Config config);
  std::string family() const override { return "cross-attn"; }
  std::string config_json() const override;
  const Config& config() const { return config_; }

  /// The user tokens of each support set: [S, N, m] (masked where the set is padded).
  torch::Tensor encode(const core::SupportSet& set);
  /// Rewards [B] of items for every user of a set: population term plus λ · personal term, item b attending over
  /// memory[index[b]] ([S, N, m], mask [S, N]); `valid` [B] false drops the personal term (a user without tokens).
  torch::Tensor score(const core::ItemBatch& items, const torch::Tensor& memory, const torch::Tensor& mask,
                      const torch::Tensor& index, const torch::Tensor& valid, double lambda = 1.0);

  torch::Tensor reward_seen(const core::ItemBatch& items, const torch::Tensor& users) override;
  torch::Tensor reward(const core::ItemBatch& items, const core::UserState& state) override;
  torch::Tensor logits(const core::PairBatch& batch) override;
  std::pair<int64_t, int64_t> support_range() const override { return {config_.context_min, config_.context_max}; }
  void refresh_seen_users(const core::DatasetView& view) override;
  std::vector<torch::Tensor> seen_user_tensors() override;
  core::UserState seen_state(int64_t row) const override;
  core::UserState prior_state() const override;
  /// A user's state from their tokens [N, m].
  core::UserState make_user(const std::string& user_id, int64_t shots, const torch::Tensor& memory) const;
  /// A new user's state from their support set (one set): tokens plus the projections of their answered pairs.
  core::UserState adapt_from(const core::SupportSet& set, const core::UserState& fresh);

  /// The query posterior: up to kHypotheses seen users, the most likely given the user's answers.
  static constexpr int64_t kHypotheses = 64;
  std::shared_ptr<const core::PreparedPool> prepare_hypotheses(const core::PairBatch& candidates) override;
  core::WeightedHypotheses hypotheses(const core::UserState& state, const core::PreparedPool& pool) override;

 private:
  torch::Tensor input(const core::ItemBatch& items) const;  // [x; prompt]
  /// Attention outputs [B, m] of h [B, m] over memory [S, N, m] rows index [B]; rows with an empty set get 0.
  torch::Tensor attend(const torch::Tensor& h, const torch::Tensor& memory, const torch::Tensor& mask,
                       const torch::Tensor& index);
  torch::Tensor personal(const torch::Tensor& h, const torch::Tensor& a);
  /// Personal terms [U, B] of item projections h [B, m] for each of U seen users (model rows `users`).
  torch::Tensor personal_of_seen(const torch::Tensor& h, const torch::Tensor& users);
  /// Logits [H, C] of candidate pairs (projections ha, hb [C, m]) under seen users `users` [H].
  torch::Tensor candidate_logits(const torch::Tensor& ha, const torch::Tensor& hb, const torch::Tensor& users,
                                 double lambda);
  torch::Tensor state_memory(const core::UserState& s, const char* name) const;  // checked [N, m]
  bool prompts() const { return config_.use_prompt && dims_.prompt_dim > 0; }
  Config config_;
  core::Mlp pair_{nullptr}, item_{nullptr}, personal_{nullptr};
  torch::nn::ModuleList self_q_, self_k_, self_v_;
  torch::nn::Linear w0_{nullptr}, q_{nullptr}, k_{nullptr}, v_{nullptr};
  torch::Tensor seen_memory_, seen_mask_;  // buffers [users, seen_context, m], [users, seen_context]
};

/// A copy of `state` whose personal term is scaled by λ ∈ [0, 1] (0 = the population model).
core::UserState with_strength(const core::UserState& state, double lambda);
/// The user between two others: attention outputs mixed α·a(u1) + (1 − α)·a(u2), α ∈ [0, 1]. Both states must come
/// from the same cross-attn model; the result scores with u1's λ.
core::UserState interpolate_users(const core::UserState& u1, const core::UserState& u2, double alpha);

}  // namespace plural::latent
