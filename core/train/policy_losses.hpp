#pragma once
// Preference losses on a policy's sequence log-probabilities, for users who fine-tune an LLM elsewhere: DPO (with
// soft labels: SPCE / conservative DPO), IPO, CPL's biased contrastive loss and DOVE. Inputs are per-pair summed
// log-probs (cached log-ratios); the loss and its gradient with respect to the policy's log-probs come back.
// Formulas: docs/losses.md.
#include <torch/types.h>

#include <functional>
#include <map>
#include <string>

namespace plural::core {

/// One row per pair. `ref_*` undefined = 0 (reference-free); `label` = P(chosen ≻ rejected), undefined = 1;
/// `weight` undefined = 1. All [B], float64 or float32.
struct PolicyLogProbs {
  torch::Tensor chosen, rejected;          ///< log π(y⁺|x⁺), log π(y⁻|x⁻) (DOVE: each with its own prompt)
  torch::Tensor ref_chosen, ref_rejected;  ///< the reference policy's, when the loss uses one
  torch::Tensor label, weight;
  /// Throws ValueError naming the field: shapes differ, non-finite values, labels outside [0, 1], weights < 0.
  void validate() const;
};

struct PolicyLossOptions {
  double beta = 0.1;    ///< DPO/DOVE temperature on the log-ratio margin
  double tau = 0.1;     ///< IPO regularisation: the margin's target is (label − ½)/τ
  double alpha = 0.1;   ///< CPL temperature on log π
  double lambda = 0.5;  ///< CPL's conservative bias on the rejected side, 0 < λ ≤ 1
  void validate() const;
};

using PolicyLossFn = std::function<torch::Tensor(const PolicyLogProbs&, const PolicyLossOptions&)>;

bool register_policy_loss(const std::string& name, PolicyLossFn fn, const std::string& help);
/// Throws ValueError listing the known names when `name` is unknown.
const PolicyLossFn& get_policy_loss(const std::string& name);
std::map<std::string, std::string> policy_loss_names();

struct PolicyLossResult {
  double loss = 0;                           ///< the weighted mean over pairs
  torch::Tensor grad_chosen, grad_rejected;  ///< d loss / d log π(y⁺), d log π(y⁻), [B] float64
};
/// Validates, then evaluates `name` in float64 and differentiates it with respect to the policy's log-probs.
PolicyLossResult policy_loss(const std::string& name, const PolicyLogProbs& batch, const PolicyLossOptions& options);

/// Soft labels P(a ≻ b) = σ((score_a − score_b) / temperature) from externally computed scores (e.g. follow-up
/// likelihoods or judge scores), for the soft-bce reward loss or soft-label DPO.
torch::Tensor soft_labels_from_scores(const torch::Tensor& score_a, const torch::Tensor& score_b,
                                      double temperature = 1.0);

}  // namespace plural::core
