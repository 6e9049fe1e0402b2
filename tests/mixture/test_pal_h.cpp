// The hierarchical family (pal-h): PAL-B's mixture plus each user's deviation on a shared low-rank head.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cstdio>

#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "core/eval/evaluator.hpp"
#include "core/query.hpp"
#include "core/train/fit.hpp"
#include "mixture/pal_h.hpp"
#include "tests/helpers.hpp"
#include "tests/persona_fixture.hpp"
#include "tests/quick_train.hpp"

using namespace plural::core;
using namespace plural::mixture;
using Catch::Contains;

namespace {
constexpr const char* kSmall = R"({"k": 2, "proj": "mlp1-gelu-dropout0", "rank": 4})";

// Through fit_family, as every front end trains: the mixture stage, the deviation stage, the prior tuning.
std::shared_ptr<PalH> trained(DatasetView& view, int epochs, TrainResult* result = nullptr) {
  auto tc = plural::test::quick(epochs);
  tc.user_lr = 5e-2;
  auto fitted = fit_family("pal-h", view, kSmall, tc);
  auto m = std::dynamic_pointer_cast<PalH>(fitted.model);
  REQUIRE(m);
  if (result) *result = fitted.result;
  return m;
}

// The first unseen user's first n support pairs and her test pairs.
std::pair<PairBatch, PairBatch> unseen_user(const DatasetView& view, const PreferenceData& data, size_t n) {
  auto support = view.rows(Split::support, false), test = view.rows(Split::test, false);
  const int32_t user = data.comparisons[support[0]].user;
  std::vector<size_t> shots, tests;
  for (auto r : support)
    if (data.comparisons[r].user == user && shots.size() < n) shots.push_back(r);
  for (auto r : test)
    if (data.comparisons[r].user == user) tests.push_back(r);
  return {view.batch(shots), view.batch(tests)};
}
}  // namespace

TEST_CASE("pal-h's Newton adapter reaches the MAP of [θ; δ] and leaves the shared weights alone", "[mixture][pal-h]") {
  auto f = plural::test::persona_fixture(7, 2);
  DatasetView view(f.pk.data, f.features);
  auto m = trained(view, 10);
  m->eval();
  auto [shots, tests] = unseen_user(view, f.pk.data, 20);
  std::vector<torch::Tensor> before;
  for (auto& t : m->parameters()) before.push_back(t.clone());
  auto adapter = make_adapter("pal-h");
  auto s = adapter->adapt(*m, shots, "new");
  for (size_t i = 0; i < before.size(); ++i) CHECK(torch::equal(before[i], m->parameters()[i]));
  REQUIRE(s.at("cov").sizes() == torch::IntArrayRef({2 + 4, 2 + 4}));
  CHECK(s.shots == 20);

  // The negative log-posterior's gradient at the adapted state, by autograd through the model's own logits.
  auto theta = s.at("theta").clone().requires_grad_(true), delta = s.at("delta").clone().requires_grad_(true);
  UserState raw = s;
  raw.tensors.erase("cov");  // the plain logits, not the moderated predictive
  raw.tensors["theta"] = theta;
  raw.tensors["delta"] = delta;
  auto z = m->logits_for(shots, raw);
  auto [mu, var] = m->delta_prior();
  auto loss = (shots.weight * (torch::nn::functional::softplus(z) - shots.label * z)).sum() +
              0.5 * theta.pow(2).sum() / m->theta_var() + 0.5 * ((delta - mu).pow(2) / var).sum();
  auto g = torch::autograd::grad({loss}, {theta, delta});
  INFO("gradient at the MAP: θ " << g[0].abs().max().item<double>() << ", δ " << g[1].abs().max().item<double>());
  CHECK(g[0].abs().max().item<double>() < 1e-3);
  CHECK(g[1].abs().max().item<double>() < 1e-3);

  // No answers: the prior, whose δ is the seen users' mean deviation.
  auto p = adapter->adapt(*m, PairBatch{}, "nobody");
  CHECK(torch::allclose(p.at("delta"), mu));
  CHECK(p.shots == 0);
}

TEST_CASE("pal-h on Persona-K: its mixture with no answers, better with answers, as good as PAL-B on seen users",
          "[mixture][pal-h]") {
  auto f = plural::test::persona_fixture(5, 2);
  DatasetView view(f.pk.data, f.features);
  auto m = trained(view, 30);
  torch::manual_seed(0);
  auto pal = make_model("pal-b", view.dims(), R"({"k": 2, "proj": "mlp1-gelu-dropout0"})");
  auto tc = plural::test::quick(30);
  tc.user_lr = 5e-2;
  train(*pal, view, tc);
  EvalConfig ec;
  ec.shots = {0, 20};
  auto ch = evaluate_grid(*m, view, ec), cp = evaluate_grid(*pal, view, ec);
  for (size_t i = 0; i < ch.size(); ++i)
    std::printf("pal-h %s@%lld: %.3f (pal-b %.3f)\n", ch[i].users.c_str(), static_cast<long long>(ch[i].shots),
                ch[i].pairs.accuracy, cp[i].pairs.accuracy);
  CHECK(ch[0].pairs.accuracy >= cp[0].pairs.accuracy - 0.02);
  CHECK(ch[2].pairs.accuracy > ch[1].pairs.accuracy + 0.05);
  CHECK(ch[2].pairs.accuracy >= cp[2].pairs.accuracy - 0.03);
}

TEST_CASE("pal-h: saved and loaded scores the same, and its Gaussian posterior ranks query candidates",
          "[mixture][pal-h][query]") {
  auto f = plural::test::persona_fixture(3, 2, 30, 5, 60, 40);
  DatasetView view(f.pk.data, f.features);
  auto m = trained(view, 3);
  m->eval();
  auto [shots, tests] = unseen_user(view, f.pk.data, 5);
  auto s = make_adapter("pal-h")->adapt(*m, shots, "new");
  plural::test::TempDir dir;
  save_model(*m, dir.file("h.pt"));
  auto back = load_model(dir.file("h.pt"));
  REQUIRE(back->family() == "pal-h");
  back->eval();
  CHECK(torch::allclose(score_pairs(*m, tests, &s), score_pairs(*back, tests, &s), 1e-5, 1e-6));

  // The linearization's mean is the plain logit; bald and dopt give one finite score per candidate.
  auto pool = prepare_pool(*m, tests);
  UserState raw = s;
  raw.tensors.erase("cov");
  auto lin = user_posterior(*m, "test").linearize(s, *pool.prepared);
  CHECK(torch::allclose(lin.mean, m->logits_for(tests, raw), 1e-4, 1e-5));
  CHECK(lin.grad.size(1) == 2 + 4);
  for (const char* name : {"bald", "dopt", "bald-mc"}) {
    INFO(name);
    auto scores = make_query_scorer(name, 1)->score(*m, s, pool);
    CHECK(scores.size(0) == tests.size());
    CHECK(torch::isfinite(scores).all().item<bool>());
  }
}

TEST_CASE("pal-h: bad configs and states are named", "[mixture][pal-h][errors]") {
  auto f = plural::test::persona_fixture(3, 2, 20, 4, 40, 20);
  DatasetView view(f.pk.data, f.features);
  CHECK_THROWS_WITH(make_model("pal-h", view.dims(), R"({"rank": 0})"), Contains("rank"));
  CHECK_THROWS_WITH(make_model("pal-h", view.dims(), R"({"prior_var": 2})"), Contains("prior_diag"));
  CHECK_THROWS_WITH(make_model("pal-h", view.dims(), R"({"rank": 2, "prior_mean": [0], "prior_diag": [1]})"),
                    Contains("rank = 2"));
  auto m = std::dynamic_pointer_cast<PalH>(make_model("pal-h", view.dims(), kSmall));
  auto s = m->prior_state();
  s.tensors["delta"] = torch::zeros({3});
  auto [shots, tests] = unseen_user(view, f.pk.data, 3);
  CHECK_THROWS_WITH(m->logits_for(tests, s), Contains("3-dim deviation"));
  CHECK_THROWS_WITH(make_adapter("pal-h", "", R"({"tol": 0})"), Contains("tol"));
}

TEST_CASE("pal-h trains in two stages: the mixture alone, then the deviations on the frozen mixture",
          "[mixture][pal-h][train]") {
  auto f = plural::test::persona_fixture(11, 2, 30, 4, 60, 40);
  DatasetView view(f.pk.data, f.features);
  TrainResult r;
  auto m = trained(view, 4, &r);
  CHECK(r.epochs_run == 8);  // both stages ran their 4 epochs
  REQUIRE(r.history.size() == 8);
  CHECK(r.history.back().epoch == 8);
  CHECK(r.prior.tuned);
  for (const auto& p : m->parameters()) CHECK(p.requires_grad());  // whole again after the last stage
  m->eval();
  auto [shots, tests] = unseen_user(view, f.pk.data, 3);
  tests.user = torch::zeros_like(tests.user);  // scored as seen user 0
  auto whole = m->logits(tests);
  m->begin_stage(0);  // the mixture alone: δ does not count
  CHECK(torch::allclose(m->logits(tests), m->mixture().logits(tests)));
  m->begin_stage(1);  // the deviations: only θ, δ and H learn
  auto groups = m->param_groups();
  CHECK(groups.at("user").size() == 2);
  CHECK(groups.at("shared").size() == 1);
  m->begin_stage(2);
  CHECK(torch::allclose(m->logits(tests), whole));
  CHECK(m->parameters().front().requires_grad());
}
