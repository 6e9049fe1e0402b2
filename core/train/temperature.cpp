#include "core/train/temperature.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/logit_scale.hpp"

namespace plural::core {

namespace {
// The seen users' val logits and labels (users the model does not know are left out).
std::pair<torch::Tensor, torch::Tensor> seen_val_logits(RewardModel& model, DatasetView& view) {
  const auto& data = view.data();
  std::vector<size_t> rows;
  for (size_t i : view.rows(Split::val, true))
    if (model.user_row(data.users[data.comparisons[i].user].id) >= 0) rows.push_back(i);
  if (rows.empty()) return {};
  auto b = view.batch(rows);
  return {model.logits(b).to(torch::kFloat64), b.label.to(torch::kFloat64)};
}

double mean_nll(const torch::Tensor& z, const torch::Tensor& y, double a) {
  return (torch::nn::functional::softplus(a * z) - y * a * z).mean().item<double>();
}

// argmin over a ∈ [1/4, 1] of the NLL of a·z (T = 1/a ∈ [1, 4]): convex in a, so Newton's steps, kept inside the
// interval. Only softening: training fits the scale to the train pairs, so a model errs toward over-confidence,
// and on val pairs it already separates the NLL falls without end as a grows (a Persona-K test fixture went to
// T = 1/4, and its new users' adaptation at 20 answers dropped from 0.984 to 0.946).
double best_factor(const torch::Tensor& z, const torch::Tensor& y) {
  double a = 1;
  for (int it = 0; it < 50; ++it) {
    auto p = torch::sigmoid(a * z);
    const double g = ((p - y) * z).mean().item<double>();
    const double h = (p * (1 - p) * z * z).mean().item<double>();
    if (h <= 1e-12) break;
    const double next = std::clamp(a - g / h, 0.25, 1.0);
    if (std::abs(next - a) < 1e-7) return next;
    a = next;
  }
  return a;
}
}  // namespace

TemperatureFit fit_temperature(RewardModel& model, DatasetView& view) {
  TemperatureFit out;
  auto* scalable = dynamic_cast<LogitScalable*>(&model);
  if (!scalable) return out;
  view.bind(model);
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  auto [z, y] = seen_val_logits(model, view);
  if (z.defined()) {
    const double a = best_factor(z, y);
    out.pairs = z.size(0);
    out.val_nll_before = mean_nll(z, y, 1);
    if (scalable->scale_logits(a)) {
      out.fitted = true;
      out.temperature = 1 / a;
      out.val_nll_after = mean_nll(seen_val_logits(model, view).first, y, 1);  // what the model now gives
      model.forget_model_id();
    }
  }
  model.train(was_training);
  return out;
}

}  // namespace plural::core
