#pragma once
// Rationales as a training-time signal: a comparison may say why its label was given. The rationale loss asks the
// model's item representation to carry that reason — the oriented difference d = s·(h(a) − h(b)) (s = the label's
// direction) must pick out its own rationale among the distinct rationales of the batch (InfoNCE over cosine
// similarities with a learned linear map of the rationale's features). Scoring never reads rationales.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace plural::core {

struct PairBatch;

/// Mean cross-entropy of each usable pair choosing its own rationale among the batch's distinct ones. Usable: a
/// rationale (id >= 0), a strict label and a positive weight; pairs are weighted by `weight`.
/// diff [B, H]: h(a) − h(b); label, weight [B]; ids [B] int64 rationale text indices (-1 = none); embedded [B, H]:
/// the mapped rationale features of each row (rows with equal ids must be equal). Returns 0 (with a graph) when
/// fewer than two distinct rationales are usable: there is nothing to tell apart.
torch::Tensor rationale_nce(const torch::Tensor& diff, const torch::Tensor& label, const torch::Tensor& weight,
                            const torch::Tensor& ids, const torch::Tensor& embedded, double temperature);

/// The learned map from rationale features [.., D] to the model's representation space [.., H]. Lives in the
/// Trainer for the length of a training run; the saved model does not include it.
class RationaleHeadImpl : public torch::nn::Module {
 public:
  RationaleHeadImpl(int64_t rationale_dim, int64_t representation_dim);
  /// rationale_nce of a batch, given the model's representation difference h(a) − h(b); 0 for a batch without
  /// rationales.
  torch::Tensor loss(const torch::Tensor& diff, const PairBatch& batch, double temperature);

 private:
  torch::nn::Linear map_{nullptr};
};
TORCH_MODULE(RationaleHead);

}  // namespace plural::core
