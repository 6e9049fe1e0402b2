#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <set>

#include "core/base/error.hpp"
#include "core/data/persona_k.hpp"
#include "core/dataset_view.hpp"
#include "core/eval/evaluator.hpp"
#include "core/query.hpp"
#include "core/support.hpp"
#include "core/train/trainer.hpp"
#include "latent/vpl.hpp"
#include "tests/helpers.hpp"
#include "tests/persona_fixture.hpp"
#include "tests/quick_train.hpp"

using namespace plural::core;
using namespace plural::latent;
using Catch::Contains;

namespace {
using plural::test::persona_fixture;
plural::test::PersonaFixture persona(uint64_t seed, int k_star) { return persona_fixture(seed, k_star); }

std::shared_ptr<Vpl> make_vpl(const DatasetView& view, const std::string& json = R"({"hidden": 32, "latent": 4})") {
  torch::manual_seed(0);
  return std::dynamic_pointer_cast<Vpl>(make_model("vpl", view.dims(), json));
}
}  // namespace

TEST_CASE("VPL ELBO terms equal hand-computed values", "[latent][vpl]") {
  // KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²)
  auto kl = Vpl::kl_per_dim(torch::tensor({{0.5f, 0.0f}}), torch::tensor({{0.0f, std::log(4.0f)}}));
  CHECK(kl[0][0].item<double>() == Approx(0.125));
  CHECK(kl[0][1].item<double>() == Approx(0.5 * (4 - 1 - std::log(4.0))));
  KlAnnealer a{100, 0.1};
  CHECK(a.slope(0) == Approx(0.1));
  CHECK(a.slope(50) == Approx(0.55));
  CHECK(a.slope(99) == Approx(1.0).epsilon(1e-3));
  CHECK(a.slope(100) == Approx(0.1));  // cyclic
  CHECK(KlAnnealer{0, 0.1}.slope(12345) == 1.0);

  // The regularizer is β·slope·mean over sets of Σ_d KL, on the encoder's (clamped) posteriors.
  auto f = persona(1, 2);
  DatasetView view(f.pk.data, f.features);
  auto m = make_vpl(view, R"({"hidden": 16, "latent": 3, "beta": 0.5, "anneal_period": 0})");
  SupportSampler sampler(view, view.rows(Split::train, true));
  auto rows = torch::arange(0, 40, torch::kInt64);
  auto batch = view.batch(rows);
  Rng rng(3);
  sampler.attach(batch, rows, 2, 5, rng);
  m->train();
  m->logits(batch);
  auto reg = m->regularizer(batch).item<double>();
  auto [mu, lv] = m->encode(support_of(batch, nullptr));
  CHECK(mu.abs().max().item<double>() <= 1.0);
  CHECK(reg == Approx(0.5 * Vpl::kl_per_dim(mu, lv).sum(1).mean().item<double>()).epsilon(1e-5));
  CHECK(m->regularizer(batch).item<double>() == 0.0);  // consumed: one KL term per training step
}

TEST_CASE("support sets: same user, never the target, sizes in range, and padding never changes the posterior",
          "[latent][vpl]") {
  auto f = persona(2, 2);
  DatasetView view(f.pk.data, f.features);
  auto train_rows = view.rows(Split::train, true);
  SupportSampler sampler(view, train_rows);
  std::vector<int64_t> r;  // every 7th: each user keeps most of its pairs as candidates
  for (size_t i = 0; i < train_rows.size(); i += 7) r.push_back(static_cast<int64_t>(train_rows[i]));
  auto rows = torch::tensor(r, torch::kInt64);
  auto batch = view.batch(rows);
  Rng rng(1);
  std::vector<std::vector<size_t>> drawn;
  sampler.attach(batch, rows, 3, 7, rng, &drawn);
  torch::Tensor index;
  auto set = support_of(batch, &index);
  auto counts = set.mask.sum(1);
  CHECK(counts.min().item<int64_t>() >= 3);
  CHECK(counts.max().item<int64_t>() <= 7);
  const auto& cs = f.pk.data.comparisons;
  std::set<int64_t> targets(r.begin(), r.end());
  for (int64_t i = 0; i < rows.size(0); ++i) {
    const auto& rows_i = drawn[index[i].item<int64_t>()];
    for (size_t row : rows_i) {
      CHECK(cs[row].user == cs[r[i]].user);
      CHECK(cs[row].split == Split::train);
      CHECK(targets.count(static_cast<int64_t>(row)) == 0);  // no target of the batch, so never its own
    }
  }
  // Oriented: the chosen side is the preferred one.
  auto i0 = drawn[0][0];
  auto want = cs[i0].label > 0.5 ? cs[i0].a : cs[i0].b;
  CHECK(torch::equal(set.chosen[0][0], view.features()[want]));

  auto m = make_vpl(view);
  m->eval();
  torch::NoGradGuard ng;
  auto fixed = sampler.fixed_rows(0, 3, 0);
  REQUIRE(fixed.size() == 3);
  auto small = sampler.gather({fixed});
  auto big = sampler.gather({fixed, sampler.fixed_rows(1, 9, 0)});  // set 0 padded to 9 with another user's rows
  REQUIRE(big.mask.size(1) == 9);
  auto [mu1, lv1] = m->encode(small);
  auto [mu2, lv2] = m->encode(big);
  CHECK(torch::allclose(mu1[0], mu2[0], 1e-5, 1e-6));
  CHECK(torch::allclose(lv1[0], lv2[0], 1e-5, 1e-6));
  // An empty set is the prior.
  auto empty = sampler.gather({{}, fixed});
  auto [mu0, lv0] = m->encode(empty);
  CHECK(mu0[0].abs().max().item<double>() == 0.0);
  CHECK(lv0[0].abs().max().item<double>() == 0.0);
  CHECK(torch::allclose(mu0[1], mu1[0], 1e-5, 1e-6));
}

TEST_CASE("VPL on Persona-K: personalises seen users, adapts unseen ones in one pass, reports collapse diagnostics",
          "[latent][vpl]") {
  auto f = persona(5, 2);
  DatasetView view(f.pk.data, f.features);
  auto t = plural::test::quick(25);
  torch::manual_seed(0);
  auto bt = make_model("bt", view.dims(), R"({"hidden": []})");
  train(*bt, view, t);
  auto m = make_vpl(view, R"({"hidden": 64, "latent": 8, "context_max": 16})");
  auto res = train(*m, view, t);
  REQUIRE(!res.history.empty());
  std::map<std::string, double> diag(res.history.back().diagnostics.begin(), res.history.back().diagnostics.end());
  REQUIRE(diag.count("active_units"));
  REQUIRE(diag.count("kl/d7"));
  INFO("active units " << diag["active_units"] << ", acc z " << diag["acc_z"] << ", acc z=0 " << diag["acc_z0"]);
  CHECK(diag["active_units"] >= 1);
  CHECK(diag["acc_z"] > diag["acc_z0"] + 0.05);  // the latent is used

  EvalConfig ec;
  ec.shots = {0, 20};
  auto cb = evaluate_grid(*bt, view, ec), cv = evaluate_grid(*m, view, ec);
  INFO("seen: bt " << cb[0].pairs.accuracy << ", vpl " << cv[0].pairs.accuracy);
  CHECK(cv[0].pairs.accuracy > cb[0].pairs.accuracy + 0.05);
  INFO("unseen vpl: 0 shots " << cv[1].pairs.accuracy << ", 20 shots " << cv[2].pairs.accuracy);
  CHECK(cv[2].pairs.accuracy > cv[1].pairs.accuracy + 0.05);

  // The amortized adapter: deterministic, no shared weight changes, the prior for no shots, save/load round trip.
  std::vector<torch::Tensor> before;
  for (auto& p : m->parameters()) before.push_back(p.detach().clone());
  auto adapter = make_adapter("vpl");
  CHECK(adapter->name() == "amortized");
  auto shots = view.batch(view.rows(Split::support, false));
  auto s1 = adapter->adapt(*m, shots.select(torch::arange(0, 10)), "new");
  auto s2 = adapter->adapt(*m, shots.select(torch::arange(0, 10)), "new");
  CHECK(torch::equal(s1.at("mu"), s2.at("mu")));
  CHECK(torch::equal(s1.at("sigma"), s2.at("sigma")));
  size_t i = 0;
  for (auto& p : m->parameters()) CHECK(torch::equal(p, before[i++]));
  auto prior = adapter->adapt(*m, PairBatch{}, "nobody");
  CHECK(prior.shots == 0);
  // No answers: any of the seen users, the moments of their encoded posteriors (mixture mean and variance).
  std::vector<torch::Tensor> mus, vars;
  for (int64_t r = 0; r < static_cast<int64_t>(m->dims().users.size()); ++r) {
    auto s = m->seen_state(r);
    mus.push_back(s.at("mu"));
    vars.push_back(s.at("sigma").pow(2));
  }
  auto mu = torch::stack(mus);
  CHECK(torch::allclose(prior.at("mu"), mu.mean(0), 1e-4, 1e-5));
  CHECK(torch::allclose(prior.at("sigma").pow(2), mu.var(0, false) + torch::stack(vars).mean(0), 1e-4, 1e-5));
  plural::test::TempDir dir;
  s1.save(dir.file("u.pt"));
  auto back = UserState::load(dir.file("u.pt"));
  CHECK(torch::equal(m->reward(shots.a, back), m->reward(shots.a, s1)));
  // The seen users' states survive save/load of the model.
  save_model(*m, dir.file("vpl.pt"));
  auto loaded = load_model(dir.file("vpl.pt"));
  loaded->eval();
  m->eval();
  auto b = view.batch(view.rows(Split::test, true));
  CHECK(torch::allclose(loaded->logits(b), m->logits(b)));
}

TEST_CASE("VPL bad input: clear messages", "[latent][vpl][errors]") {
  auto f = persona(6, 2);
  DatasetView view(f.pk.data, f.features);
  auto m = make_vpl(view);
  auto adapter = make_adapter("vpl");
  auto shots = view.batch(std::vector<size_t>{0, 1, 2});
  shots.a.x = torch::zeros({3, 5});
  CHECK_THROWS_WITH(adapter->adapt(*m, shots, "u"), Contains("5-dim features") && Contains("expects"));
  auto st = m->prior_state();
  st.tensors["mu"] = torch::zeros({7});
  CHECK_THROWS_WITH(m->reward(view.batch(std::vector<size_t>{0}).a, st), Contains("7-dim latent"));
  CHECK_THROWS_WITH(make_model("vpl", view.dims(), R"({"context_min": 4, "context_max": 2})"),
                    Contains("context_min <= context_max"));
  CHECK_THROWS_WITH(make_model("vpl", view.dims(), R"({"latnt": 4})"), Contains("unknown config key 'latnt'"));
}
