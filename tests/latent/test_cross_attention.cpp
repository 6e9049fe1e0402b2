#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "core/eval/evaluator.hpp"
#include "core/query.hpp"
#include "core/support.hpp"
#include "core/train/trainer.hpp"
#include "latent/cross_attention.hpp"
#include "tests/gradcheck.hpp"
#include "tests/persona_fixture.hpp"
#include "tests/quick_train.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::latent::interpolate_users;
using plural::latent::UserCrossAttention;
using plural::latent::with_strength;

namespace {
TrainConfig quick(int epochs) {
  auto t = plural::test::quick(epochs);
  t.batch_size = 512;
  return t;
}

// The first `n` support pairs of each unseen user.
std::map<int32_t, std::vector<size_t>> support_of_users(const PreferenceData& d, const DatasetView& view) {
  std::map<int32_t, std::vector<size_t>> out;
  for (auto r : view.rows(Split::support, false)) out[d.comparisons[r].user].push_back(r);
  return out;
}
}  // namespace

TEST_CASE("cross-attn: adapts unseen users from their pairs, shared weights untouched", "[embeddings][cross-attn]") {
  auto f = plural::test::persona_fixture(5, 2);
  DatasetView view(f.pk.data, f.features);
  torch::manual_seed(0);
  auto model = make_model("cross-attn", view.dims(), R"({"token": 32, "hidden": 64})");
  auto result = train(*model, view, quick(30));
  INFO("trained " << result.epochs_run << " epochs, best val accuracy " << result.best_val_accuracy);
  CHECK(result.best_val_accuracy > 0.85);
  std::vector<torch::Tensor> before;
  for (auto& p : model->parameters()) before.push_back(p.clone());
  EvalConfig ec;
  ec.shots = {0, 20};
  auto grid = evaluate_grid(*model, view, ec);
  INFO("unseen: 0 shots " << grid[1].pairs.accuracy << ", 20 shots " << grid[2].pairs.accuracy);
  CHECK(grid[2].pairs.accuracy > grid[1].pairs.accuracy + 0.05);
  CHECK(grid[2].pairs.accuracy > 0.95);
  auto after = model->parameters();
  for (size_t i = 0; i < before.size(); ++i) CHECK(torch::equal(before[i], after[i]));
}

TEST_CASE("cross-attn: lambda 0 is the population model, padding changes nothing, interpolation ends at each user",
          "[embeddings][cross-attn]") {
  auto f = plural::test::persona_fixture(6, 2);
  DatasetView view(f.pk.data, f.features);
  torch::manual_seed(1);
  auto model = make_model("cross-attn", view.dims(), R"({"token": 16, "hidden": 32})");
  auto* ca = dynamic_cast<UserCrossAttention*>(model.get());
  REQUIRE(ca);
  model->eval();
  torch::NoGradGuard ng;
  auto users = support_of_users(f.pk.data, view);
  auto it = users.begin();
  auto rows1 = std::vector<size_t>(it->second.begin(), it->second.begin() + 5);
  ++it;
  auto rows2 = std::vector<size_t>(it->second.begin(), it->second.begin() + 12);
  auto adapter = make_adapter("cross-attn");
  auto u1 = adapter->adapt(*model, view.batch(rows1), "u1"), u2 = adapter->adapt(*model, view.batch(rows2), "u2");
  CHECK(u1.at("memory").size(0) == 5);
  auto items = view.batch(view.rows(Split::test, true)).a;
  auto population = model->reward_seen(items, torch::full({items.size()}, -1, torch::kInt64));
  CHECK(torch::equal(model->reward(items, with_strength(u1, 0.0)), population));
  CHECK(torch::equal(model->reward(items, model->prior_state()), population));
  CHECK(!torch::allclose(model->reward(items, u1), population));
  // The same user's 5 pairs alone, and padded to 12 next to another user's set: the same tokens and rewards.
  SupportSampler sampler(view, view.rows(Split::support, false));
  auto alone = sampler.gather({rows1}), padded = sampler.gather({rows1, rows2});
  REQUIRE(padded.mask.size(1) == 12);
  auto ma = ca->encode(alone), mp = ca->encode(padded);
  CHECK(torch::allclose(ma[0], mp[0].slice(0, 0, 5), 1e-5, 1e-6));
  auto idx = torch::zeros({items.size()}, torch::kInt64), all = torch::ones({items.size()}, torch::kBool);
  CHECK(torch::allclose(ca->score(items, ma, alone.mask, idx, all), ca->score(items, mp, padded.mask, idx, all), 1e-5,
                        1e-6));
  // Interpolation: α = 1 is u1, α = 0 is u2, in between differs from both.
  CHECK(torch::allclose(model->reward(items, interpolate_users(u1, u2, 1.0)), model->reward(items, u1), 1e-5, 1e-6));
  CHECK(torch::allclose(model->reward(items, interpolate_users(u1, u2, 0.0)), model->reward(items, u2), 1e-5, 1e-6));
  // Persistence of a state.
  auto path = std::string("/tmp/plural_test_cross_attn_state.pt");
  u1.save(path);
  CHECK(torch::equal(model->reward(items, UserState::load(path)), model->reward(items, u1)));
}

TEST_CASE("cross-attn: gradients agree with finite differences", "[embeddings][cross-attn]") {
  auto f = plural::test::persona_fixture(7, 2, 10, 2, 40, 20);
  DatasetView view(f.pk.data, f.features);
  torch::manual_seed(2);
  auto model = make_model("cross-attn", view.dims(), R"({"token": 8, "hidden": 8, "branch_dropout": 0})");
  model->to(torch::kFloat64);
  model->eval();
  auto train_rows = view.rows(Split::train, true);
  auto rows = torch::tensor(std::vector<int64_t>(train_rows.begin(), train_rows.begin() + 6), torch::kInt64);
  auto batch = view.batch(rows);
  SupportSampler sampler(view, train_rows);
  Rng rng(0);
  sampler.attach(batch, rows, 3, 3, rng);
  for (auto& kv : batch.extra)
    if (kv.second.is_floating_point()) kv.second = kv.second.to(torch::kFloat64);
  batch.a.x = batch.a.x.to(torch::kFloat64);
  batch.b.x = batch.b.x.to(torch::kFloat64);
  batch.a.prompt = batch.a.prompt.to(torch::kFloat64);
  batch.b.prompt = batch.b.prompt.to(torch::kFloat64);
  auto loss_of = [&] { return torch::nn::functional::softplus(-model->logits(batch)).sum(); };
  CHECK(plural::test::check_parameter_gradients(*model, loss_of, "cross-attn") >= 20);
}

TEST_CASE("cross-attn: bad input", "[embeddings][cross-attn][errors]") {
  auto f = plural::test::persona_fixture(8, 2, 10, 4, 40, 20);
  DatasetView view(f.pk.data, f.features);
  auto model = make_model("cross-attn", view.dims(), R"({"token": 8, "hidden": 8})");
  auto adapter = make_adapter("cross-attn");
  auto users = support_of_users(f.pk.data, view);
  auto shots = view.batch(users.begin()->second);
  // An empty support set: the population model.
  auto empty = adapter->adapt(*model, shots.select(torch::zeros({0}, torch::kInt64)), "nobody");
  auto items = shots.a;
  torch::NoGradGuard ng;
  model->eval();
  CHECK(torch::equal(model->reward(items, empty), model->reward(items, model->prior_state())));
  auto wrong = shots;
  wrong.a.x = torch::zeros({shots.size(), 3});
  wrong.b.x = torch::zeros({shots.size(), 3});
  CHECK_THROWS_WITH(adapter->adapt(*model, wrong, "w"), Contains("expects"));
  auto nan = shots;
  nan.a.x = nan.a.x.clone();
  nan.a.x[0][0] = std::nan("");
  CHECK_THROWS_WITH(adapter->adapt(*model, nan, "n"), Contains("NaN"));
  auto u = adapter->adapt(*model, shots, "u");
  CHECK_THROWS_WITH(with_strength(u, 1.5), Contains("lambda must be in [0, 1]"));
  CHECK_THROWS_WITH(with_strength(u, -0.1), Contains("lambda must be in [0, 1]"));
  CHECK_THROWS_WITH(interpolate_users(u, u, 2.0), Contains("alpha must be in [0, 1]"));
  auto other = make_model("cross-attn", view.dims(), R"({"token": 8, "hidden": 16})");
  auto v = make_adapter("cross-attn")->adapt(*other, shots, "v");
  CHECK_THROWS_WITH(interpolate_users(u, v, 0.5), Contains("different models"));
  CHECK_THROWS_WITH(model->reward(items, v), Contains("cross-attn"));
  CHECK_THROWS_WITH(make_model("cross-attn", view.dims(), R"({"branch_dropout": 1.0})"), Contains("branch_dropout"));
  CHECK_THROWS_WITH(make_model("cross-attn", view.dims(), R"({"context_min": 0})"), Contains("context_min"));
}

TEST_CASE("cross-attn: query weighs the seen users by a new user's answers and asks where they disagree",
          "[embeddings][cross-attn][query]") {
  auto f = plural::test::persona_fixture(5, 2);
  DatasetView view(f.pk.data, f.features);
  torch::manual_seed(0);
  auto model = make_model("cross-attn", view.dims(), R"({"token": 32, "hidden": 64})");
  train(*model, view, quick(30));
  model->eval();
  auto users = support_of_users(f.pk.data, view);
  auto adapter = make_adapter("cross-attn");
  auto bald = make_query_scorer("bald");
  int checked = 0;
  for (const auto& [user, rows] : users) {
    if (rows.size() < 40) continue;
    const std::string id = f.pk.data.users[user].id;
    auto shots = view.batch(std::vector<size_t>(rows.begin(), rows.begin() + 10));
    auto pool = view.batch(std::vector<size_t>(rows.begin() + 10, rows.end()));
    pool.b.x[0] = pool.a.x[0];  // an item against itself: nothing to learn
    auto prior = adapter->adapt(*model, shots.select(torch::zeros({0}, torch::kInt64)), id);
    auto state = adapter->adapt(*model, shots, id);
    REQUIRE(state.at("shot_chosen").size(0) == 10);
    torch::NoGradGuard ng;
    auto prepared = prepare_pool(*model, pool);
    REQUIRE(prepared.prepared);
    auto h = dynamic_cast<UserCrossAttention&>(*model).hypotheses(state, *prepared.prepared);
    // The answers single out seen users like her: their posterior predictive gets her held-out pairs right.
    auto predictive = (h.weights.unsqueeze(1) * torch::sigmoid(h.logits)).sum(0);
    auto acc = ((predictive > 0.5) == (pool.label > 0.5)).slice(0, 1).to(torch::kFloat64).mean().item<double>();
    INFO("user " << id << ": posterior-predictive accuracy " << acc << ", max weight " << h.weights.max());
    CHECK(acc > 0.9);
    auto s0 = bald->score(*model, prior, pool), s1 = bald->score(*model, state, pool);
    INFO("bald at the prior: mean " << s0.mean() << ", after 10 answers " << s1.mean());
    CHECK(s0[0].item<double>() < 1e-3);
    CHECK(s0.slice(0, 1).max().item<double>() > 0.1);
    CHECK(s1.mean().item<double>() < 0.5 * s0.mean().item<double>());
    auto mc = make_query_scorer("bald-mc", 3)->score(*model, prior, pool);
    CHECK((mc - s0).abs().max().item<double>() < 0.15);
    if (++checked == 3) break;
  }
  CHECK(checked == 3);
  // A seen user is one of the hypotheses: nothing left to ask.
  auto seen = model->seen_state(0);
  auto pool = view.batch(users.begin()->second);
  CHECK(bald->score(*model, seen, pool).abs().max().item<double>() < 1e-6);
  CHECK_THROWS_WITH(make_query_scorer("dopt")->score(*model, seen, pool), Contains("Gaussian user posterior"));
}
