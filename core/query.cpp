#include "core/query.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/gauss_hermite.hpp"
#include "core/base/hash.hpp"
#include "core/base/registry.hpp"
#include "core/epig.hpp"
#include "core/query_batch.hpp"

namespace plural::core {

namespace {
void check_pool(const QueryPool& pool) { PLURAL_CHECK(pool.size() > 0, "query: the candidate pool is empty"); }

const PreparedPool& prepared(const QueryPool& pool, RewardModel& model, const std::string& scorer) {
  PLURAL_CHECK(pool.prepared, "query scorer '", scorer, "' needs a pool prepared for this ", model.family(),
               " model (prepare_pool)");
  PLURAL_CHECK(pool.model_id == model.model_id(), "query: the candidate pool was prepared for model ", pool.model_id,
               ", not for this one (", model.model_id(), ")");
  return *pool.prepared;
}

torch::Tensor binary_entropy(const torch::Tensor& p) {
  auto q = p.clamp(1e-12, 1 - 1e-12);
  return -(q * q.log() + (1 - q) * (1 - q).log());
}

// Scores a candidate by the information its answer carries about the user vector, with the logit linearized in
// it: the logit is then Gaussian and I(y; u) a one-dimensional integral.
class BaldScorer : public QueryScorer, public ConditionalScorer {
 public:
  std::string name() const override { return "bald"; }
  using QueryScorer::score;
  torch::Tensor score(RewardModel& model, const UserState& state, const QueryPool& pool) const override {
    check_pool(pool);
    if (auto* h = dynamic_cast<HypothesisPosterior*>(&model)) {  // a discrete posterior: exact
      auto w = h->hypotheses(state, prepared(pool, model, name()));
      return score_hypotheses(torch::sigmoid(w.logits), w.weights, state.user_id);
    }
    return score_linearized(user_posterior(model, name()).linearize(state, prepared(pool, model, name())),
                            state.user_id);
  }
  torch::Tensor score_linearized(const LinearizedLogits& lin, const std::string&) const override {
    auto var = (lin.grad.matmul(lin.cov) * lin.grad).sum(1).clamp_min(0);
    return bald_gaussian_logit(lin.mean, var);
  }
  torch::Tensor score_hypotheses(const torch::Tensor& probs, const torch::Tensor& weights,
                                 const std::string&) const override {
    return bald_weighted(probs, weights);
  }
};

torch::Tensor linearized_draws(const LinearizedLogits& lin, int64_t m, uint64_t seed);

// The same information without linearizing: Monte-Carlo over posterior draws of the user vector (for a discrete
// posterior, draws of the hypothesis). Conditioned on a batch's earlier picks, the draws go through the
// linearization (a discrete posterior is then scored exactly).
class BaldMcScorer : public QueryScorer, public ConditionalScorer {
 public:
  explicit BaldMcScorer(uint64_t seed) : seed_(seed) {}
  std::string name() const override { return "bald-mc"; }
  using QueryScorer::score;
  torch::Tensor score(RewardModel& model, const UserState& state, const QueryPool& pool) const override {
    check_pool(pool);
    const uint64_t seed = seed_ ^ hash64(state.user_id);
    if (auto* h = dynamic_cast<HypothesisPosterior*>(&model)) {
      auto w = h->hypotheses(state, prepared(pool, model, name()));
      auto gen = at::detail::createCPUGenerator(seed);
      auto draws = torch::multinomial(w.weights.to(torch::kFloat64), kDraws, /*replacement=*/true, gen);
      return bald_from_probs(torch::sigmoid(w.logits.index_select(0, draws)));
    }
    auto z = user_posterior(model, name()).sample_logits(state, prepared(pool, model, name()), kDraws, seed);
    return bald_from_probs(torch::sigmoid(z));
  }
  torch::Tensor score_linearized(const LinearizedLogits& lin, const std::string& user_id) const override {
    return bald_from_probs(torch::sigmoid(linearized_draws(lin, kDraws, seed_ ^ hash64(user_id))));
  }
  torch::Tensor score_hypotheses(const torch::Tensor& probs, const torch::Tensor& weights,
                                 const std::string&) const override {
    return bald_weighted(probs, weights);
  }

 private:
  static constexpr int64_t kDraws = 64;
  uint64_t seed_;
};

// Logits [M, C] of M seeded draws of u ~ N(û, cov) through the linearization logit ≈ mean + grad·(u − û).
torch::Tensor linearized_draws(const LinearizedLogits& lin, int64_t m, uint64_t seed) {
  auto cov = lin.cov.detach().to(torch::kFloat64);
  auto [root, info] = torch::linalg_cholesky_ex(cov);
  if (info.item<int64_t>() != 0) {  // only semi-definite: its symmetric square root
    auto [evals, evecs] = torch::linalg_eigh(cov);
    root = evecs * evals.clamp_min(0).sqrt().unsqueeze(0);
  }
  auto gen = at::detail::createCPUGenerator(seed);
  auto delta = root.matmul(torch::randn({cov.size(0), m}, gen, torch::kFloat64)).to(torch::kFloat32);  // [P, M]
  return delta.t().matmul(lin.grad.detach().to(torch::kFloat32).t()) + lin.mean.detach().to(torch::kFloat32);
}

// EPIG: the information a candidate's answer carries about her answers to pairs like the ones she will be scored on
// (a sample of the pool), not about every direction of her user vector: BALD can keep asking about directions that
// change no prediction she will be judged on.
class EpigScorer : public QueryScorer, public ConditionalScorer {
 public:
  explicit EpigScorer(uint64_t seed) : seed_(seed) {}
  std::string name() const override { return "epig"; }
  using QueryScorer::score;
  torch::Tensor score(RewardModel& model, const UserState& state, const QueryPool& pool) const override {
    check_pool(pool);
    if (auto* h = dynamic_cast<HypothesisPosterior*>(&model)) {  // a discrete posterior: exact over hypotheses
      auto w = h->hypotheses(state, prepared(pool, model, name()));
      return score_hypotheses(torch::sigmoid(w.logits), w.weights, state.user_id);
    }
    return score_linearized(user_posterior(model, name()).linearize(state, prepared(pool, model, name())),
                            state.user_id);
  }
  // The Gaussian BALD integrates over, drawn: the linearized logits of kDraws draws of u.
  torch::Tensor score_linearized(const LinearizedLogits& lin, const std::string& user_id) const override {
    auto probs = torch::sigmoid(linearized_draws(lin, kDraws, seed_ ^ hash64(user_id)));
    return score_hypotheses(probs, torch::full({kDraws}, 1.0f / kDraws), user_id);
  }
  torch::Tensor score_hypotheses(const torch::Tensor& probs, const torch::Tensor& weights,
                                 const std::string& user_id) const override {
    const int64_t c = probs.size(1);
    auto gen = at::detail::createCPUGenerator((seed_ ^ hash64(user_id)) + 1);
    auto targets = c <= kTargets ? torch::arange(c) : torch::randperm(c, gen, torch::kInt64).slice(0, 0, kTargets);
    return epig_from_probs(probs, weights, targets);
  }

 private:
  static constexpr int64_t kDraws = 64, kTargets = 64;
  uint64_t seed_;
};

// D-optimal leverage (ARM-FI, personalised): p(1−p)·gᵀ Σ g, the gain in log det of the user's Fisher
// information from asking the pair, to first order.
class DOptimalScorer : public QueryScorer, public ConditionalScorer {
 public:
  std::string name() const override { return "dopt"; }
  using QueryScorer::score;
  torch::Tensor score(RewardModel& model, const UserState& state, const QueryPool& pool) const override {
    check_pool(pool);
    return score_linearized(user_posterior(model, name()).linearize(state, prepared(pool, model, name())),
                            state.user_id);
  }
  torch::Tensor score_linearized(const LinearizedLogits& lin, const std::string&) const override {
    auto p = torch::sigmoid(lin.mean);
    return p * (1 - p) * (lin.grad.matmul(lin.cov) * lin.grad).sum(1);
  }
  torch::Tensor score_hypotheses(const torch::Tensor&, const torch::Tensor&, const std::string&) const override {
    throw ValueError("query scorer 'dopt' needs a Gaussian user posterior");
  }
};

Registry<QueryScorerFactory>& registry() {
  static Registry<QueryScorerFactory> r("query scorer");
  return r;
}
const bool registered = [] {
  register_query_scorer(
      "random", [](uint64_t seed) { return std::make_unique<RandomQueryScorer>(seed); },
      "uniform random (the control)");
  register_query_scorer(
      "bald", [](uint64_t) { return std::make_unique<BaldScorer>(); },
      "mutual information I(y; user) with the logit linearized in the user vector (fast)");
  register_query_scorer(
      "bald-mc", [](uint64_t seed) { return std::make_unique<BaldMcScorer>(seed); },
      "mutual information I(y; user), Monte-Carlo over 64 posterior draws");
  register_query_scorer(
      "epig", [](uint64_t seed) { return std::make_unique<EpigScorer>(seed); },
      "expected predictive information gain about her answers to 64 of the pool's pairs (64 linearized posterior "
      "draws; exact over a discrete posterior)");
  register_query_scorer(
      "dopt", [](uint64_t) { return std::make_unique<DOptimalScorer>(); }, "D-optimal leverage p(1-p) g'Σg (ARM-FI)");
  return true;
}();
}  // namespace

torch::Tensor moderated_logits(const LinearizedLogits& lin) {
  auto g = lin.grad.to(torch::kFloat64);
  auto var = (g.matmul(lin.cov.to(torch::kFloat64)) * g).sum(1).clamp_min(0);
  return (lin.mean.to(torch::kFloat64) / torch::sqrt(1 + (M_PI / 8) * var)).to(lin.mean.scalar_type());
}

UserPosterior& user_posterior(RewardModel& model, const std::string& scorer) {
  auto* p = dynamic_cast<UserPosterior*>(&model);
  PLURAL_CHECK(p || !dynamic_cast<HypothesisPosterior*>(&model), "query scorer '", scorer,
               "' needs a Gaussian user posterior; '", model.family(),
               "' models have a discrete one (use --scorer bald, bald-mc or random)");
  PLURAL_CHECK(p, "query scorer '", scorer, "' needs a user posterior, which '", model.family(),
               "' models do not have (use a per-user-bt, pal-a, pal-b, lore, vpl, context or cross-attn model, or ",
               "--scorer random)");
  return *p;
}

const torch::Tensor& state_covariance(const UserState& state) {
  auto it = state.tensors.find("cov");
  PLURAL_CHECK(it != state.tensors.end(), "query: user state '", state.user_id,
               "' carries no posterior covariance (adapt it with the newton adapter)");
  return it->second;
}

torch::Tensor bald_from_probs(const torch::Tensor& probs) {
  auto p = probs.to(torch::kFloat64);
  return (binary_entropy(p.mean(0)) - binary_entropy(p).mean(0)).clamp_min(0).to(torch::kFloat32);
}

torch::Tensor bald_weighted(const torch::Tensor& probs, const torch::Tensor& weights) {
  auto p = probs.to(torch::kFloat64), w = weights.to(torch::kFloat64).unsqueeze(1);
  return (binary_entropy((w * p).sum(0)) - (w * binary_entropy(p)).sum(0)).clamp_min(0).to(torch::kFloat32);
}

torch::Tensor epig_from_probs(const torch::Tensor& probs, const torch::Tensor& weights, const torch::Tensor& targets) {
  auto p = probs.to(torch::kFloat32), pw = p * weights.to(torch::kFloat32).unsqueeze(1);
  auto m = pw.sum(0);                                                             // P(y_c = 1) [C]
  auto mt = m.index_select(0, targets).unsqueeze(1);                              // P(y_t = 1) [T, 1]
  auto pt = p.index_select(1, targets).t();                                       // [T, M]
  auto xlogx = [](torch::Tensor q) { return q.clamp_(1e-12, 1).log().mul_(q); };  // q is a temporary
  // −H(y_c, y_t) summed over targets, [T, C] in column blocks: the dozen elementwise passes stay in cache.
  auto neg_joint = torch::empty_like(m);
  const int64_t c = m.size(0), block = 1024;
  for (int64_t lo = 0; lo < c; lo += block) {
    const int64_t hi = std::min(c, lo + block);
    auto j11 = pt.matmul(pw.slice(1, lo, hi));  // P(y_t = 1, y_c = 1), the answers independent given u
    auto j10 = m.slice(0, lo, hi).unsqueeze(0) - j11, j01 = mt - j11;
    auto j00 = (1 - mt) - j10;
    neg_joint.slice(0, lo, hi).copy_(xlogx(j11).add_(xlogx(j10)).add_(xlogx(j01)).add_(xlogx(j00)).sum(0));
  }
  auto h = binary_entropy(m.to(torch::kFloat64)), ht = binary_entropy(mt.to(torch::kFloat64)).mean();
  const double t = static_cast<double>(targets.size(0));
  return (h + ht + neg_joint.to(torch::kFloat64) / t).clamp_min(0).to(torch::kFloat32);  // H(c) + H(t) − H(c, t)
}

torch::Tensor posterior_weights(const torch::Tensor& log_likelihood) {
  return torch::softmax(log_likelihood.to(torch::kFloat64), 0).to(torch::kFloat32);
}

torch::Tensor bald_gaussian_logit(const torch::Tensor& mean, const torch::Tensor& var, int nodes) {
  static const auto gh = gauss_hermite(20);
  const auto& [x, w] = nodes == 20 ? gh : gauss_hermite(nodes);
  auto xs = torch::tensor(x, torch::kFloat64).unsqueeze(0), ws = torch::tensor(w, torch::kFloat64) / std::sqrt(M_PI);
  auto m = mean.to(torch::kFloat64).unsqueeze(1), s = (var.to(torch::kFloat64).clamp_min(0) * 2.0).sqrt().unsqueeze(1);
  auto p = torch::sigmoid(m + s * xs);  // [C, nodes]: E over N(mean, var) as Σ_i w_i f(mean + √(2 var) x_i) / √π
  auto ep = p.matmul(ws), eh = binary_entropy(p).matmul(ws);
  return (binary_entropy(ep) - eh).clamp_min(0).to(torch::kFloat32);
}

torch::Tensor RandomQueryScorer::score(RewardModel&, const UserState& state, const QueryPool& pool) const {
  check_pool(pool);
  auto gen = at::detail::createCPUGenerator(seed_ ^ hash64(state.user_id));
  return torch::rand({pool.size()}, gen);
}

QueryPool prepare_pool(RewardModel& model, const PairBatch& candidates) {
  QueryPool pool;
  pool.pairs = candidates;
  pool.model_id = model.model_id();
  PLURAL_CHECK(pool.size() > 0, "query: the candidate pool is empty");
  auto* gaussian = dynamic_cast<UserPosterior*>(&model);
  auto* discrete = dynamic_cast<HypothesisPosterior*>(&model);
  if (gaussian || discrete) {
    torch::NoGradGuard ng;
    bool was = model.is_training();
    model.eval();
    pool.prepared = gaussian ? gaussian->prepare(candidates) : discrete->prepare_hypotheses(candidates);
    model.train(was);
  }
  return pool;
}

torch::Tensor QueryScorer::score(RewardModel& model, const UserState& state, const PairBatch& candidates) const {
  return score(model, state, prepare_pool(model, candidates));
}

bool register_query_scorer(const std::string& name, QueryScorerFactory factory, const std::string& help) {
  registry().add(name, std::move(factory), help);
  return true;
}

std::unique_ptr<QueryScorer> make_query_scorer(const std::string& name, uint64_t seed) {
  return registry().get(name)(seed);
}

std::map<std::string, std::string> query_scorer_names() { return registry().help(); }

}  // namespace plural::core
