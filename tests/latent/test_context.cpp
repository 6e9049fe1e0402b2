#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "core/dataset_view.hpp"
#include "core/query_batch.hpp"
#include "core/train/trainer.hpp"
#include "latent/context_model.hpp"
#include "tests/gradcheck.hpp"
#include "tests/helpers.hpp"
#include "tests/quick_train.hpp"

using namespace plural::core;
using Catch::Contains;
using plural::latent::ContextConditioned;
using plural::latent::marginal_preference;

namespace {
// Reversal data: items score s(c)·vᵀx, with s = +1 under context "+" and −1 under "−"; pairs without a context
// follow "+" (the majority). The same item pairs appear under both contexts with opposite labels, so without
// reading the context a model cannot beat 50% on them.
struct ReversalData {
  PreferenceData data;
  torch::Tensor features;
};

ReversalData reversal_data(uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t items = 120, D = 8;
  ReversalData r;
  auto& d = r.data;
  d.source = "reversal";
  for (int64_t i = 0; i < items; ++i) d.texts.intern("item " + std::to_string(i));
  const int32_t plus = d.texts.intern("context: plus"), minus = d.texts.intern("context: minus");
  r.features = torch::randn({items + 2, D});
  auto v = torch::randn({D});
  auto score = torch::matmul(r.features.slice(0, 0, items), v);
  d.user_index("everyone");
  Rng rng(seed);
  for (int n = 0; n < 3000; ++n) {
    int32_t a = static_cast<int32_t>(rng.index(items)), b = static_cast<int32_t>(rng.index(items));
    if (a == b) continue;
    const double diff = score[a].item<double>() - score[b].item<double>();
    const Split split = n % 10 < 7 ? Split::train : (n % 10 < 8 ? Split::val : Split::test);
    for (int32_t ctx : {plus, minus, int32_t(-1)}) {
      Comparison c;
      c.user = 0;
      c.a = a;
      c.b = b;
      c.context = ctx;
      c.label = (ctx == minus ? -diff : diff) > 0 ? 1.f : 0.f;
      c.split = split;
      d.comparisons.push_back(c);
    }
  }
  d.validate();
  return r;
}

TrainConfig quick() { return plural::test::quick(40); }

double accuracy(const torch::Tensor& z, const torch::Tensor& label) {
  return ((z > 0) == (label > 0.5)).to(torch::kFloat64).mean().item<double>();
}
}  // namespace

TEST_CASE("context model: the context decides, swapping it flips predictions, no context follows the majority",
          "[embeddings][context]") {
  auto r = reversal_data(1);
  DatasetView view(r.data, r.features);
  REQUIRE(view.dims().context_dim == 8);
  auto test = view.rows(Split::test, true);
  std::vector<size_t> with_plus, with_minus, without;
  for (auto row : test) {
    int32_t c = r.data.comparisons[row].context;
    (c < 0 ? without : (r.data.texts[c] == "context: plus" ? with_plus : with_minus)).push_back(row);
  }
  for (std::string conditioning : {"film", "concat"}) {
    INFO(conditioning);
    torch::manual_seed(0);
    auto model = make_model("context", view.dims(), R"({"hidden": [64], "conditioning": ")" + conditioning + "\"}");
    auto* cm = dynamic_cast<ContextConditioned*>(model.get());
    REQUIRE(cm);
    train(*model, view, quick());
    model->eval();
    torch::NoGradGuard ng;
    auto bp = view.batch(with_plus), bm = view.batch(with_minus), bn = view.batch(without);
    auto zp = model->logits(bp), zm = model->logits(bm), zn = model->logits(bn);
    CHECK(accuracy(zp, bp.label) > 0.9);
    CHECK(accuracy(zm, bm.label) > 0.9);
    CHECK(accuracy(zn, bn.label) > 0.85);
    // The same item pairs under the swapped context: predictions flip.
    auto swapped = bp;
    swapped.a.context = swapped.b.context = bm.a.context.index({torch::zeros({bp.size()}, torch::kLong)});
    auto zs = model->logits(swapped);
    double flipped = ((zs > 0) != (zp > 0)).to(torch::kFloat64).mean().item<double>();
    CHECK(flipped > 0.9);
    // Marginal over contexts: a point mass is that context's σ(z); an even mix lies between.
    auto plus_c = bp.a.context[0], minus_c = bm.a.context[0];
    auto cs = torch::stack({plus_c, minus_c});
    auto m1 = marginal_preference(*cm, bp, cs, torch::tensor({1.0f, 0.0f}));
    CHECK(torch::allclose(m1, torch::sigmoid(zp), 1e-5, 1e-6));
    auto mh = marginal_preference(*cm, bp, cs, torch::tensor({0.5f, 0.5f}));
    auto expected = 0.5 * torch::sigmoid(zp) + 0.5 * torch::sigmoid(zs);
    CHECK(torch::allclose(mh, expected, 1e-5, 1e-6));
  }
}

TEST_CASE("context model: gradients agree with finite differences", "[embeddings][context]") {
  auto r = reversal_data(2);
  DatasetView view(r.data, r.features);
  for (std::string conditioning : {"film", "concat"}) {
    torch::manual_seed(3);
    auto model = make_model("context", view.dims(), R"({"hidden": [16, 16], "conditioning": ")" + conditioning + "\"}");
    model->to(torch::kFloat64);
    model->eval();
    // Non-zero FiLM maps so their gradients are exercised away from the initial point.
    {
      torch::NoGradGuard ng;
      for (auto& p : model->parameters()) p.add_(0.1 * torch::randn_like(p));
    }
    auto batch = view.batch(std::vector<size_t>{0, 1, 2, 3, 4, 5});
    for (auto* it : {&batch.a, &batch.b}) {
      it->x = it->x.to(torch::kFloat64);
      it->context = it->context.to(torch::kFloat64);
    }
    auto loss_of = [&] { return (torch::nn::functional::softplus(-model->logits(batch))).sum(); };
    CHECK(plural::test::check_parameter_gradients(*model, loss_of, conditioning) >= 8);
  }
}

TEST_CASE("context model: bad input", "[embeddings][context][errors]") {
  auto r = reversal_data(4);
  DatasetView view(r.data, r.features);
  CHECK_THROWS_WITH(make_model("context", view.dims(), R"({"conditioning": "attention"})"),
                    Contains("conditioning must be film or concat"));
  CHECK_THROWS_WITH(make_model("context", view.dims(), R"({"null_fraction": 1.5})"), Contains("null_fraction"));
  CHECK_THROWS_WITH(make_model("context", view.dims(), R"({"heads": 2})"), Contains("unknown config key 'heads'"));
  auto no_ctx = view.dims();
  no_ctx.context_dim = 0;
  CHECK_THROWS_WITH(make_model("context", no_ctx, "{}"), Contains("the data has no contexts"));
  auto model = make_model("context", view.dims(), "{}");
  auto batch = view.batch(std::vector<size_t>{0, 1});
  batch.a.context = torch::zeros({2, 5});
  CHECK_THROWS_WITH(model->logits(batch), Contains("context features must be [2, 8]"));
  auto* cm = dynamic_cast<ContextConditioned*>(model.get());
  CHECK_THROWS_WITH(
      marginal_preference(*cm, view.batch(std::vector<size_t>{0}), torch::zeros({2, 8}), torch::tensor({0.7f, 0.7f})),
      Contains("sum to 1"));
  // Items without a context (undefined tensors) use the null context rather than failing.
  auto plain = view.batch(std::vector<size_t>{0, 1});
  plain.a.context = plain.b.context = plain.a.has_context = plain.b.has_context = torch::Tensor();
  CHECK(model->logits(plain).size(0) == 2);
}

TEST_CASE(
    "context model: a user of unknown context is a posterior over the training contexts, and query asks "
    "where the contexts disagree",
    "[embeddings][context][query]") {
  auto r = reversal_data(5);
  DatasetView view(r.data, r.features);
  torch::manual_seed(0);
  auto model = make_model("context", view.dims(), R"({"hidden": [64]})");
  auto* cm = dynamic_cast<ContextConditioned*>(model.get());
  train(*model, view, quick());
  model->eval();
  REQUIRE(cm->known_contexts().size(0) == 2);  // "plus" and "minus"

  // A "minus" person whose answers arrive without their context.
  std::vector<size_t> minus_rows;
  for (auto row : view.rows(Split::test, true)) {
    int32_t c = r.data.comparisons[row].context;
    if (c >= 0 && r.data.texts[c] == "context: minus") minus_rows.push_back(row);
  }
  REQUIRE(minus_rows.size() > 60);
  auto strip = [](PairBatch b) {
    b.a.context = b.b.context = b.a.has_context = b.b.has_context = torch::Tensor();
    return b;
  };
  auto shots = strip(view.batch(std::vector<size_t>(minus_rows.begin(), minus_rows.begin() + 6)));
  auto held = strip(view.batch(std::vector<size_t>(minus_rows.begin() + 10, minus_rows.end())));
  auto adapter = make_adapter("context");
  CHECK(adapter->name() == "context-posterior");
  auto state = adapter->adapt(*model, shots, "minus person");
  auto prior = adapter->adapt(*model, shots.select(torch::zeros({0}, torch::kInt64)), "new");
  CHECK_FALSE(prior.tensors.count("weights"));  // no answers: the null context, the context-free model
  torch::NoGradGuard ng;
  const auto& known = cm->known_contexts();
  auto minus_c = view.batch(std::vector<size_t>{minus_rows[0]}).a.context[0];
  const int64_t minus_h = (known - minus_c).abs().sum(1).argmin().item<int64_t>();
  INFO("posterior weights " << state.at("weights"));
  CHECK(state.at("weights")[minus_h].item<double>() > 0.95);
  CHECK(accuracy(model->logits_for(held, state), held.label) > 0.9);
  CHECK(accuracy(model->logits_for(held, prior), held.label) < 0.2);  // the null context follows the majority

  // A state round-trips through a file.
  plural::test::TempDir tmp;
  auto path = tmp.file("ctx_state.pt");
  state.save(path);
  CHECK(torch::equal(UserState::load(path).at("weights"), state.at("weights")));

  // Query: every reversal pair splits the two contexts; an item against itself tells nothing.
  auto pool = strip(view.batch(std::vector<size_t>(minus_rows.begin() + 10, minus_rows.begin() + 40)));
  pool.b.x[0] = pool.a.x[0];
  if (pool.a.prompt.defined()) pool.b.prompt[0] = pool.a.prompt[0];
  auto bald = make_query_scorer("bald");
  auto at_prior = bald->score(*model, prior, pool);
  INFO("bald at the prior " << at_prior);
  CHECK(at_prior[0].item<double>() < 1e-4);
  CHECK(at_prior.slice(0, 1).min().item<double>() > 0.2);
  CHECK(at_prior.argmax().item<int64_t>() != 0);
  auto after = bald->score(*model, state, pool);
  CHECK(after.slice(0, 1).mean().item<double>() < 0.2 * at_prior.slice(0, 1).mean().item<double>());
  // Monte-Carlo over drawn contexts estimates the same information.
  auto mc = make_query_scorer("bald-mc", 7)->score(*model, prior, pool);
  CHECK((mc - at_prior).abs().max().item<double>() < 0.1);
  CHECK_THROWS_WITH(make_query_scorer("dopt")->score(*model, prior, pool), Contains("Gaussian user posterior"));
  // A batch: once one reversal pair is answered her context is known, and every other pair tells little more.
  auto prepared = prepare_pool(*model, pool);
  for (std::string name : {"bald", "epig"}) {
    INFO(name);
    auto scorer = make_query_scorer(name, 1);
    auto scores = scorer->score(*model, prior, prepared);
    auto batch = choose_batch(*model, prior, prepared, *scorer, scores, 3);
    REQUIRE(batch.order.size() == 3);
    CHECK(batch.order[0] == scores.argmax().item<int64_t>());
    CHECK(batch.gain[1] < 0.3 * batch.gain[0]);
    CHECK(choose_top(scores, 3).gain[1] > 0.8 * batch.gain[0]);  // the top 3 ask the same question three times
  }

  // The training contexts are saved with the model.
  auto file = tmp.file("ctx_model.pt");
  save_model(*model, file, "test-encoder");
  auto loaded = load_model(file);
  CHECK(torch::equal(dynamic_cast<ContextConditioned&>(*loaded).known_contexts(), known));
}
