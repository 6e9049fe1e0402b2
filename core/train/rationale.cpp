#include "core/train/rationale.hpp"

#include <torch/torch.h>

#include "core/base/error.hpp"
#include "core/model.hpp"

namespace plural::core {

torch::Tensor rationale_nce(const torch::Tensor& diff, const torch::Tensor& label, const torch::Tensor& weight,
                            const torch::Tensor& ids, const torch::Tensor& embedded, double temperature) {
  PLURAL_CHECK(temperature > 0, "rationale loss: temperature must be > 0, got ", temperature);
  PLURAL_CHECK(diff.dim() == 2 && embedded.sizes() == diff.sizes() && label.size(0) == diff.size(0) &&
                   weight.size(0) == diff.size(0) && ids.size(0) == diff.size(0),
               "rationale loss: expected diff and embedded [B, H] and label, weight, ids [B], got ", diff.sizes(), ", ",
               embedded.sizes(), ", ", label.sizes(), ", ", weight.sizes(), ", ", ids.sizes());
  auto usable = (ids >= 0).logical_and(label != 0.5).logical_and(weight > 0);
  auto rows = usable.nonzero().squeeze(1);
  auto zero = (diff.sum() + embedded.sum()) * 0;  // keeps the graph (and a data-parallel step's gradients) defined
  if (rows.size(0) < 2) return zero;
  auto row_ids = ids.index_select(0, rows);
  auto [distinct, which, counts] = torch::_unique2(row_ids, /*sorted=*/true, /*return_inverse=*/true);
  if (distinct.size(0) < 2) return zero;
  // One representative row per distinct rationale (equal ids carry equal embeddings).
  auto first = torch::zeros({distinct.size(0)}, torch::kInt64).scatter_(0, which, torch::arange(rows.size(0)));
  auto q = embedded.index_select(0, rows.index_select(0, first));
  auto direction = (label.index_select(0, rows) > 0.5).to(diff.dtype()) * 2 - 1;
  auto d = diff.index_select(0, rows) * direction.unsqueeze(1);
  namespace F = torch::nn::functional;
  auto cos = torch::matmul(F::normalize(d, F::NormalizeFuncOptions().dim(1).eps(1e-8)),
                           F::normalize(q, F::NormalizeFuncOptions().dim(1).eps(1e-8)).t());
  auto ce = F::cross_entropy(cos / temperature, which, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  auto w = weight.index_select(0, rows).to(ce.dtype());
  return (ce * w).sum() / w.sum();
}

RationaleHeadImpl::RationaleHeadImpl(int64_t rationale_dim, int64_t representation_dim)
    : map_(register_module("map", torch::nn::Linear(rationale_dim, representation_dim))) {}

torch::Tensor RationaleHeadImpl::loss(const torch::Tensor& diff, const PairBatch& batch, double temperature) {
  // A data-parallel rank whose shard has no rationales still takes part in the step (with zero gradients).
  if (!batch.rationale.defined()) return (diff.sum() + map_->weight.sum()) * 0;
  return rationale_nce(diff, batch.label, batch.weight, batch.rationale_id, map_->forward(batch.rationale),
                       temperature);
}

}  // namespace plural::core
