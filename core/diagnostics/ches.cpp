#include "core/diagnostics/ches.hpp"

#include <torch/torch.h>

#include <cmath>

#include "core/base/error.hpp"

namespace plural::core {

std::vector<double> pooled_ches(const DatasetView& view) {
  const int64_t n = static_cast<int64_t>(view.data().comparisons.size());
  std::vector<double> out(static_cast<size_t>(n), std::nan(""));
  torch::NoGradGuard ng;
  for (int64_t i = 0; i < n; i += 8192) {
    auto rows = torch::arange(i, std::min(n, i + 8192), torch::kInt64);
    auto b = view.batch(rows);
    auto a_wins = (b.label > 0.5).unsqueeze(1);
    auto pos = torch::where(a_wins, b.a.x, b.b.x).to(torch::kFloat64);
    auto neg = torch::where(a_wins, b.b.x, b.a.x).to(torch::kFloat64);
    auto ches = ((pos * neg).sum(1) - (pos * pos).sum(1)).contiguous();
    auto tie = (b.label == 0.5).contiguous();
    const double* c = ches.data_ptr<double>();
    const bool* t = tie.data_ptr<bool>();
    for (int64_t j = 0; j < ches.size(0); ++j)
      if (!t[j]) out[static_cast<size_t>(i + j)] = c[j];
  }
  return out;
}

double token_ches(const torch::Tensor& pos, const torch::Tensor& neg, bool normalize) {
  PLURAL_CHECK(pos.defined() && pos.dim() == 2 && pos.size(0) > 0, "token_ches: pos must be [tokens ≥ 1, D], got ",
               pos.defined() ? pos.sizes() : torch::IntArrayRef{});
  PLURAL_CHECK(neg.defined() && neg.dim() == 2 && neg.size(0) > 0, "token_ches: neg must be [tokens ≥ 1, D], got ",
               neg.defined() ? neg.sizes() : torch::IntArrayRef{});
  PLURAL_CHECK(pos.size(1) == neg.size(1), "token_ches: pos has width ", pos.size(1), ", neg ", neg.size(1));
  torch::NoGradGuard ng;
  auto sp = pos.to(torch::kFloat64).sum(0), sn = neg.to(torch::kFloat64).sum(0);
  PLURAL_CHECK(torch::isfinite(sp).all().item<bool>() && torch::isfinite(sn).all().item<bool>(),
               "token_ches: hidden states contain NaN or Inf");
  if (normalize) {
    sp = sp / double(pos.size(0));
    sn = sn / double(neg.size(0));
  }
  return (sp.dot(sn) - sp.dot(sp)).item<double>();
}

std::vector<double> token_ches_from_sums(const PreferenceData& data, const torch::Tensor& sums, bool normalize) {
  PLURAL_CHECK(sums.dim() == 2 && sums.size(0) == static_cast<int64_t>(data.texts.size()) && sums.size(1) >= 2,
               data.source, ": token sums must be [", data.texts.size(), " texts, D + 1], got ", sums.sizes());
  torch::NoGradGuard ng;
  const int64_t D = sums.size(1) - 1;
  auto s = sums.to(torch::kFloat64);
  auto S = s.narrow(1, 0, D), count = s.select(1, D);
  if (normalize) S = S / count.clamp_min(1).unsqueeze(1);
  const auto n = data.comparisons.size();
  std::vector<int64_t> pos(n), neg(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& c = data.comparisons[i];
    const bool a_wins = c.label > 0.5f;
    pos[i] = a_wins ? c.a : c.b;
    neg[i] = a_wins ? c.b : c.a;
  }
  auto P = torch::tensor(pos, torch::kInt64), N = torch::tensor(neg, torch::kInt64);
  auto sp = S.index_select(0, P), sn = S.index_select(0, N);
  auto ches = ((sp * sn).sum(1) - (sp * sp).sum(1)).contiguous();
  auto empty = (count.index_select(0, P) < 0.5).logical_or(count.index_select(0, N) < 0.5).contiguous();
  std::vector<double> out(n, std::nan(""));
  const double* c = ches.data_ptr<double>();
  const bool* e = empty.data_ptr<bool>();
  for (size_t i = 0; i < n; ++i)
    if (data.comparisons[i].label != 0.5f && !e[i]) out[i] = c[i];
  return out;
}

}  // namespace plural::core
