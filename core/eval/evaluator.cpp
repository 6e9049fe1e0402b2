#include "core/eval/evaluator.hpp"

#include <torch/torch.h>

#include <map>

#include "core/base/error.hpp"
#include "core/base/hash.hpp"
#include "core/base/random.hpp"

namespace plural::core {

void EvalConfig::validate() const {
  for (auto k : shots) PLURAL_CHECK(k >= 0, "eval: shots must be >= 0, got ", k);
  PLURAL_CHECK(bootstrap >= 1, "eval: bootstrap must be >= 1");
}

PairMetrics pair_metrics(const torch::Tensor& logits, const torch::Tensor& labels) {
  PairMetrics m;
  m.pairs = logits.size(0);
  if (m.pairs == 0) return m;
  auto z = logits.to(torch::kFloat64), y = labels.to(torch::kFloat64);
  auto strict = y != 0.5;
  m.strict = strict.sum().item<int64_t>();
  double correct = ((z > 0) == (y > 0.5)).logical_and(strict).sum().item<double>();
  m.accuracy = m.strict > 0 ? correct / m.strict : std::nan("");
  std::tie(m.acc_lo, m.acc_hi) = wilson_interval(correct, static_cast<double>(m.strict));
  auto nll = torch::nn::functional::softplus(z) - y * z;
  m.nll = nll.mean().item<double>();
  const double n = static_cast<double>(m.pairs);
  double half = m.pairs > 1 ? student_t_two_sided(0.95, n - 1) * nll.std().item<double>() / std::sqrt(n) : 0.0;
  m.nll_lo = m.nll - half;
  m.nll_hi = m.nll + half;
  auto p = torch::sigmoid(z);
  m.brier = (p - y).pow(2).mean().item<double>();
  m.ece = expected_calibration_error(p, y);
  return m;
}

double expected_calibration_error(const torch::Tensor& p, const torch::Tensor& y, int64_t bins) {
  const int64_t n = p.size(0);
  if (n == 0) return std::nan("");
  auto bin = (p.to(torch::kFloat64) * static_cast<double>(bins)).floor().clamp(0, bins - 1).to(torch::kInt64);
  auto count = torch::zeros({bins}, torch::kFloat64).index_add_(0, bin, torch::ones({n}, torch::kFloat64));
  auto sum_p = torch::zeros({bins}, torch::kFloat64).index_add_(0, bin, p.to(torch::kFloat64));
  auto sum_y = torch::zeros({bins}, torch::kFloat64).index_add_(0, bin, y.to(torch::kFloat64));
  return ((sum_p - sum_y).abs().sum() / static_cast<double>(n)).item<double>();
}

torch::Tensor score_pairs(RewardModel& model, const PairBatch& batch, const UserState* state) {
  torch::NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  auto z = state ? model.logits_for(batch, *state) : model.logits(batch);
  model.train(was_training);
  return z;
}

namespace {
struct Accumulator {
  std::vector<torch::Tensor> logits, labels;
  std::vector<double> user_acc;
  void add(const torch::Tensor& z, const torch::Tensor& y) {
    logits.push_back(z);
    labels.push_back(y);
    auto strict = y != 0.5;
    int64_t n = strict.sum().item<int64_t>();
    if (n > 0) user_acc.push_back(((z > 0) == (y > 0.5)).logical_and(strict).sum().item<double>() / n);
  }
  GridCell cell(const std::string& users, int64_t shots, const EvalConfig& cfg) const {
    GridCell c;
    c.users = users;
    c.shots = shots;
    c.pairs = pair_metrics(torch::cat(logits), torch::cat(labels));
    c.per_user = bootstrap_mean(user_acc, cfg.bootstrap, cfg.seed);
    return c;
  }
};
}  // namespace

std::vector<GridCell> evaluate_grid(RewardModel& model, DatasetView& view, const EvalConfig& cfg) {
  cfg.validate();
  view.bind(model);
  const auto& data = view.data();
  std::map<int32_t, std::vector<size_t>> seen_test, unseen_test, unseen_support;
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    const auto& c = data.comparisons[i];
    bool known = model.user_row(data.users[c.user].id) >= 0;
    if (c.split == cfg.split) (known ? seen_test : unseen_test)[c.user].push_back(i);
    if (!known && c.split == Split::support) unseen_support[c.user].push_back(i);
  }
  std::vector<GridCell> out;
  if (!seen_test.empty()) {
    Accumulator acc;
    for (const auto& [u, rows] : seen_test) {
      auto b = view.batch(rows);
      acc.add(score_pairs(model, b, nullptr), b.label);
    }
    out.push_back(acc.cell("seen", -1, cfg));
  }
  if (!unseen_test.empty()) {
    auto adapter = make_adapter(model.family(), cfg.adapter, cfg.adapter_options);
    // Each user's support pairs in one seeded order, so k shots are a prefix of k+1 shots.
    std::map<int32_t, std::vector<size_t>> order;
    for (const auto& [u, rows] : unseen_test) {
      auto sup = unseen_support[u];
      Rng rng(cfg.seed ^ hash64(data.users[u].id));
      rng.shuffle(sup);
      order[u] = sup;
    }
    for (int64_t k : cfg.shots) {
      Accumulator acc;
      for (const auto& [u, rows] : unseen_test) {
        const auto& sup = order[u];
        std::vector<size_t> shots(sup.begin(), sup.begin() + std::min<size_t>(sup.size(), static_cast<size_t>(k)));
        PairBatch shot_batch = shots.empty() ? PairBatch{} : view.batch(shots);
        UserState st = adapter->adapt(model, shot_batch, data.users[u].id);
        auto b = view.batch(rows);
        acc.add(score_pairs(model, b, &st), b.label);
      }
      out.push_back(acc.cell("unseen", k, cfg));
    }
  }
  return out;
}

}  // namespace plural::core
