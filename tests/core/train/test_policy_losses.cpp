// DPO-family losses on policy log-probs: hand-computed values, finite-difference gradients, soft labels, bad input.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/base/error.hpp"
#include "core/train/losses.hpp"
#include "core/train/policy_losses.hpp"

using namespace plural::core;

namespace {
torch::Tensor t(std::vector<double> v) { return torch::tensor(v, torch::kFloat64); }
double softplus(double x) { return std::log1p(std::exp(x)); }

// One pair: log π⁺ = −10, log π⁻ = −12, reference −11 / −11, so the DPO margin is (1) − (−1) = 2.
PolicyLogProbs one_pair() { return {t({-10}), t({-12}), t({-11}), t({-11}), {}, {}}; }
}  // namespace

TEST_CASE("policy losses: values computed by hand", "[policy-loss]") {
  PolicyLossOptions o;                                                      // β = 0.1, τ = 0.1, α = 0.1, λ = 0.5
  CHECK(policy_loss("dpo", one_pair(), o).loss == Approx(softplus(-0.2)));  // −log σ(0.1 · 2)
  CHECK(policy_loss("dove", one_pair(), o).loss == Approx(softplus(-0.2)));
  CHECK(policy_loss("ipo", one_pair(), o).loss == Approx(9.0));  // (2 − 0.5/0.1)²
  // CPL with the reference: S⁺ = 0.1·1, S⁻ = 0.1·(−1); −log σ(0.1 + 0.5·0.1).
  CHECK(policy_loss("cpl", one_pair(), o).loss == Approx(softplus(-0.15)));
  // Reference-free CPL (the original): S⁺ = −1, S⁻ = −1.2; −log σ(−1 + 0.6).
  PolicyLogProbs free{t({-10}), t({-12}), {}, {}, {}, {}};
  CHECK(policy_loss("cpl", free, o).loss == Approx(softplus(0.4)));
  // Soft label 0.8 (SPCE / conservative DPO): −[0.8 log σ(0.2) + 0.2 log σ(−0.2)].
  auto soft = one_pair();
  soft.label = t({0.8});
  CHECK(policy_loss("dpo", soft, o).loss == Approx(0.8 * softplus(-0.2) + 0.2 * softplus(0.2)));
  // IPO's target follows the label: a tie wants a zero margin.
  soft.label = t({0.5});
  CHECK(policy_loss("ipo", soft, o).loss == Approx(4.0));
  // Weighted mean over pairs.
  PolicyLogProbs two{t({-10, -10}), t({-12, -8}), {}, {}, {}, t({3, 1})};
  CHECK(policy_loss("dpo", two, o).loss == Approx((3 * softplus(-0.2) + softplus(0.2)) / 4));
  // The reward-side IPO loss agrees with the policy-side one on the same margin.
  LossOptions lo;
  CHECK(get_loss("ipo")(t({2}), t({1}), t({1}), lo).item<double>() == Approx(9.0));
  CHECK(loss_names().count("ipo") == 1);
}

TEST_CASE("policy losses: gradients match finite differences", "[policy-loss]") {
  PolicyLogProbs b{t({-10, -30, -5}), t({-12, -25, -5.5}), t({-11, -29, -6}),
                   t({-11, -26, -5}), t({1, 0.3, 0.5}),    t({1, 2, 0.5})};
  PolicyLossOptions o;
  o.beta = 0.7, o.tau = 0.4, o.alpha = 0.3, o.lambda = 0.8;
  for (const auto& [name, help] : policy_loss_names()) {
    auto r = policy_loss(name, b, o);
    for (int side = 0; side < 2; ++side)
      for (int64_t i = 0; i < 3; ++i) {
        auto at = [&](double d) {
          auto c = b;
          c.chosen = b.chosen.clone();
          c.rejected = b.rejected.clone();
          (side == 0 ? c.chosen : c.rejected)[i] += d;
          return policy_loss(name, c, o).loss;
        };
        double fd = (at(1e-6) - at(-1e-6)) / 2e-6;
        double g = (side == 0 ? r.grad_chosen : r.grad_rejected)[i].item<double>();
        INFO(name << " side " << side << " row " << i);
        CHECK(g == Approx(fd).margin(1e-7).epsilon(1e-5));
      }
  }
  // Raising the chosen log-prob lowers a DPO loss; a heavier pair moves it more.
  auto r = policy_loss("dpo", b, o);
  CHECK(r.grad_chosen[0].item<double>() < 0);
  CHECK(r.grad_rejected[0].item<double>() > 0);
}

TEST_CASE("policy losses: bad input names the field and row", "[policy-loss]") {
  PolicyLossOptions o;
  auto b = one_pair();
  b.rejected = t({-1, -2});
  CHECK_THROWS_WITH(policy_loss("dpo", b, o), Catch::Contains("'rejected' has 2 rows"));
  b = one_pair();
  b.chosen = t({std::nan("")});
  CHECK_THROWS_WITH(policy_loss("dpo", b, o), Catch::Contains("'chosen' row 0 is not finite"));
  b = one_pair();
  b.label = t({1.5});
  CHECK_THROWS_WITH(policy_loss("dpo", b, o), Catch::Contains("'label' row 0 is outside [0, 1]"));
  b = one_pair();
  b.ref_rejected = torch::Tensor();
  CHECK_THROWS_WITH(policy_loss("dpo", b, o), Catch::Contains("both 'ref_chosen' and 'ref_rejected'"));
  o.lambda = 1.5;
  CHECK_THROWS_WITH(policy_loss("cpl", one_pair(), o), Catch::Contains("lambda must be in (0, 1]"));
  CHECK_THROWS_WITH(policy_loss("kto", one_pair(), PolicyLossOptions{}), Catch::Contains("known: cpl, dove, dpo, ipo"));
  CHECK_THROWS_AS(soft_labels_from_scores(t({1}), t({1, 2})), plural::ValueError);
}

TEST_CASE("soft labels from external scores", "[policy-loss]") {
  auto y = soft_labels_from_scores(t({2, 0, -1}), t({0, 0, 1}), 2.0);
  CHECK(y[0].item<double>() == Approx(1 / (1 + std::exp(-1.0))));
  CHECK(y[1].item<double>() == Approx(0.5));
  CHECK(y[2].item<double>() == Approx(1 / (1 + std::exp(1.0))));
}
