#include "core/query_batch.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/base/error.hpp"

namespace plural::core {

namespace {
constexpr int64_t kHistories = 8;  // the likeliest answer histories kept while branching on each pick's answer

// Takes the best candidate not taken yet; false when none is left or its gain is below min_gain.
bool pick(torch::Tensor scores, torch::Tensor& taken, double min_gain, BatchChoice& out) {
  scores = scores.to(torch::kFloat64).masked_fill(taken | scores.isnan(), -std::numeric_limits<double>::infinity());
  const int64_t i = scores.argmax().item<int64_t>();
  const double g = scores[i].item<double>();
  if (taken[i].item<bool>() || !(g >= min_gain)) return false;
  taken[i] = true;
  out.order.push_back(i);
  out.gain.push_back(g);
  return true;
}

// A Gaussian posterior after the picks so far, given one history of answers to them: the candidates' logits at its
// mean and its covariance (the linearization's gradient does not change).
struct GaussianBranch {
  torch::Tensor mean;  // [C]
  torch::Tensor cov;   // [P, P]
  double mass;         // P(this history)
};

// Both answers to candidate i, each by assumed-density filtering with the probit approximation σ(f) ≈ Φ(λf),
// λ² = π/8: f = gᵀu ~ N(m, v), z = y λm / √(1 + λ²v), ρ = φ(z)/Φ(z); the mean of u moves by Σg · yλρ/√(1 + λ²v) and
// Σ loses Σg gᵀΣ · λ²ρ(z + ρ)/(1 + λ²v). Unlike a Laplace step at the old mean this knows that once a very
// uncertain pair is answered, asking it again tells little: her answer is then nearly certain.
std::vector<GaussianBranch> answer_both(const GaussianBranch& b, const torch::Tensor& grad, int64_t i) {
  const double lambda2 = M_PI / 8.0;
  auto g = grad[i].to(torch::kFloat64), sg = b.cov.matmul(g);
  const double v = std::max(0.0, g.dot(sg).item<double>()), m = b.mean[i].item<double>();
  const double s = std::sqrt(1.0 + lambda2 * v);
  auto shift = grad.to(torch::kFloat64).matmul(sg);  // [C]: d logit_c / d (a step along Σg)
  std::vector<GaussianBranch> out;
  for (double y : {1.0, -1.0}) {
    const double z = y * std::sqrt(lambda2) * m / s;
    const double cdf = 0.5 * std::erfc(-z / M_SQRT2), pdf = std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
    if (cdf < 1e-12) continue;  // an answer this history all but rules out
    const double rho = pdf / cdf;
    const double shrink = std::clamp(rho * (z + rho), 0.0, 1.0);  // exact in [0, 1]; clamped against cancellation
    out.push_back({b.mean + shift * (y * std::sqrt(lambda2) * rho / s),
                   b.cov - torch::outer(sg, sg) * (lambda2 * shrink / (s * s)), b.mass * cdf});
  }
  return out;
}

template <typename Branch>
void keep_likeliest(std::vector<Branch>& branches) {
  std::sort(branches.begin(), branches.end(), [](const Branch& a, const Branch& b) { return a.mass > b.mass; });
  if (branches.size() > static_cast<size_t>(kHistories)) branches.resize(kHistories);
  double total = 0;
  for (const auto& b : branches) total += b.mass;
  for (auto& b : branches) b.mass /= total;
}

BatchChoice choose_gaussian(UserPosterior& posterior, const ConditionalScorer& scorer, const UserState& state,
                            const QueryPool& pool, const torch::Tensor& scores, int64_t n, double min_gain) {
  BatchChoice out;
  auto taken = torch::isneginf(scores);
  auto lin = posterior.linearize(state, *pool.prepared);
  torch::NoGradGuard ng;  // the gradient is in `lin`: conditioning and rescoring need none
  std::vector<GaussianBranch> branches = {{lin.mean.to(torch::kFloat64), lin.cov.to(torch::kFloat64), 1.0}};
  for (int64_t k = 0; k < n; ++k) {
    torch::Tensor s = scores;
    if (k > 0) {  // the expected score over her likely answers to the picks so far
      s = torch::zeros({pool.size()}, torch::kFloat64);
      for (const auto& b : branches) {
        LinearizedLogits given{b.mean.to(lin.mean.scalar_type()), lin.grad, b.cov.to(lin.cov.scalar_type())};
        s += b.mass * scorer.score_linearized(given, state.user_id).to(torch::kFloat64);
      }
    }
    if (!pick(s, taken, min_gain, out)) break;
    std::vector<GaussianBranch> next;
    for (const auto& b : branches)
      for (auto& c : answer_both(b, lin.grad, out.order.back())) next.push_back(std::move(c));
    keep_likeliest(next);
    branches = std::move(next);
  }
  return out;
}

// A discrete posterior after the picks so far: one weight row per likely answer history, with its probability.
struct Histories {
  torch::Tensor weights;  // [R, H], rows summing to 1
  torch::Tensor mass;     // [R], summing to 1
};

Histories branch(const Histories& h, const torch::Tensor& probs, int64_t i) {
  auto p = probs.select(1, i).to(torch::kFloat64).unsqueeze(0);  // [1, H]: P(a wins | hypothesis)
  auto w = torch::cat({h.weights * p, h.weights * (1 - p)});     // [2R, H] unnormalized
  auto m = w.sum(1), mass = torch::cat({h.mass, h.mass}) * m;
  auto keep = std::get<1>(mass.topk(std::min<int64_t>(kHistories, mass.size(0))));
  Histories out;
  out.weights = w.index_select(0, keep) / m.index_select(0, keep).clamp_min(1e-300).unsqueeze(1);
  out.mass = mass.index_select(0, keep);
  out.mass = out.mass / out.mass.sum().clamp_min(1e-300);
  return out;
}

BatchChoice choose_discrete(HypothesisPosterior& posterior, const ConditionalScorer& scorer, const UserState& state,
                            const QueryPool& pool, const torch::Tensor& scores, int64_t n, double min_gain) {
  BatchChoice out;
  auto taken = torch::isneginf(scores);
  auto hyp = posterior.hypotheses(state, *pool.prepared);
  auto probs = torch::sigmoid(hyp.logits);
  Histories h{hyp.weights.to(torch::kFloat64).unsqueeze(0), torch::ones({1}, torch::kFloat64)};
  for (int64_t k = 0; k < n; ++k) {
    torch::Tensor s = scores;
    if (k > 0) {  // the expected score over her possible answers to the picks so far
      s = torch::zeros({pool.size()}, torch::kFloat64);
      for (int64_t r = 0; r < h.mass.size(0); ++r)
        s += h.mass[r] * scorer.score_hypotheses(probs, h.weights[r].to(torch::kFloat32), state.user_id);
    }
    if (!pick(s, taken, min_gain, out)) break;
    h = branch(h, probs, out.order.back());
  }
  return out;
}
}  // namespace

BatchChoice choose_batch(RewardModel& model, const UserState& state, const QueryPool& pool, const QueryScorer& scorer,
                         const torch::Tensor& scores, int64_t n, double min_gain) {
  PLURAL_CHECK(scores.dim() == 1 && scores.size(0) == pool.size(), "query: ", scores.numel(), " scores for ",
               pool.size(), " candidates");
  if (pool.size() == 0) return {};
  auto* conditional = dynamic_cast<const ConditionalScorer*>(&scorer);
  if (n > 1 && conditional && pool.prepared) {
    torch::AutoGradMode grad(true);  // linearizing may differentiate the logits in the user vector
    if (auto* g = dynamic_cast<UserPosterior*>(&model))
      return choose_gaussian(*g, *conditional, state, pool, scores, n, min_gain);
    if (auto* d = dynamic_cast<HypothesisPosterior*>(&model))
      return choose_discrete(*d, *conditional, state, pool, scores, n, min_gain);
  }
  return choose_top(scores, n, min_gain);
}

BatchChoice choose_top(const torch::Tensor& raw, int64_t n, double min_gain) {
  PLURAL_CHECK(raw.dim() == 1, "query: scores must be one per candidate, got shape ", raw.sizes());
  BatchChoice out;
  auto scores = raw.to(torch::kFloat64).nan_to_num(-std::numeric_limits<double>::infinity());  // NaN: never chosen
  auto order = std::get<1>(scores.sort(0, true)).slice(0, 0, std::min<int64_t>(n, scores.size(0))).contiguous();
  for (int64_t i = 0; i < order.size(0); ++i) {
    const int64_t c = order[i].item<int64_t>();
    const double g = scores[c].item<double>();
    if (!(g >= min_gain)) break;
    out.order.push_back(c);
    out.gain.push_back(g);
  }
  return out;
}

}  // namespace plural::core
