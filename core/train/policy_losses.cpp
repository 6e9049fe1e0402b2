#include "core/train/policy_losses.hpp"

#include <torch/torch.h>

#include "core/base/error.hpp"
#include "core/base/registry.hpp"

namespace plural::core {

namespace {
Registry<PolicyLossFn>& registry() {
  static Registry<PolicyLossFn> r("policy loss");
  return r;
}

torch::Tensor or_value(const torch::Tensor& t, const torch::Tensor& like, double v) {
  return t.defined() ? t : torch::full_like(like, v);
}
torch::Tensor weighted_mean(const torch::Tensor& per_pair, const torch::Tensor& w) {
  return (per_pair * w).sum() / w.sum().clamp_min(1e-12);
}
// The DPO implicit-reward margin: (log π⁺ − log π_ref⁺) − (log π⁻ − log π_ref⁻).
torch::Tensor margin(const PolicyLogProbs& b) {
  return (b.chosen - or_value(b.ref_chosen, b.chosen, 0)) - (b.rejected - or_value(b.ref_rejected, b.rejected, 0));
}
// −[y log σ(z) + (1 − y) log σ(−z)]: soft labels (SPCE), label smoothing (conservative DPO) and ties alike.
torch::Tensor soft_logistic(const torch::Tensor& z, const torch::Tensor& y) {
  return -(y * torch::log_sigmoid(z) + (1 - y) * torch::log_sigmoid(-z));
}

torch::Tensor dpo(const PolicyLogProbs& b, const PolicyLossOptions& o) {
  return weighted_mean(soft_logistic(o.beta * margin(b), or_value(b.label, b.chosen, 1)),
                       or_value(b.weight, b.chosen, 1));
}

const bool registered = [] {
  register_policy_loss(
      "dpo", dpo,
      "DPO: -log σ(β·[(log π⁺ − log π_ref⁺) − (log π⁻ − log π_ref⁻)]); soft labels give SPCE / conservative DPO");
  // The same form; what differs is the input: each side's log-probs taken with its own prompt.
  register_policy_loss(
      "dove", dpo, "DOVE / joint preference: DPO's form on log-probs each taken with its own prompt (x⁺ ≠ x⁻ allowed)");
  register_policy_loss(
      "ipo",
      [](const PolicyLogProbs& b, const PolicyLossOptions& o) {
        auto target = (or_value(b.label, b.chosen, 1) - 0.5) / o.tau;
        return weighted_mean((margin(b) - target).pow(2), or_value(b.weight, b.chosen, 1));
      },
      "IPO: (margin − (label − ½)/τ)², i.e. (margin − 1/(2τ))² for a hard preference");
  register_policy_loss(
      "cpl",
      [](const PolicyLogProbs& b, const PolicyLossOptions& o) {
        // Scores are α·log π (minus the reference when one is given); the preferred side is the label's.
        auto s_c = o.alpha * (b.chosen - or_value(b.ref_chosen, b.chosen, 0));
        auto s_r = o.alpha * (b.rejected - or_value(b.ref_rejected, b.rejected, 0));
        auto y = or_value(b.label, b.chosen, 1);
        auto forward = -torch::log_sigmoid(s_c - o.lambda * s_r);   // chosen preferred
        auto backward = -torch::log_sigmoid(s_r - o.lambda * s_c);  // rejected preferred
        return weighted_mean(y * forward + (1 - y) * backward, or_value(b.weight, b.chosen, 1));
      },
      "CPL biased contrastive: -log σ(S⁺ − λ·S⁻), S = α·log π, 0 < λ ≤ 1");
  return true;
}();
}  // namespace

void PolicyLogProbs::validate() const {
  auto check = [&](const torch::Tensor& t, const char* name, bool required) {
    if (!t.defined()) {
      PLURAL_CHECK(!required, "policy loss: '", name, "' is required");
      return;
    }
    PLURAL_CHECK(t.dim() == 1, "policy loss: '", name, "' must be 1-d, got ", t.dim(), " dims");
    PLURAL_CHECK(t.size(0) == chosen.size(0), "policy loss: '", name, "' has ", t.size(0), " rows, 'chosen' has ",
                 chosen.size(0));
    PLURAL_CHECK(t.is_floating_point(), "policy loss: '", name, "' must be floating point");
    auto bad = (~torch::isfinite(t)).nonzero();
    PLURAL_CHECK(bad.size(0) == 0, "policy loss: '", name, "' row ", bad.size(0) ? bad[0][0].item<int64_t>() : 0,
                 " is not finite");
  };
  PLURAL_CHECK(chosen.defined() && chosen.dim() == 1, "policy loss: 'chosen' must be a 1-d tensor of log-probs");
  check(chosen, "chosen", true);
  check(rejected, "rejected", true);
  check(ref_chosen, "ref_chosen", false);
  check(ref_rejected, "ref_rejected", false);
  PLURAL_CHECK(ref_chosen.defined() == ref_rejected.defined(),
               "policy loss: give both 'ref_chosen' and 'ref_rejected', or neither");
  check(label, "label", false);
  check(weight, "weight", false);
  if (label.defined()) {
    auto bad = ((label < 0) | (label > 1)).nonzero();
    PLURAL_CHECK(bad.size(0) == 0, "policy loss: 'label' row ", bad.size(0) ? bad[0][0].item<int64_t>() : 0,
                 " is outside [0, 1]");
  }
  if (weight.defined()) {
    auto bad = (weight < 0).nonzero();
    PLURAL_CHECK(bad.size(0) == 0, "policy loss: 'weight' row ", bad.size(0) ? bad[0][0].item<int64_t>() : 0,
                 " is negative");
  }
}

void PolicyLossOptions::validate() const {
  PLURAL_CHECK(beta > 0 && std::isfinite(beta), "policy loss: beta must be > 0, got ", beta);
  PLURAL_CHECK(tau > 0 && std::isfinite(tau), "policy loss: tau must be > 0, got ", tau);
  PLURAL_CHECK(alpha > 0 && std::isfinite(alpha), "policy loss: alpha must be > 0, got ", alpha);
  PLURAL_CHECK(lambda > 0 && lambda <= 1, "policy loss: CPL's lambda must be in (0, 1], got ", lambda);
}

bool register_policy_loss(const std::string& name, PolicyLossFn fn, const std::string& help) {
  registry().add(name, std::move(fn), help);
  return true;
}
const PolicyLossFn& get_policy_loss(const std::string& name) { return registry().get(name); }
std::map<std::string, std::string> policy_loss_names() { return registry().help(); }

PolicyLossResult policy_loss(const std::string& name, const PolicyLogProbs& batch, const PolicyLossOptions& options) {
  const auto& fn = get_policy_loss(name);
  batch.validate();
  options.validate();
  auto f64 = [](const torch::Tensor& t) { return t.defined() ? t.detach().to(torch::kFloat64) : t; };
  PolicyLogProbs b{f64(batch.chosen).requires_grad_(),
                   f64(batch.rejected).requires_grad_(),
                   f64(batch.ref_chosen),
                   f64(batch.ref_rejected),
                   f64(batch.label),
                   f64(batch.weight)};
  torch::AutoGradMode grad_on(true);
  auto loss = fn(b, options);
  auto grads = torch::autograd::grad({loss}, {b.chosen, b.rejected});
  return {loss.item<double>(), grads[0], grads[1]};
}

torch::Tensor soft_labels_from_scores(const torch::Tensor& score_a, const torch::Tensor& score_b, double temperature) {
  PLURAL_CHECK(temperature > 0, "soft labels: temperature must be > 0, got ", temperature);
  PLURAL_CHECK(score_a.sizes() == score_b.sizes(), "soft labels: score_a and score_b differ in shape");
  PLURAL_CHECK(torch::isfinite(score_a).all().item<bool>() && torch::isfinite(score_b).all().item<bool>(),
               "soft labels: scores must be finite");
  return torch::sigmoid((score_a - score_b) / temperature);
}

}  // namespace plural::core
