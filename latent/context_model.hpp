#pragma once
// Context-conditioned reward models (after Pitis et al. 2024's context-aware RM, on frozen features): the reward of
// an item depends on an explicit context c — a criterion, a scenario, a description of a person — embedded by the
// same encoder and cache as the items. Family "context". It is a population model: users enter through the contexts
// of their comparisons, and a comparison without a context uses a learned null context. A user whose context is not
// given is a posterior over the contexts seen in training, weighted by the likelihood of their answers (adapter
// "context-posterior"); UserState tensors "contexts" [H, Dc] and "weights" [H]. For items without a context of their
// own, its reward is the posterior mean Σ_h w_h r(x, c_h) and its preference the marginal Σ_h w_h σ(r(a, c_h) −
// r(b, c_h)); query scorers ask the pairs on which the plausible contexts disagree (uniform before any answer).
#include <string>

#include "core/mlp.hpp"
#include "core/model.hpp"
#include "core/query.hpp"

namespace plural::latent {

class ContextConditioned : public core::RewardModel, public core::HypothesisPosterior {
 public:
  struct Config {
    /// "film": an MLP over [x; prompt] whose hidden layers are scaled and shifted by linear maps of c (FiLM);
    /// "concat": one MLP over [x; prompt; c].
    std::string conditioning = "film";
    core::MlpOptions mlp;
    bool use_prompt = true;
    /// Share of training pairs whose context is replaced by the null context (the CARM recipe, so the model
    /// stays a good context-free reward model).
    double null_fraction = 0.2;
    void validate() const;
  };
  ContextConditioned(const core::ModelDims& dims, Config config);
  std::string family() const override { return "context"; }
  std::string config_json() const override;
  const Config& config() const { return config_; }

  /// Rewards [B] under each item's context (the null context where it has none).
  torch::Tensor forward(const core::ItemBatch& items);
  /// Rewards [B] of items under contexts [B, Dc] (or one [Dc] for all); undefined = the null context.
  torch::Tensor reward_under(const core::ItemBatch& items, const torch::Tensor& contexts);
  torch::Tensor reward_seen(const core::ItemBatch& items, const torch::Tensor& users) override;
  torch::Tensor reward(const core::ItemBatch& items, const core::UserState& state) override;
  /// In training, a pair's context is dropped (both sides alike) with probability null_fraction.
  torch::Tensor logits(const core::PairBatch& batch) override;
  torch::Tensor logits_for(const core::PairBatch& batch, const core::UserState& state) override;
  const torch::Tensor& null_context() const { return null_; }

  /// The distinct contexts of the training comparisons (the most frequent kMaxKnown), [H, Dc]; filled after training.
  const torch::Tensor& known_contexts() const { return known_; }
  void refresh_seen_users(const core::DatasetView& view) override;
  /// The posterior over the known contexts given a user's comparisons (uniform prior; empty shots → the prior).
  core::UserState context_posterior(const core::PairBatch& shots, const std::string& user_id);
  static constexpr int64_t kMaxKnown = 256;

  std::shared_ptr<const core::PreparedPool> prepare_hypotheses(const core::PairBatch& candidates) override;
  core::WeightedHypotheses hypotheses(const core::UserState& state, const core::PreparedPool& pool) override;

 private:
  torch::Tensor base_input(const core::ItemBatch& items) const;
  torch::Tensor has_own_context(const core::ItemBatch& items) const;  // [B] bool
  /// The items' contexts, with the null context where has_context is false or `drop` is true.
  torch::Tensor contexts_of(const core::ItemBatch& items, const torch::Tensor& drop) const;
  torch::Tensor run(const torch::Tensor& base, const torch::Tensor& context);
  /// Logits [H, B] of pairs under each context [H, Dc].
  torch::Tensor logits_under(const torch::Tensor& base_a, const torch::Tensor& base_b, const torch::Tensor& contexts);
  /// A state's contexts and weights (checked), or undefined tensors for a state without them.
  std::pair<torch::Tensor, torch::Tensor> state_posterior(const core::UserState& state) const;
  Config config_;
  torch::Tensor null_;                 // [Dc] the learned "no context given"
  torch::Tensor known_;                // buffer [H, Dc]: the training contexts
  core::Mlp concat_{nullptr};          // concat
  torch::nn::ModuleList film_layers_;  // film: Linear per hidden layer, then the output Linear
  torch::nn::ModuleList film_maps_;    // film: c -> (γ, β) per hidden layer
};

/// Σ_c p(c) σ(r(a, c) − r(b, c)) for each pair: the preference of a population whose members hold context c with
/// probability p(c). contexts [C, Dc], probs [C] (non-negative, summing to 1); result [B].
torch::Tensor marginal_preference(ContextConditioned& model, const core::PairBatch& pairs,
                                  const torch::Tensor& contexts, const torch::Tensor& probs);
/// The same for any model, in eval mode without grad: a ValueError unless it is a context model.
torch::Tensor marginal_preference(core::RewardModel& model, const core::PairBatch& pairs, const torch::Tensor& contexts,
                                  const torch::Tensor& probs);

}  // namespace plural::latent
