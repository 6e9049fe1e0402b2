#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <sstream>

#include "core/base/error.hpp"
#include "core/data/persona_k.hpp"
#include "core/dataset_view.hpp"
#include "core/eval/evaluator.hpp"
#include "core/train/trainer.hpp"
#include "mixture/pal.hpp"
#include "mixture/row_gemm.hpp"
#include "tests/helpers.hpp"
#include "tests/persona_fixture.hpp"
#include "tests/quick_train.hpp"

using namespace plural::core;
using namespace plural::mixture;
using Catch::Contains;

namespace {
using plural::test::persona_fixture;
plural::test::PersonaFixture persona(uint64_t seed, int k_star) { return persona_fixture(seed, k_star); }

TrainConfig quick(int epochs) {
  auto t = plural::test::quick(epochs);
  t.user_lr = 5e-2;
  return t;
}
}  // namespace

TEST_CASE("projector spec strings and parameter counts match the reference", "[mixture]") {
  Projector p(512, 512, ProjectorSpec::parse("mlp2-gelu-dropout0"));
  int64_t n = 0;
  for (const auto& t : p->parameters()) n += t.numel();
  CHECK(n == 787968);  // 3(d² + d), d = 512 (pal_vpl.md §2.3)
  auto s = ProjectorSpec::parse("mlp2-relu-dropout5-residual");
  CHECK(s.dropout == Approx(0.5));
  CHECK(s.residual);
  CHECK(ProjectorSpec::parse("mlp1-linear-dropout25-nobias").dropout == Approx(0.25));
  CHECK_THROWS_WITH(ProjectorSpec::parse("mlp2-swish-dropout0"), Contains("expected mlp{L}"));
  CHECK_THROWS_WITH(Projector(4, 8, ProjectorSpec::parse("mlp1-gelu-dropout0-residual")), Contains("-residual"));
}

TEST_CASE("a projector bank computes each projector's forward, gradients and dropout as they would alone",
          "[mixture]") {
  for (std::string spec : {"mlp2-gelu-dropout3", "mlp1-relu-dropout0-residual", "mlp0-linear-dropout0-nobias",
                           "mlp2-gelu-dropout0-batchnorm"}) {
    INFO(spec);
    torch::manual_seed(4);
    ProjectorBank bank(3, 6, 6, ProjectorSpec::parse(spec));
    auto x = torch::randn({5, 6});
    for (bool training : {false, true}) {
      if (training && spec.find("batchnorm") == std::string::npos) continue;  // dropout: different masks
      INFO("training " << training);
      bank->train(training);
      auto alone = bank->unstack();
      auto got = bank->forward(x);
      REQUIRE(got.sizes() == torch::IntArrayRef({5, 3, 6}));
      std::vector<torch::Tensor> each;
      for (auto& p : alone) each.push_back(p->forward(x));
      auto want = torch::stack(each, 1);
      CHECK(torch::allclose(got, want, 1e-5, 1e-6));
      // Every weight's gradient is the stacked gradients of the projectors' own.
      auto probe = torch::randn({5, 3, 6});
      auto ours = torch::autograd::grad({(got * probe).sum()}, bank->parameters());
      (want * probe).sum().backward();
      {  // the projectors' gradients as their weights, stacked by assign() in the bank's layout
        torch::NoGradGuard ng;
        for (auto& p : alone)
          for (auto& t : p->parameters()) t.copy_(t.grad());
      }
      ProjectorBank theirs(3, 6, 6, ProjectorSpec::parse(spec));
      theirs->assign({alone[0].get(), alone[1].get(), alone[2].get()});
      REQUIRE(ours.size() == theirs->parameters().size());
      for (size_t t = 0; t < ours.size(); ++t) CHECK(torch::allclose(ours[t], theirs->parameters()[t], 1e-4, 1e-5));
    }
  }
  // Identical projectors: equal outputs in eval; different ones when training with dropout (own masks per
  // projector and per row).
  torch::manual_seed(5);
  ProjectorBank bank(3, 64, 64, ProjectorSpec::parse("mlp1-linear-dropout3"));
  auto alone = bank->unstack();
  bank->assign({alone[0].get(), alone[0].get(), alone[0].get()});
  auto x = torch::randn({200, 64});
  bank->eval();
  auto e = bank->forward(x);
  // Equal up to float rounding: OpenBLAS's Zen kernels round the bank's slices differently (1.8e-7 seen), which
  // failed the default absolute tolerance of 1e-8 on outputs near zero.
  CHECK(torch::allclose(e.select(1, 0), e.select(1, 2), 1e-5, 1e-6));
  bank->train();
  auto y = bank->forward(x);
  CHECK(!torch::allclose(y.select(1, 0), y.select(1, 1)));
  CHECK_THROWS_WITH(bank->assign({alone[0].get()}), Contains("1 projectors for a bank of 3"));
}

TEST_CASE("a frozen projector's inference copy computes the projector in eval mode", "[mixture]") {
  for (std::string spec : {"mlp2-gelu-dropout3", "mlp1-relu-dropout0-residual", "mlp0-linear-dropout0-nobias",
                           "mlp2-gelu-dropout0-batchnorm", "mlp1-linear-dropout5-batchnorm-nobias"}) {
    INFO(spec);
    torch::manual_seed(6);
    Projector p(12, 12, ProjectorSpec::parse(spec));
    p->train();
    for (int i = 0; i < 3; ++i) p->forward(torch::randn({16, 12}) * 2 + 1);  // batchnorm: running statistics ≠ 0, 1
    auto x = torch::randn({7, 12});
    FrozenProjector frozen(*p);  // built from a module in training mode: still the eval-mode function
    p->eval();
    torch::NoGradGuard ng;
    auto want = p->forward(x).contiguous();
    std::vector<float> got(7 * 12);
    frozen.forward(x.data_ptr<float>(), 7, got.data());
    CHECK(torch::allclose(torch::from_blob(got.data(), {7, 12}), want, 1e-5, 1e-5));
  }
}

TEST_CASE("packed weights add X·Wᵀ as a double-precision product would, rows given by pointer", "[mixture]") {
  // Every shape class of the panel kernel (whole 16-column panels, a zero-padded last panel, 1–6 rows per block and
  // their leftovers, more rows than one L2 chunk, enough work to split over threads, triangular weights), rows taken
  // in reverse order from scattered memory; and the sgemm layout that runs without AVX2.
  using Layout = plural::mixture::PackedWeights::Layout;
  std::vector<Layout> layouts = {Layout::plain};
  if (plural::mixture::panel_kernel_available()) layouts.push_back(Layout::panels);
  torch::manual_seed(4);
  for (int64_t rows : {1, 2, 3, 5, 6, 7, 13, 38, 250})
    for (int64_t k : {1, 5, 384})
      for (int64_t n : {1, 7, 8, 15, 16, 17, 64, 70})
        for (bool triangle : {false, true}) {  // a lower-triangular Wᵀ: panels start at their first nonzero row
          INFO("rows " << rows << " k " << k << " n " << n << " triangle " << triangle);
          auto x = torch::randn({rows, k + 3}), wt = torch::randn({k, n}), y0 = torch::randn({rows, n});
          if (triangle) wt = wt.tril().contiguous();
          std::vector<const float*> row(static_cast<size_t>(rows));
          for (int64_t r = 0; r < rows; ++r)
            row[static_cast<size_t>(r)] = x.data_ptr<float>() + (rows - 1 - r) * (k + 3) + 2;
          auto xr = x.flip(0).narrow(1, 2, k).to(torch::kFloat64);
          auto want = y0.to(torch::kFloat64) + xr.matmul(wt.to(torch::kFloat64));
          for (auto layout : layouts) {
            auto y = y0.clone();
            plural::mixture::PackedWeights w(wt.data_ptr<float>(), k, n, layout);
            CHECK((w.k() == k && w.n() == n));
            w.add_rows_times(row.data(), rows, y.data_ptr<float>());
            CHECK((y.to(torch::kFloat64) - want).abs().max().item<double>() < 1e-4 * std::sqrt(double(k)));
          }
        }
}

TEST_CASE("a frozen projector with a split input: the q-part per distinct q, then each row's f([x; q])", "[mixture]") {
  for (std::string spec :
       {"mlp2-gelu-dropout3", "mlp3-relu-dropout0-batchnorm", "mlp0-linear-dropout0", "mlp1-gelu-dropout0-nobias"}) {
    INFO(spec);
    torch::manual_seed(8);
    Projector p(20, 12, ProjectorSpec::parse(spec));
    p->train();
    for (int i = 0; i < 3; ++i) p->forward(torch::randn({16, 20}) * 2 + 1);
    p->eval();
    torch::NoGradGuard ng;
    auto x = torch::randn({7, 14}), q = torch::randn({3, 6});
    std::vector<int64_t> share_row = {2, 0, 0, 1, 2, 2, 0};
    auto want = p->forward(torch::cat({x, q.index_select(0, torch::tensor(share_row))}, 1)).contiguous();
    FrozenProjector whole(*p), split(*p, 14);
    CHECK(split.split_at() == 14);
    std::vector<float> share(3 * split.first_out()), got(7 * 12), got_whole(7 * 12);
    split.first_share(q.data_ptr<float>(), 3, share.data());
    split.forward_split(x.data_ptr<float>(), 7, share.data(), share_row.data(), got.data());
    CHECK(torch::allclose(torch::from_blob(got.data(), {7, 12}), want, 1e-5, 1e-5));
    auto xq = torch::cat({x, q.index_select(0, torch::tensor(share_row))}, 1).contiguous();
    whole.forward(xq.data_ptr<float>(), 7, got_whole.data());  // in ≠ out, and up to four layers
    CHECK(torch::allclose(torch::from_blob(got_whole.data(), {7, 12}), want, 1e-5, 1e-5));
    CHECK_THROWS_WITH(split.forward(xq.data_ptr<float>(), 7, got.data()), Contains("needs forward_split"));
  }
  Projector residual(12, 12, ProjectorSpec::parse("mlp1-relu-dropout0-residual"));
  CHECK_THROWS_WITH(FrozenProjector(*residual, 6), Contains("cannot be residual"));
}

TEST_CASE("PAL-A's and PAL-B's frozen geometry equals the one built from LibTorch ops", "[mixture][adapter]") {
  auto f = persona(3, 2);
  DatasetView view(f.pk.data, f.features);
  for (auto [family, config] : std::vector<std::pair<std::string, std::string>>{
           {"pal-a", R"({"k": 3})"},
           {"pal-a", R"({"k": 4, "proj": "mlp1-gelu-dropout0-batchnorm", "dim": 16})"},
           {"pal-a", R"({"k": 2, "use_prompt": false})"},
           {"pal-a", R"({"k": 3, "variant": "Pw", "dim": 8})"},
           {"pal-a", R"({"k": 2, "use_prompt": false, "proj": "mlp1-relu-dropout0-residual"})"},  // no hidden head
           {"pal-a", R"({"k": 3, "proj": "mlp0-linear-dropout0", "dim": 12})"},
           {"pal-b", R"({"k": 3})"},
           {"pal-b", R"({"k": 5, "proj": "mlp1-gelu-dropout0-batchnorm", "dim": 20})"},
           {"pal-b", R"({"k": 2, "proj": "mlp0-linear-dropout0", "dim": 0})"}}) {
    INFO(family << " " << config);
    torch::manual_seed(9);
    auto model = make_model(family, view.dims(), config);
    train(*model, view, quick(2));
    auto support = view.rows(Split::support, false);
    auto sb = view.batch(std::vector<size_t>(support.begin(), support.begin() + 9));
    // Several prompts, one of them on both sides and not in consecutive rows.
    sb.a.prompt = sb.a.prompt.clone();
    sb.b.prompt = sb.b.prompt.clone();
    auto other = torch::randn({sb.a.prompt.size(1)});
    sb.a.prompt[2] = other;
    sb.b.prompt[6] = other;
    sb.b.prompt[7] = torch::randn({sb.a.prompt.size(1)});
    auto* mixture = dynamic_cast<MixtureModel*>(model.get());
    model->eval();
    std::unique_ptr<ShotGeometry> frozen, ops;
    {
      torch::NoGradGuard ng;
      frozen = mixture->geometry(sb);  // frozen: eval mode, no autograd
    }
    ops = mixture->geometry(sb);  // autograd on: the LibTorch path
    Eigen::VectorXd w = Eigen::VectorXd::LinSpaced(mixture->K(), 1.0, 2.0);
    w /= w.sum();
    Eigen::VectorXd z1, z2;
    Eigen::MatrixXd d1, d2;
    frozen->eval(w, z1, d1);
    ops->eval(w, z2, d2);
    CHECK((z1 - z2).cwiseAbs().maxCoeff() < 1e-4);
    CHECK((d1 - d2).cwiseAbs().maxCoeff() < 1e-4);
    // And against the model in double precision, the frozen path is at least as close as LibTorch's float path
    // (PAL-A's distance head works relative to the ideal points' centroid, where the float terms are small).
    auto sd = sb;
    for (auto* side : {&sd.a, &sd.b}) {
      side->x = side->x.to(torch::kFloat64);
      side->prompt = side->prompt.to(torch::kFloat64);
    }
    model->to(torch::kFloat64);
    Eigen::VectorXd z3;
    Eigen::MatrixXd d3;
    mixture->geometry(sd)->eval(w, z3, d3);
    CHECK((z1 - z3).cwiseAbs().maxCoeff() <= 1.5 * (z2 - z3).cwiseAbs().maxCoeff() + 1e-6);
    CHECK((d1 - d3).cwiseAbs().maxCoeff() <= 1.5 * (d2 - d3).cwiseAbs().maxCoeff() + 1e-6);
  }
}

TEST_CASE("PAL-B files saved before the prompt-projector bank load into the same model", "[mixture]") {
  auto f = persona(3, 2);
  DatasetView view(f.pk.data, f.features);
  torch::manual_seed(7);
  auto saved = make_model("pal-b", view.dims(), R"({"k": 3})");
  // The older layout: the model as it is saved now, but "g" a list of K separate projectors.
  torch::serialize::OutputArchive ar;
  for (auto& p : saved->named_parameters(/*recurse=*/false)) ar.write(p.key(), p.value());
  for (auto& c : saved->named_children()) {
    torch::serialize::OutputArchive sub;
    if (c.key() == "g") {
      torch::nn::ModuleList list;
      for (auto& p : c.value()->as<ProjectorBankImpl>()->unstack()) list->push_back(p);
      list->save(sub);
    } else {
      c.value()->save(sub);
    }
    ar.write(c.key(), sub);
  }
  std::stringstream bytes;
  ar.save_to(bytes);
  torch::manual_seed(8);
  auto loaded = make_model("pal-b", view.dims(), R"({"k": 3})");
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  loaded->load(in);
  saved->eval();
  loaded->eval();
  torch::NoGradGuard ng;
  auto batch = view.batch(std::vector<size_t>{0, 1, 2, 3, 4});
  CHECK(torch::allclose(loaded->logits(batch), saved->logits(batch), 1e-6, 1e-6));
  for (size_t i = 0; i < saved->parameters().size(); ++i)
    CHECK(torch::equal(loaded->parameters()[i], saved->parameters()[i]));
}

TEST_CASE("mixture geometry derivatives agree with finite differences of the model's logits", "[mixture]") {
  auto f = persona(3, 2);
  DatasetView view(f.pk.data, f.features);
  // PAL-B twice: shots sharing one prompt (one shared Gram matrix) and shots with a prompt each.
  // PAL-A in its linear variant and in the original's f(Σ w_k p_k).
  for (std::string family : {"pal-b", "pal-b/prompts", "pal-a", "pal-a/f(Pw)", "lore"}) {
    const bool vary_prompts = family == "pal-b/prompts";
    std::string config = R"({"k": 3})";
    if (vary_prompts) family = "pal-b";
    if (family == "pal-a/f(Pw)") {
      family = "pal-a";
      config = R"j({"k": 3, "variant": "f(Pw)"})j";
    }
    torch::manual_seed(1);
    auto m = std::dynamic_pointer_cast<MixtureModel>(make_model(family, view.dims(), config));
    REQUIRE(m);
    m->eval();
    torch::NoGradGuard ng;
    auto shots = view.batch(std::vector<size_t>{0, 1, 2, 3, 4});
    if (vary_prompts) {
      shots.a.prompt = torch::randn_like(shots.a.prompt);
      shots.b.prompt = shots.a.prompt.clone();
    }
    auto geo = m->geometry(shots);
    Eigen::VectorXd w(3);
    w << 0.2, 0.5, 0.3;
    Eigen::VectorXd z;
    Eigen::MatrixXd dz;
    geo->eval(w, z, dz);
    auto logits_at = [&](const Eigen::VectorXd& v) {
      auto wt = torch::tensor({v[0], v[1], v[2]}, torch::kFloat64).to(torch::kFloat32);
      return (m->reward_weights(shots.a, wt) - m->reward_weights(shots.b, wt)).to(torch::kFloat64);
    };
    auto z_model = logits_at(w);
    for (int i = 0; i < 5; ++i) CHECK(z[i] == Approx(z_model[i].item<double>()).margin(1e-4));
    for (int k = 0; k < 3; ++k) {
      Eigen::VectorXd wp = w, wm = w;
      wp[k] += 1e-3;
      wm[k] -= 1e-3;
      auto fd = (logits_at(wp) - logits_at(wm)) / 2e-3;
      for (int i = 0; i < 5; ++i) {
        INFO(family << config << (vary_prompts ? " (a prompt per shot)" : "") << " shot " << i << " dim " << k);
        CHECK(dz(i, k) == Approx(fd[i].item<double>()).margin(2e-2).epsilon(2e-2));
      }
    }
    // The weighted curvature Σ r_i ∇²z_i against central differences of dzᵀr (the geometry in float64).
    Eigen::VectorXd r(5);
    r << 0.3, -0.7, 0.5, 1.1, -0.2;
    Eigen::MatrixXd H;
    geo->weighted_hessian(w, r, H);
    for (int k = 0; k < 3; ++k) {
      Eigen::VectorXd wp = w, wm = w, zp, zm;
      Eigen::MatrixXd dzp, dzm;
      wp[k] += 1e-5;
      wm[k] -= 1e-5;
      geo->eval(wp, zp, dzp);
      geo->eval(wm, zm, dzm);
      Eigen::VectorXd col = (dzp - dzm).transpose() * r / 2e-5;
      for (int j = 0; j < 3; ++j) {
        INFO(family << config << (vary_prompts ? " (a prompt per shot)" : "") << " curvature " << j << "," << k);
        CHECK(H(j, k) == Approx(col[j]).margin(1e-5).epsilon(1e-5));
      }
    }
  }
}

TEST_CASE("a frozen PAL model remembers its shared parts: the same rewards, refreshed when a weight changes",
          "[mixture]") {
  // Frozen (eval, no autograd): PAL-A remembers f(P) and each prompt's share of f's first layer, PAL-B each
  // prompt's g_k. The reference is the same model in eval mode with autograd on, which computes everything.
  auto f = persona(3, 2);
  DatasetView view(f.pk.data, f.features);
  for (std::string family : {"pal-a", "pal-b"}) {
    INFO(family);
    torch::manual_seed(2);
    auto m = std::dynamic_pointer_cast<MixtureModel>(make_model(family, view.dims(), R"({"k": 3})"));
    REQUIRE(m);
    m->eval();
    auto items = view.batch(std::vector<size_t>{0, 1, 2, 3, 4, 5}).a;
    items.prompt = items.prompt.clone();
    items.prompt[1] = torch::randn({items.prompt.size(1)});  // three distinct prompts, one of them twice
    items.prompt[4] = items.prompt[1].clone();
    items.prompt[5] = torch::randn({items.prompt.size(1)});
    auto w = torch::tensor({0.2f, 0.5f, 0.3f});
    auto computed = [&] { return m->reward_weights(items, w).detach(); };
    auto frozen = [&] {
      torch::NoGradGuard ng;
      return m->reward_weights(items, w);
    };
    auto first = frozen();
    CHECK(torch::allclose(first, computed(), 1e-5, 1e-5));
    CHECK(torch::equal(frozen(), first));  // from the memo
    {
      torch::NoGradGuard ng;
      for (auto& p : m->parameters()) p.add_(0.05 * torch::randn_like(p));
    }
    auto updated = frozen();
    CHECK(torch::allclose(updated, computed(), 1e-5, 1e-5));
    CHECK(!torch::allclose(updated, first, 1e-3, 1e-3));
  }
}

TEST_CASE("distinct prompt rows: merged by content, never across a training batch's two sides", "[mixture]") {
  auto p = torch::randn({2, 5});
  auto rows = torch::stack({p[0], p[1], p[0], p[0], p[1], p[1]});  // side a: p0 p1 p0, side b: p0 p1 p1
  auto one = distinct_rows(rows);
  CHECK(one.first == std::vector<int64_t>{0, 1});
  CHECK(torch::equal(one.inverse, torch::tensor({0, 1, 0, 0, 1, 1}, torch::kInt64)));
  // Per side (training): side b's rows get their own entries, so each side draws its own dropout masks.
  auto two = distinct_rows(rows, 2);
  CHECK(two.first == std::vector<int64_t>{0, 1, 3, 4});
  CHECK(torch::equal(two.inverse, torch::tensor({0, 1, 0, 2, 3, 3}, torch::kInt64)));
  CHECK_THROWS_WITH(distinct_rows(torch::randn({5, 2}), 2), Contains("5 rows do not split into 2 groups"));
  // By pointer: a repeated pointer, an equal row elsewhere in memory, and a row that differs in its last float.
  std::vector<float> a = {1, 2, 3}, b = {1, 2, 3}, c = {1, 2, 4};
  std::vector<const float*> ptr = {a.data(), a.data(), b.data(), c.data(), a.data()};
  auto raw = distinct_rows(ptr.data(), 5, 3);
  CHECK(raw.index == std::vector<int64_t>{0, 0, 0, 1, 0});
  CHECK(raw.first == std::vector<int64_t>{0, 3});
  CHECK(distinct_rows(ptr.data(), 4, 3, 2).index == std::vector<int64_t>{0, 0, 1, 2});
}

TEST_CASE("PAL-B on Persona-K: beats BT, recovers the planted prototypes, adapts unseen users", "[mixture][pal]") {
  auto f = persona(5, 2);
  DatasetView view(f.pk.data, f.features);
  torch::manual_seed(0);
  auto bt = make_model("bt", view.dims(), R"({"hidden": []})");
  train(*bt, view, quick(30));
  torch::manual_seed(0);
  auto pal = make_model("pal-b", view.dims(), R"({"k": 2, "proj": "mlp1-gelu-dropout0"})");
  train(*pal, view, quick(30));
  EvalConfig ec;
  ec.shots = {0, 20};
  auto cb = evaluate_grid(*bt, view, ec), cp = evaluate_grid(*pal, view, ec);
  INFO("seen: bt " << cb[0].pairs.accuracy << ", pal-b " << cp[0].pairs.accuracy);
  CHECK(cp[0].pairs.accuracy > cb[0].pairs.accuracy + 0.05);
  INFO("unseen pal-b: 0 shots " << cp[1].pairs.accuracy << ", 20 shots " << cp[2].pairs.accuracy);
  CHECK(cp[2].pairs.accuracy > cp[1].pairs.accuracy + 0.05);
  // Each seen user's argmax prototype matches its planted group, up to relabelling the two prototypes.
  auto& m = dynamic_cast<MixtureModel&>(*pal);
  auto learned = m.theta().argmax(1);
  int same = 0, n = 0;
  for (size_t u = 0; u < f.pk.data.users.size(); ++u) {
    if (!f.pk.data.users[u].seen) continue;
    same += learned[n].item<int64_t>() == f.pk.data.users[u].group;
    ++n;
  }
  double agreement = std::max(same, n - same) / double(n);
  CHECK(agreement > 0.9);
}

TEST_CASE("Newton adapter: fast, leaves shared weights bit-identical, agrees with the AdamW procedure",
          "[mixture][adapter]") {
  auto f = persona(7, 2);
  DatasetView view(f.pk.data, f.features);
  torch::manual_seed(0);
  auto pal = make_model("pal-b", view.dims(), R"({"k": 2, "proj": "mlp1-gelu-dropout0"})");
  train(*pal, view, quick(20));
  std::vector<torch::Tensor> before, grads_before;
  for (auto& t : pal->parameters()) {
    before.push_back(t.clone());
    grads_before.push_back(t.grad().defined() ? t.grad().clone() : torch::Tensor());
  }
  auto newton = make_adapter("pal-b"), adamw = make_adapter("pal-b", "adamw");
  CHECK(newton->name() == "newton");
  auto support = view.rows(Split::support, false), test = view.rows(Split::test, false);
  // The first unseen user: 20 shots, scored on their own test pairs.
  int32_t user = f.pk.data.comparisons[support[0]].user;
  std::vector<size_t> shots, tests;
  for (auto r : support)
    if (f.pk.data.comparisons[r].user == user && shots.size() < 20) shots.push_back(r);
  for (auto r : test)
    if (f.pk.data.comparisons[r].user == user) tests.push_back(r);
  auto sb = view.batch(shots), tb = view.batch(tests);
  auto t0 = std::chrono::steady_clock::now();
  auto s_newton = newton->adapt(*pal, sb, "new");
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  auto s_adamw = adamw->adapt(*pal, sb, "new");
  auto after = pal->parameters();
  for (size_t i = 0; i < before.size(); ++i) CHECK(torch::equal(before[i], after[i]));
  for (size_t i = 0; i < before.size(); ++i) {  // nor their gradients (the AdamW path differentiates θ only)
    const auto& g = after[i].grad();
    CHECK(g.defined() == grads_before[i].defined());
    if (g.defined()) CHECK(torch::equal(g, grads_before[i]));
  }
  auto zn = score_pairs(*pal, tb, &s_newton), za = score_pairs(*pal, tb, &s_adamw);
  double agree = ((zn > 0) == (za > 0)).to(torch::kFloat64).mean().item<double>();
  double acc_n = ((zn > 0) == (tb.label > 0.5)).to(torch::kFloat64).mean().item<double>();
  double acc_a = ((za > 0) == (tb.label > 0.5)).to(torch::kFloat64).mean().item<double>();
  INFO("newton acc " << acc_n << " (" << ms << " ms), adamw acc " << acc_a << ", agreement " << agree);
  CHECK(agree > 0.85);
  CHECK(acc_n >= acc_a - 0.02);
  CHECK(s_newton.at("cov").size(0) == 2);
  CHECK(ms < 50);  // generous: the benchmark measures the sub-millisecond claim
}

TEST_CASE("AdamW procedure: each user starts from her own draw of θ, the same one every time", "[mixture][adapter]") {
  auto f = persona(3, 2);
  DatasetView view(f.pk.data, f.features);
  torch::manual_seed(0);
  auto pal = make_model("pal-b", view.dims(), R"({"k": 4, "proj": "mlp1-gelu-dropout0"})");
  auto sb = view.batch(std::vector<size_t>{view.rows(Split::support, false)[0]});
  // lr ~0: θ stays at its initial draw.
  auto start = make_adapter("pal-b", "adamw", R"({"lr": 1e-12, "epochs": 1})");
  auto a1 = start->adapt(*pal, sb, "alice").at("theta"), a2 = start->adapt(*pal, sb, "alice").at("theta");
  auto b = start->adapt(*pal, sb, "bob").at("theta");
  CHECK(torch::equal(a1, a2));
  CHECK_FALSE(torch::allclose(a1, b));
  auto other_seed = make_adapter("pal-b", "adamw", R"({"lr": 1e-12, "epochs": 1, "seed": 1})");
  CHECK_FALSE(torch::allclose(a1, other_seed->adapt(*pal, sb, "alice").at("theta")));
}

TEST_CASE("Newton adapter converges quadratically: a handful of iterations reach the optimum", "[mixture][adapter]") {
  // Fisher scoring alone needed ~50 iterations here (error ~0.3 in θ after 10); Newton needs about 10.
  auto f = persona(3, 3);
  DatasetView view(f.pk.data, f.features);
  torch::manual_seed(0);
  for (std::string variant : {"pal-b", "f(P)w", "f(Pw)"}) {
    std::string family = variant == "pal-b" ? "pal-b" : "pal-a";
    auto pal =
        make_model(family, view.dims(),
                   family == "pal-b" ? R"({"k": 8, "proj": "mlp1-gelu-dropout0"})"
                                     : R"({"k": 8, "proj": "mlp1-gelu-dropout0", "variant": ")" + variant + "\"}");
    train(*pal, view, quick(5));
    auto exact = make_adapter(family, "newton", R"({"max_iter": 500, "tol": 1e-10})");
    auto few = make_adapter(family, "newton", R"({"max_iter": 12})");
    auto support = view.rows(Split::support, false);
    std::vector<size_t> shots(support.begin(), support.begin() + 50);
    auto sb = view.batch(shots);
    auto a = exact->adapt(*pal, sb, "u"), b = few->adapt(*pal, sb, "u");
    double err = (a.at("theta") - b.at("theta")).abs().max().item<double>();
    INFO(variant << ": max |θ(12 iterations) − θ*| = " << err);
    CHECK(err < 1e-4);
  }
}

TEST_CASE("mixture models: bad input gives clear errors or defined results", "[mixture][errors]") {
  auto f = persona(9, 2);
  DatasetView view(f.pk.data, f.features);
  CHECK_THROWS_WITH(make_model("pal-b", view.dims(), R"({"k": 0})"), Contains("'k' must be in [1, 256], got 0"));
  CHECK_THROWS_WITH(make_model("pal-a", view.dims(), R"({"variant": "f(Pw)x"})"), Contains("variant must be"));
  auto k2 = make_model("pal-b", view.dims(), R"({"k": 2})");
  auto k3 = make_model("pal-b", view.dims(), R"({"k": 3})");
  auto items = view.batch(std::vector<size_t>{0}).a;
  CHECK_THROWS_WITH(k3->reward(items, k2->seen_state(0)), Contains("belongs to model"));
  auto adapter = make_adapter("pal-b");
  auto empty = adapter->adapt(*k2, PairBatch{}, "nobody");  // no shots: the prior
  CHECK(torch::equal(empty.at("theta"), torch::zeros({2})));
  auto shots = view.batch(std::vector<size_t>{0, 1});
  shots.a.x[0][0] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(adapter->adapt(*k2, shots, "nan"), Contains("NaN"));
  auto pal_a = make_model("pal-a", view.dims(), R"({"k": 2})");  // its own frozen forward, checked the same way
  CHECK_THROWS_WITH(make_adapter("pal-a")->adapt(*pal_a, shots, "nan"), Contains("NaN"));
  // Fewer item or prompt rows than labels: an error before any raw buffer is read.
  auto ragged = view.batch(std::vector<size_t>{0, 1, 2});
  ragged.b.x = ragged.b.x.narrow(0, 0, 2);
  CHECK_THROWS_WITH(adapter->adapt(*k2, ragged, "r"), Contains("3 labels but 3 and 2 item rows"));
  CHECK_THROWS_WITH(make_adapter("pal-a")->adapt(*pal_a, ragged, "r"), Contains("3 labels but 3 and 2 item rows"));
  ragged = view.batch(std::vector<size_t>{0, 1, 2});
  ragged.a.prompt = ragged.a.prompt.narrow(0, 0, 1);
  CHECK_THROWS_WITH(adapter->adapt(*k2, ragged, "r"), Contains("3 labels but 1 and 3 prompt rows"));
  CHECK_THROWS_WITH(make_adapter("pal-a")->adapt(*pal_a, ragged, "r"), Contains("3 labels but 1 and 3 prompt rows"));
  CHECK_THROWS_WITH(make_adapter("pal-b", "sgd"), Contains("no adapter 'sgd'"));
}
