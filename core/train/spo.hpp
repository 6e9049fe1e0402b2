#pragma once
// SPO's self-supervised preference-degree loss (Li et al., EMNLP Findings 2024), at the feature level: graded
// variants of a pair's two responses (core/data/graded_variants.hpp) go through the model's item representation, and a
// linear classifier must tell their degree k and side: class k for the chosen response's variants, K + k for the
// rejected one's. L = L_pref + λ·L_degree (`TrainConfig.spo_weight`). The head lives only in the trainer.
// Caveat for pluralistic data: "chosen" is per user, so the side half of the classes is as consistent as the users.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/data/graded_variants.hpp"

namespace plural::core {

class DatasetView;
class RewardModel;

/// Weighted mean cross-entropy of logits [N, 2K] with class degree + K·from_rejected. degree [N] int64 in [0, K),
/// from_rejected [N] bool, weight [N] (undefined: 1). Throws ValueError on a bad shape or class.
torch::Tensor spo_degree_loss(const torch::Tensor& logits, const torch::Tensor& degree,
                              const torch::Tensor& from_rejected, const torch::Tensor& weight = {});

/// What the degree loss sees of a batch of comparison rows: every strict, weighted pair with variants on either side
/// gives both responses at every degree they have (degree 0 = the response itself).
struct DegreeSamples {
  torch::Tensor text;           ///< [M] int64 text indices
  torch::Tensor prompt;         ///< [M] int64 text index of the response's prompt (-1 = none)
  torch::Tensor degree;         ///< [M] int64
  torch::Tensor from_rejected;  ///< [M] bool
  torch::Tensor weight;         ///< [M] the pair's weight
  int64_t size() const { return text.defined() ? text.size(0) : 0; }
};
DegreeSamples degree_samples(const DatasetView& view, const torch::Tensor& rows, const GradedVariants& variants);

/// The trainer's classifier from the model's item representation [.., H] to 2K classes.
class DegreeHeadImpl : public torch::nn::Module {
 public:
  DegreeHeadImpl(int64_t representation_dim, int64_t levels);
  /// spo_degree_loss of `rows`' samples (from the view's graded variants) through `model`'s item representation;
  /// 0 (with a graph) when none.
  torch::Tensor loss(RewardModel& model, const DatasetView& view, const torch::Tensor& rows);

 private:
  int64_t levels_;
  torch::nn::Linear classify_{nullptr};
};
TORCH_MODULE(DegreeHead);

}  // namespace plural::core
