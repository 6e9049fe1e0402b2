#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/base/error.hpp"
#include "core/model.hpp"
#include "core/train/losses.hpp"
#include "core/train/trainer.hpp"

using namespace plural::core;
using Catch::Contains;

namespace {
double loss(const std::string& name, std::vector<float> z, std::vector<float> y, std::vector<float> w = {},
            LossOptions o = {}) {
  if (w.empty()) w.assign(z.size(), 1.f);
  return get_loss(name)(torch::tensor(z), torch::tensor(y), torch::tensor(w), o).item<double>();
}
double sp(double x) { return std::log1p(std::exp(x)); }  // softplus
}  // namespace

TEST_CASE("losses match hand-computed values", "[core][losses]") {
  // bt: -log σ(s·z); labels 1, 0 and a tie (weight 0).
  CHECK(loss("bt", {2.0f, 0.5f, 3.f}, {1.f, 0.f, 0.5f}) == Approx((sp(-2.0) + sp(0.5)) / 2).epsilon(1e-6));
  // soft-bce: softplus(z) - y z
  CHECK(loss("soft-bce", {1.0f, -2.f}, {0.7f, 0.5f}) == Approx((sp(1.0) - 0.7 + sp(-2.0) + 1.0) / 2).epsilon(1e-6));
  // label smoothing with ε = 0.1: target 0.9 for a preferred a
  LossOptions o;
  o.smoothing = 0.1;
  CHECK(loss("label-smoothing", {1.5f}, {1.f}, {}, o) == Approx(sp(1.5) - 0.9 * 1.5).epsilon(1e-6));
  o.margin = 0.5;
  CHECK(loss("margin", {1.0f, 1.0f}, {1.f, 0.f}, {}, o) ==
        Approx((sp(-(1.0 - 0.5)) + sp(-(-1.0 - 0.5))) / 2).epsilon(1e-6));
  o.hinge_margin = 1.0;
  CHECK(loss("hinge", {0.25f, 3.f, -0.5f}, {1.f, 1.f, 0.f}, {}, o) == Approx((0.75 + 0 + 0.5) / 3).epsilon(1e-6));
  // thurstone: -log Φ(z); Φ(0) = 0.5
  CHECK(loss("thurstone", {0.f}, {1.f}) == Approx(std::log(2.0)).epsilon(1e-6));
  // ipo with τ = 0.25: (z − (y − ½)/τ)²; a tie's target is 0 and it counts
  o.ipo_tau = 0.25;
  CHECK(loss("ipo", {1.0f, 0.5f}, {1.f, 0.5f}, {}, o) == Approx((1.0 + 0.25) / 2).epsilon(1e-6));
  // weights: a weighted mean
  CHECK(loss("bt", {1.f, -1.f}, {1.f, 1.f}, {3.f, 1.f}) == Approx((3 * sp(-1.0) + sp(1.0)) / 4).epsilon(1e-6));
}

TEST_CASE("loss gradients agree with finite differences", "[core][losses]") {
  for (const auto& name : {"bt", "soft-bce", "label-smoothing", "margin", "thurstone", "ipo"}) {
    auto z = torch::tensor({0.3, -1.2, 2.0, 0.7}, torch::kFloat64).requires_grad_(true);
    auto y = torch::tensor({1.0, 0.0, 0.8, 1.0}, torch::kFloat64);
    auto w = torch::tensor({1.0, 2.0, 0.5, 1.0}, torch::kFloat64);
    LossOptions o;
    o.margin = 0.3;
    const auto& fn = get_loss(name);
    fn(z, y, w, o).backward();
    for (int i = 0; i < 4; ++i) {
      double h = 1e-6;
      auto zp = z.detach().clone(), zm = z.detach().clone();
      zp[i] += h;
      zm[i] -= h;
      double fd = (fn(zp, y, w, o).item<double>() - fn(zm, y, w, o).item<double>()) / (2 * h);
      INFO(name << " component " << i);
      CHECK(z.grad()[i].item<double>() == Approx(fd).margin(1e-6));
    }
  }
}

TEST_CASE("unknown loss names and bad options are errors", "[core][losses][errors]") {
  CHECK_THROWS_WITH(get_loss("dpo"), Contains("unknown loss 'dpo'") && Contains("soft-bce"));
  LossOptions o;
  o.smoothing = 0.7;
  CHECK_THROWS_AS(o.validate(), plural::ValueError);
}

TEST_CASE("loss_weights: what each loss averages over", "[core][losses]") {
  auto y = torch::tensor({1.f, 0.5f, 0.f}), w = torch::tensor({2.f, 3.f, 1.f});
  CHECK(loss_weights("bt", y, w).sum().item<double>() == Approx(3.0));  // the tie weighs 0
  CHECK(loss_weights("hinge", y, w).sum().item<double>() == Approx(3.0));
  CHECK(loss_weights("soft-bce", y, w).sum().item<double>() == Approx(6.0));
  CHECK(loss_weights("ipo", y, w).sum().item<double>() == Approx(6.0));
  // Consistency: a loss's mean times its weight sum is additive over a split of the batch.
  auto z = torch::tensor({0.4f, -0.3f, 1.2f});
  for (const auto& name : {"bt", "soft-bce", "ipo"}) {
    LossOptions o;
    const auto& fn = get_loss(name);
    auto whole = fn(z, y, w, o).item<double>() * loss_weights(name, y, w).sum().item<double>();
    double parts = 0;
    for (int64_t i = 0; i < 3; ++i) {
      auto s = torch::tensor({i});
      auto yi = y.index_select(0, s), wi = w.index_select(0, s);
      double n = loss_weights(name, yi, wi).sum().item<double>();
      if (n > 0) parts += fn(z.index_select(0, s), yi, wi, o).item<double>() * n;
    }
    INFO(name);
    CHECK(parts == Approx(whole).epsilon(1e-5));
  }
}

TEST_CASE("per-pair margins: train_logits shifts each logit towards its label's side", "[core][losses]") {
  PairBatch b;
  b.label = torch::tensor({1.f, 0.f, 0.5f, 1.f});
  b.weight = torch::ones({4});
  auto z = torch::tensor({0.3f, -1.2f, 0.7f, 2.f}, torch::requires_grad());
  CHECK(train_logits(z, b).equal(z));  // no margins: the logits themselves
  b.margin = torch::full({4}, 0.4f);
  auto shifted = train_logits(z, b);
  CHECK(shifted[0].item<float>() == Approx(0.3 - 0.4));
  CHECK(shifted[1].item<float>() == Approx(-1.2 + 0.4));
  CHECK(shifted[2].item<float>() == Approx(0.7));  // a tie has no side
  // With one margin for every pair, bt on the shifted logits is the "margin" loss.
  LossOptions o;
  o.margin = 0.4;
  auto with_margins = get_loss("bt")(shifted, b.label, b.weight, o);
  auto constant = get_loss("margin")(z, b.label, b.weight, o);
  CHECK(with_margins.item<double>() == Approx(constant.item<double>()).epsilon(1e-6));
  // Per-pair values: a negative margin pushes less (pair 2 is already won by 1.2 and counts as won by 2.2).
  b.margin = torch::tensor({1.f, -1.f, 0.f, 0.f});
  CHECK(get_loss("bt")(train_logits(z, b), b.label, b.weight, o).item<double>() ==
        Approx((sp(-(0.3 - 1.0)) + sp(-(1.2 + 1.0)) + sp(-2.0)) / 3).epsilon(1e-6));
  b.a.x = b.b.x = torch::zeros({4, 2});
  b.user = torch::full({4}, -1, torch::kInt64);
  CHECK(b.select(torch::tensor({3, 0}, torch::kInt64)).margin.equal(torch::tensor({0.f, 1.f})));
}
