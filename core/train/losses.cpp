#include "core/train/losses.hpp"

#include <torch/torch.h>

#include "core/base/error.hpp"
#include "core/base/registry.hpp"

namespace plural::core {

void LossOptions::validate() const {
  PLURAL_CHECK(std::isfinite(margin), "loss margin must be finite, got ", margin);
  PLURAL_CHECK(smoothing >= 0 && smoothing < 0.5, "label smoothing must be in [0, 0.5), got ", smoothing);
  PLURAL_CHECK(hinge_margin > 0 && std::isfinite(hinge_margin), "hinge margin must be finite and > 0, got ",
               hinge_margin);
  PLURAL_CHECK(ipo_tau > 0 && std::isfinite(ipo_tau), "IPO tau must be > 0, got ", ipo_tau);
}

namespace {
Registry<LossFn>& registry() {
  static Registry<LossFn> r("loss");
  return r;
}
std::map<std::string, bool>& hard_losses() {
  static std::map<std::string, bool> m;
  return m;
}

torch::Tensor weighted_mean(const torch::Tensor& per_pair, const torch::Tensor& weight) {
  return (per_pair * weight).sum() / weight.sum().clamp_min(1e-12);
}
// +1 where a is preferred, -1 where b is; ties get weight 0.
torch::Tensor sign_of(const torch::Tensor& label) { return (label > 0.5).to(label.dtype()) * 2 - 1; }
torch::Tensor strict(const torch::Tensor& label, const torch::Tensor& weight) { return weight * (label != 0.5); }

torch::Tensor bce(const torch::Tensor& logits, const torch::Tensor& target) {
  return torch::nn::functional::softplus(logits) - target * logits;
}

const bool registered = [] {
  register_loss(
      "bt",
      [](const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& w, const LossOptions&) {
        return weighted_mean(torch::nn::functional::softplus(-sign_of(y) * z), strict(y, w));
      },
      "Bradley-Terry / sigmoid: -log σ(s·logit), hard labels");
  register_loss(
      "soft-bce",
      [](const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& w, const LossOptions&) {
        return weighted_mean(bce(z, y), w);
      },
      "binary cross-entropy against the soft label P(a ≻ b)", /*hard=*/false);
  register_loss(
      "label-smoothing",
      [](const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& w, const LossOptions& o) {
        auto hard = (y > 0.5).to(y.dtype());
        auto target = hard * (1 - o.smoothing) + (1 - hard) * o.smoothing;
        return weighted_mean(bce(z, target), strict(y, w));
      },
      "BCE against hard labels smoothed to 1-ε / ε (--smoothing)");
  register_loss(
      "margin",
      [](const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& w, const LossOptions& o) {
        return weighted_mean(torch::nn::functional::softplus(-(sign_of(y) * z - o.margin)), strict(y, w));
      },
      "-log σ(s·logit - margin) (--margin)");
  register_loss(
      "hinge",
      [](const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& w, const LossOptions& o) {
        return weighted_mean(torch::relu(o.hinge_margin - sign_of(y) * z), strict(y, w));
      },
      "max(0, m - s·logit) (--hinge-margin)");
  register_loss(
      "ipo",
      [](const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& w, const LossOptions& o) {
        return weighted_mean((z - (y - 0.5) / o.ipo_tau).pow(2), w);
      },
      "IPO-style squared loss: (logit − (label − ½)/τ)² (--ipo-tau); soft labels and ties set the target",
      /*hard=*/false);
  register_loss(
      "thurstone",
      [](const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& w, const LossOptions&) {
        return weighted_mean(-torch::special_log_ndtr(sign_of(y) * z), strict(y, w));
      },
      "probit / Thurstone: -log Φ(s·logit)");
  return true;
}();
}  // namespace

bool register_loss(const std::string& name, LossFn fn, const std::string& help, bool hard) {
  registry().add(name, std::move(fn), help);
  hard_losses()[name] = hard;
  return true;
}

torch::Tensor loss_weights(const std::string& name, const torch::Tensor& label, const torch::Tensor& weight) {
  get_loss(name);  // unknown names: the registry's error
  return hard_losses().at(name) ? strict(label, weight) : weight;
}

const LossFn& get_loss(const std::string& name) { return registry().get(name); }

std::map<std::string, std::string> loss_names() { return registry().help(); }

}  // namespace plural::core
