#pragma once
// EPIG, the expected predictive information gain (Bickford Smith et al., "Prediction-Oriented Bayesian Active
// Learning", AISTATS 2023): how much a candidate's answer tells about her answers to target pairs, averaged over
// the targets, rather than about her user vector (BALD). Scored as the query scorer "epig" (core/query.cpp).
#include <torch/types.h>

namespace plural::core {

/// EPIG [C] in nats from probabilities [M, C] of the candidates under M posterior draws or hypotheses with weights
/// [M] (summing to 1), the targets being the candidates `targets` [T] (int64 indices):
/// mean over targets t of I(y_c; y_t) = H(y_c) + H(y_t) − H(y_c, y_t), the joint taken over the posterior.
torch::Tensor epig_from_probs(const torch::Tensor& probs, const torch::Tensor& weights, const torch::Tensor& targets);

}  // namespace plural::core
