#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/base/error.hpp"
#include "core/data/persona_k.hpp"
#include "core/dataset_view.hpp"
#include "core/train/rationale.hpp"
#include "core/train/trainer.hpp"
#include "tests/helpers.hpp"
#include "tests/quick_train.hpp"

using namespace plural::core;
using Catch::Contains;

namespace {
torch::Tensor f64(std::vector<double> v, int64_t cols) { return torch::tensor(v, torch::kFloat64).view({-1, cols}); }
}  // namespace

TEST_CASE("rationale loss matches a hand-computed value", "[core][rationale]") {
  // Oriented differences (1,0), (0,-1), (1,1); rationales 5 → (1,0), 7 → (0,1). Cosines over {5, 7}:
  // [1, 0], [0, -1], [1/√2, 1/√2]; at T = 0.5 the cross-entropies are log(1 + e^-2), 2 + log(1 + e^-2), log 2.
  auto diff = f64({1, 0, 0, 1, 1, 1}, 2);
  auto embedded = f64({1, 0, 0, 1, 1, 0}, 2);
  auto label = torch::tensor({1.0, 0.0, 1.0}, torch::kFloat64);
  auto ids = torch::tensor({5, 7, 5}, torch::kInt64);
  const double a = std::log1p(std::exp(-2.0)), b = 2 + std::log1p(std::exp(-2.0)), c = std::log(2.0);
  auto ones = torch::ones({3}, torch::kFloat64);
  CHECK(rationale_nce(diff, label, ones, ids, embedded, 0.5).item<double>() == Approx((a + b + c) / 3).epsilon(1e-9));
  auto w = torch::tensor({1.0, 2.0, 1.0}, torch::kFloat64);
  CHECK(rationale_nce(diff, label, w, ids, embedded, 0.5).item<double>() == Approx((a + 2 * b + c) / 4).epsilon(1e-9));

  SECTION("pairs without a rationale, ties and zero weights do not count") {
    auto d4 = torch::cat({diff, f64({3, -2, 0.5, 0.5, 2, 2}, 2)});
    auto e4 = torch::cat({embedded, f64({0, 1, 1, 0, 0, 1}, 2)});
    auto l4 = torch::tensor({1.0, 0.0, 1.0, 1.0, 0.5, 1.0}, torch::kFloat64);
    auto i4 = torch::tensor({5, 7, 5, -1, 5, 7}, torch::kInt64);
    auto w4 = torch::tensor({1.0, 1.0, 1.0, 1.0, 1.0, 0.0}, torch::kFloat64);
    CHECK(rationale_nce(d4, l4, w4, i4, e4, 0.5).item<double>() == Approx((a + b + c) / 3).epsilon(1e-9));
  }
  SECTION("one distinct rationale: nothing to tell apart, 0 with a graph") {
    auto same = torch::tensor({5, 5, 5}, torch::kInt64);
    auto d = diff.clone().requires_grad_(true);
    auto loss = rationale_nce(d, label, ones, same, embedded, 0.5);
    CHECK(loss.item<double>() == 0.0);
    loss.backward();
    CHECK(d.grad().abs().sum().item<double>() == 0.0);
  }
  SECTION("bad arguments") {
    CHECK_THROWS_WITH(rationale_nce(diff, label, ones, ids, embedded, 0.0), Contains("temperature must be > 0"));
    CHECK_THROWS_WITH(rationale_nce(diff, label, ones, ids, embedded.narrow(0, 0, 2), 0.5), Contains("expected diff"));
  }
}

TEST_CASE("rationale loss gradients agree with finite differences", "[core][rationale]") {
  torch::manual_seed(3);
  auto diff = torch::randn({6, 4}, torch::kFloat64).requires_grad_(true);
  // Rows with equal ids share one embedding, as the head gives them: perturb the rationale embedding q itself.
  auto q = torch::randn({3, 4}, torch::kFloat64).requires_grad_(true);
  auto ids = torch::tensor({0, 1, 2, 1, 0, 2}, torch::kInt64);
  auto label = torch::tensor({1.0, 0.0, 0.8, 0.2, 1.0, 0.0}, torch::kFloat64);
  auto weight = torch::tensor({1.0, 0.5, 2.0, 1.0, 1.0, 1.5}, torch::kFloat64);
  auto loss_of = [&] { return rationale_nce(diff, label, weight, ids, q.index_select(0, ids), 0.3); };
  auto grads = torch::autograd::grad({loss_of()}, {diff, q});
  const double h = 1e-6;
  int checked = 0;
  for (int which = 0; which < 2; ++which) {
    auto& t = which == 0 ? diff : q;
    auto flat = t.detach().view(-1);
    for (int64_t j = 0; j < flat.numel(); j += which == 0 ? 5 : 1) {
      double saved = flat[j].item<double>();
      flat[j] = saved + h;
      double up = loss_of().item<double>();
      flat[j] = saved - h;
      double down = loss_of().item<double>();
      flat[j] = saved;
      INFO("tensor " << which << " entry " << j);
      CHECK(grads[which].view(-1)[j].item<double>() == Approx((up - down) / (2 * h)).margin(1e-7).epsilon(1e-5));
      ++checked;
    }
  }
  CHECK(checked == 5 + 12);
}

namespace {
// Persona-K with rationales; statements' features carry behaviour × stance (plus noise), and each rationale's
// features are the difference it names (chosen statement's signal − the other's), so the loss can be driven down.
struct RationaleData {
  PersonaK pk;
  torch::Tensor features;
};
RationaleData rationale_data(bool rationales) {
  PersonaKConfig c;
  c.statements_path = plural::test::source_dir() + "/data/persona/statements.tsv.gz";
  c.seed = 11;
  c.prototypes = 2;
  c.alpha = 0;
  c.behaviors = 6;
  c.seen_users = 30;
  c.unseen_users = 2;
  c.statements_per_behavior = 80;
  c.train_pairs = 60;
  c.rationales = rationales;
  RationaleData r{generate_persona_k(c), {}};
  const auto T = static_cast<int64_t>(r.pk.data.texts.size()), D = static_cast<int64_t>(r.pk.behaviors.size());
  torch::manual_seed(11);
  auto signal = torch::zeros({T, D});
  for (int64_t t = 0; t < T; ++t)
    if (r.pk.text_behavior[t] >= 0) signal[t][r.pk.text_behavior[t]] = r.pk.text_stance[t];
  for (const auto& cmp : r.pk.data.comparisons)
    if (cmp.rationale >= 0) {
      auto chosen = cmp.label > 0.5f ? cmp.a : cmp.b, other = cmp.label > 0.5f ? cmp.b : cmp.a;
      signal[cmp.rationale] = signal[chosen] - signal[other];
    }
  r.features = torch::cat({signal, torch::zeros({T, 6})}, 1) + 0.1 * torch::randn({T, D + 6});
  return r;
}
TrainConfig quick(double rationale_weight) {
  auto t = plural::test::quick(15);
  t.patience = 0;
  t.user_lr = 5e-2;
  t.batch_size = 128;
  t.rationale_weight = rationale_weight;
  return t;
}
}  // namespace

TEST_CASE("Persona-K rationales name both statements' behaviour and stance, following the label", "[core][rationale]") {
  auto r = rationale_data(true);
  const auto& d = r.pk.data;
  REQUIRE(d.has_rationales());
  auto plain = rationale_data(false);
  REQUIRE(plain.pk.data.comparisons.size() == d.comparisons.size());
  for (size_t i = 0; i < d.comparisons.size(); i += 97) {
    const auto& c = d.comparisons[i];
    auto chosen = c.label > 0.5f ? c.a : c.b, other = c.label > 0.5f ? c.b : c.a;
    auto expected = persona_rationale_text(r.pk.behaviors[r.pk.text_behavior[chosen]], r.pk.text_stance[chosen],
                                           r.pk.behaviors[r.pk.text_behavior[other]], r.pk.text_stance[other]);
    CHECK(d.texts[c.rationale] == expected);
    // The same pairs and labels as without rationales (rationales draw nothing from the generator's stream).
    const auto& p = plain.pk.data.comparisons[i];
    CHECK(plain.pk.data.texts[p.a] == d.texts[c.a]);
    CHECK(p.label == c.label);
  }
  CHECK(persona_rationale_text("believes-in-gun-rights", 1, "agreeableness", -1) ==
        "Preferred a statement that agrees with believes in gun rights over one that disagrees with agreeableness.");
}

TEST_CASE("training with rationales drives the rationale loss down and leaves the saved model unchanged in shape",
          "[core][rationale]") {
  auto r = rationale_data(true);
  DatasetView view(r.pk.data, r.features);
  for (const std::string family : {"pal-b", "bt"}) {
    INFO(family);
    torch::manual_seed(0);
    auto config = family == "pal-b" ? R"({"k": 2, "dim": 16})" : R"({"hidden": [32]})";
    auto model = make_model(family, view.dims(), config);
    auto fresh = make_model(family, view.dims(), config);
    auto result = train(*model, view, quick(1.0));
    auto loss_at = [&](size_t epoch) { return plural::test::diagnostic(result.history.at(epoch), "rationale_loss"); };
    INFO("rationale loss: first epoch " << loss_at(0) << ", last " << loss_at(result.history.size() - 1));
    CHECK(loss_at(result.history.size() - 1) < 0.6 * loss_at(0));
    CHECK(model->parameters().size() == fresh->parameters().size());  // the head is not part of the model
    CHECK(model->model_id() == fresh->model_id());
    auto acc = evaluate_loss(*model, view, view.rows(Split::test, true), "bt", LossOptions{}).second;
    CHECK(acc > 0.8);
  }
}

TEST_CASE("rationale training: missing rationales and families without a representation are clear errors",
          "[core][rationale][errors]") {
  auto plain = rationale_data(false);
  DatasetView view(plain.pk.data, plain.features);
  auto model = make_model("pal-b", view.dims(), R"({"k": 2})");
  CHECK_THROWS_WITH(train(*model, view, quick(1.0)), Contains("no comparison carries a 'rationale'"));
  auto r = rationale_data(true);
  DatasetView with(r.pk.data, r.features);
  auto vpl = make_model("vpl", with.dims());
  CHECK_THROWS_WITH(train(*vpl, with, quick(1.0)), Contains("has no item representation"));
  auto bad = quick(-1.0);
  CHECK_THROWS_WITH(train(*model, view, bad), Contains("rationale_weight must be in [0, 1e+06], got -1"));
  auto linear = make_model("bt", with.dims(), R"({"hidden": []})");
  CHECK_THROWS_WITH(train(*linear, with, quick(1.0)), Contains("has no trainable parameters"));
  // Weight 0 (the default) ignores rationales: the same run, weight for weight, as on the data with them removed.
  auto stripped = r.pk.data;
  for (auto& c : stripped.comparisons) c.rationale = -1;
  DatasetView without(stripped, r.features);
  torch::manual_seed(0);
  auto m1 = make_model("pal-b", with.dims(), R"({"k": 2})");
  auto r1 = train(*m1, with, quick(0.0));
  torch::manual_seed(0);
  auto m2 = make_model("pal-b", without.dims(), R"({"k": 2})");
  train(*m2, without, quick(0.0));
  CHECK(r1.history.back().diagnostics.empty());
  auto p1 = m1->parameters(), p2 = m2->parameters();
  REQUIRE(p1.size() == p2.size());
  for (size_t i = 0; i < p1.size(); ++i) CHECK(torch::equal(p1[i], p2[i]));
}
