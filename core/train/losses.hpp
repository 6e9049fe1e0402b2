#pragma once
// Pairwise preference losses, registered by name. All take logits [B] (log-odds that a ≻ b), soft labels
// P(a ≻ b) [B] and weights [B], and return the weighted mean. "Hard" losses use the sign of label - 0.5 and give
// ties (label = 0.5) weight 0; soft-bce uses the label as a probability.
#include <torch/types.h>

#include <functional>
#include <map>
#include <string>

namespace plural::core {

struct LossOptions {
  double margin = 0.0;        ///< "margin": -log σ(s·logit - margin)
  double smoothing = 0.1;     ///< "label-smoothing": target 1-ε for the preferred item
  double hinge_margin = 1.0;  ///< "hinge": max(0, hinge_margin - s·logit)
  double ipo_tau = 0.1;       ///< "ipo": (logit − (label − ½)/τ)²
  void validate() const;
};

using LossFn = std::function<torch::Tensor(const torch::Tensor& logits, const torch::Tensor& label,
                                           const torch::Tensor& weight, const LossOptions& options)>;

/// `hard`: the loss averages over strict pairs only (ties weigh 0), as the sign-based losses do.
bool register_loss(const std::string& name, LossFn fn, const std::string& help, bool hard = true);
/// The per-pair weights the named loss averages with: `weight`, times 0 for ties when the loss is hard. A
/// data-parallel run sums these over ranks to weigh each rank's mean loss.
torch::Tensor loss_weights(const std::string& name, const torch::Tensor& label, const torch::Tensor& weight);
/// Throws ValueError listing the known names when `name` is unknown.
const LossFn& get_loss(const std::string& name);
std::map<std::string, std::string> loss_names();

}  // namespace plural::core
