#include "core/ches.hpp"

#include <torch/torch.h>

#include <cmath>

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

}  // namespace plural::core
