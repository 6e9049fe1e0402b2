#include "core/diagnostics/strength.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/base/error.hpp"
#include "core/train/fit.hpp"
#include "core/train/train_defaults.hpp"

namespace plural::core {

void StrengthConfig::validate() const {
  PLURAL_CHECK(members >= 2, "strength: need at least 2 ensemble members, got ", members);
  PLURAL_CHECK(epochs >= 1, "strength: epochs must be >= 1, got ", epochs);
  require_model_family(family);
}

PairStrength ensemble_strength(DatasetView& view, const StrengthConfig& config) {
  config.validate();
  const auto& data = view.data();
  const size_t n = data.comparisons.size();
  std::vector<size_t> rows;
  for (auto split : {Split::train, Split::val, Split::test})
    for (auto r : view.rows(split, true)) rows.push_back(r);
  std::vector<std::vector<float>> logits;  // [members][rows]
  for (int m = 0; m < config.members; ++m) {
    TrainConfig tc = fit_config(config.family, [&](TrainConfig& t) {
      t.epochs = config.epochs;
      t.patience = 0;
      t.seed = config.seed + static_cast<uint64_t>(m);
      t.progress = false;
    });
    auto model = fit_family(config.family, view, config.config, tc).model;
    torch::NoGradGuard ng;
    model->eval();
    std::vector<float> z(rows.size());
    for (size_t i = 0; i < rows.size(); i += 8192) {
      std::vector<size_t> part(rows.begin() + i, rows.begin() + std::min(rows.size(), i + 8192));
      auto out = model->logits(view.batch(part)).to(torch::kFloat32).contiguous();
      std::copy(out.data_ptr<float>(), out.data_ptr<float>() + out.numel(), z.begin() + i);
    }
    logits.push_back(std::move(z));
  }
  PairStrength s;
  s.mean.assign(n, std::nan(""));
  s.spread.assign(n, std::nan(""));
  s.prob.assign(n, std::nan(""));
  const double M = config.members;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& c = data.comparisons[rows[i]];
    double p = 0;
    for (const auto& z : logits) p += 1 / (1 + std::exp(-double(z[i])));
    s.prob[rows[i]] = p / M;
    if (c.label == 0.5f) continue;
    const double sign = c.label > 0.5f ? 1 : -1;
    double mean = 0, sq = 0;
    for (const auto& z : logits) mean += sign * z[i];
    mean /= M;
    for (const auto& z : logits) sq += (sign * z[i] - mean) * (sign * z[i] - mean);
    s.mean[rows[i]] = mean;
    s.spread[rows[i]] = std::sqrt(sq / M);
  }
  return s;
}

int64_t relabel_with_strength(PreferenceData& data, const PairStrength& strength, const std::string& how,
                              double max_fraction, double margin_scale) {
  const bool flip = how == "flip" || how == "flip+margin", margin = how == "margin" || how == "flip+margin";
  PLURAL_CHECK(flip || margin || how == "soft", "relabel: expected 'flip', 'soft', 'margin' or 'flip+margin', got '",
               how, "'");
  PLURAL_CHECK(strength.mean.size() == data.comparisons.size(), "relabel: the strength has ", strength.mean.size(),
               " rows, the data ", data.comparisons.size());
  PLURAL_CHECK(max_fraction > 0 && max_fraction <= 1, "relabel: max_fraction must be in (0, 1], got ", max_fraction);
  PLURAL_CHECK(std::isfinite(margin_scale), "relabel: margin_scale must be finite, got ", margin_scale);
  std::vector<std::pair<double, size_t>> negative;  // (strength, row), most negative first
  std::vector<size_t> scored;
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    if (data.comparisons[i].split != Split::train || std::isnan(strength.mean[i])) continue;  // ties, unscored
    scored.push_back(i);
    if (strength.mean[i] < 0) negative.push_back({strength.mean[i], i});
  }
  if (margin)
    for (size_t i : scored) data.comparisons[i].margin = static_cast<float>(margin_scale * strength.mean[i]);
  if (how == "margin") return 0;
  std::sort(negative.begin(), negative.end());
  negative.resize(std::min(negative.size(), static_cast<size_t>(std::floor(max_fraction * double(scored.size())))));
  for (const auto& [m, i] : negative) {
    auto& c = data.comparisons[i];
    c.label = flip ? 1.f - c.label : static_cast<float>(strength.prob[i]);
    if (margin) c.margin = -c.margin;  // the strength towards the new label
  }
  return static_cast<int64_t>(negative.size());
}

}  // namespace plural::core
