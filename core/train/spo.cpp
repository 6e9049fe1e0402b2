#include "core/train/spo.hpp"

#include <torch/torch.h>

#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "core/model.hpp"

namespace plural::core {

torch::Tensor spo_degree_loss(const torch::Tensor& logits, const torch::Tensor& degree,
                              const torch::Tensor& from_rejected, const torch::Tensor& weight) {
  PLURAL_CHECK(logits.dim() == 2 && logits.size(1) >= 2 && logits.size(1) % 2 == 0,
               "spo_degree_loss: logits must be [N, 2K], got ", logits.sizes());
  const int64_t n = logits.size(0), K = logits.size(1) / 2;
  PLURAL_CHECK(degree.dim() == 1 && degree.size(0) == n && from_rejected.dim() == 1 && from_rejected.size(0) == n &&
                   (!weight.defined() || (weight.dim() == 1 && weight.size(0) == n)),
               "spo_degree_loss: degree, from_rejected and weight must be [", n, "]");
  if (n == 0) return logits.sum() * 0;
  auto d = degree.to(torch::kInt64);
  PLURAL_CHECK(d.min().item<int64_t>() >= 0 && d.max().item<int64_t>() < K, "spo_degree_loss: degrees must be in [0, ",
               K, ")");
  auto side = from_rejected.to(torch::kInt64);
  PLURAL_CHECK(side.min().item<int64_t>() >= 0 && side.max().item<int64_t>() <= 1,
               "spo_degree_loss: from_rejected must be boolean (0 or 1)");
  auto target = d + side * K;
  namespace F = torch::nn::functional;
  auto ce = F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  if (!weight.defined()) return ce.mean();
  auto w = weight.to(ce.dtype());
  PLURAL_CHECK((w >= 0).all().item<bool>(), "spo_degree_loss: weights must be >= 0");
  return (ce * w).sum() / w.sum().clamp_min(1e-12);
}

DegreeSamples degree_samples(const DatasetView& view, const torch::Tensor& rows, const GradedVariants& variants) {
  std::vector<int64_t> text, prompt, degree, rejected;
  std::vector<float> weight;
  const auto& data = view.data();
  auto r = rows.to(torch::kInt64).contiguous();
  const auto* p = r.data_ptr<int64_t>();
  for (int64_t i = 0; i < r.numel(); ++i) {
    const auto& c = data.comparisons[static_cast<size_t>(p[i])];
    if (c.label == 0.5f || c.weight <= 0) continue;
    const bool a_chosen = c.label > 0.5f;
    const int32_t sides[2] = {a_chosen ? c.a : c.b, a_chosen ? c.b : c.a};
    const int32_t prompts[2] = {a_chosen ? c.prompt_a : c.prompt_b, a_chosen ? c.prompt_b : c.prompt_a};
    if (!variants.of.count(sides[0]) && !variants.of.count(sides[1])) continue;
    for (int s = 0; s < 2; ++s) {
      auto add = [&](int32_t t, int32_t k) {
        text.push_back(t), prompt.push_back(prompts[s]), degree.push_back(k), rejected.push_back(s == 1);
        weight.push_back(c.weight);
      };
      add(sides[s], 0);
      auto it = variants.of.find(sides[s]);
      if (it != variants.of.end())
        for (const auto& [k, v] : it->second) add(v, k);
    }
  }
  DegreeSamples out;
  if (text.empty()) return out;
  out.text = torch::tensor(text, torch::kInt64);
  out.prompt = torch::tensor(prompt, torch::kInt64);
  out.degree = torch::tensor(degree, torch::kInt64);
  out.from_rejected = torch::tensor(rejected, torch::kInt64).to(torch::kBool);
  out.weight = torch::tensor(weight, torch::kFloat32);
  return out;
}

DegreeHeadImpl::DegreeHeadImpl(int64_t representation_dim, int64_t levels)
    : levels_(levels), classify_(register_module("classify", torch::nn::Linear(representation_dim, 2 * levels))) {}

torch::Tensor DegreeHeadImpl::loss(RewardModel& model, const DatasetView& view, const torch::Tensor& rows) {
  PLURAL_CHECK(view.graded_variants(), view.data().source, ": the SPO degree loss needs graded variants");
  auto s = degree_samples(view, rows, *view.graded_variants());
  if (s.size() == 0) return classify_->weight.sum() * 0;
  auto h = model.item_representation(view.items(s.text, s.prompt));
  return spo_degree_loss(classify_->forward(h), s.degree, s.from_rejected, s.weight);
}

}  // namespace plural::core
