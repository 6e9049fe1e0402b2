#include "mixture/projector.hpp"

#include <torch/torch.h>

#include <regex>

#include "core/base/error.hpp"

namespace plural::mixture {

ProjectorSpec ProjectorSpec::parse(const std::string& spec) {
  static const std::regex re("mlp(\\d+)-(relu|gelu|linear)-dropout(\\d+)((?:-residual|-batchnorm|-nobias)*)");
  std::smatch m;
  PLURAL_CHECK(std::regex_match(spec, m, re), "projector spec '", spec,
               "': expected mlp{L}-{relu|gelu|linear}-dropout{digits}[-residual][-batchnorm][-nobias], e.g. "
               "mlp2-gelu-dropout0");
  ProjectorSpec s;
  s.hidden_layers = std::stoi(m[1].str());
  s.activation = m[2].str();
  std::string digits = m[3].str();
  s.dropout = std::stod("0." + digits);
  if (digits == "0") s.dropout = 0.0;
  std::string flags = m[4].str();
  s.residual = flags.find("-residual") != std::string::npos;
  s.batchnorm = flags.find("-batchnorm") != std::string::npos;
  s.bias = flags.find("-nobias") == std::string::npos;
  PLURAL_CHECK(s.dropout < 1.0, "projector spec '", spec, "': dropout must be < 1");
  return s;
}

ProjectorImpl::ProjectorImpl(int64_t in, int64_t out, const ProjectorSpec& s) : in_(in), out_(out), spec_(s) {
  PLURAL_CHECK(!s.residual || in == out, "projector: -residual needs input dim == output dim, got ", in, " and ", out);
  reset();
}

void ProjectorImpl::reset() {
  net_ = torch::nn::Sequential();
  linears_.clear();
  batchnorms_.clear();
  int64_t d = in_;
  for (int l = 0; l < spec_.hidden_layers; ++l) {
    torch::nn::Linear linear(torch::nn::LinearOptions(d, out_).bias(spec_.bias));
    linears_.push_back(linear);
    net_->push_back(linear);
    if (spec_.batchnorm) {
      batchnorms_.emplace_back(out_);
      net_->push_back(batchnorms_.back());
    }
    if (spec_.dropout > 0) net_->push_back(torch::nn::Dropout(spec_.dropout));
    if (spec_.activation == "relu") net_->push_back(torch::nn::ReLU());
    if (spec_.activation == "gelu") net_->push_back(torch::nn::GELU());
    d = out_;
  }
  torch::nn::Linear last(torch::nn::LinearOptions(d, out_).bias(spec_.bias));
  linears_.push_back(last);
  net_->push_back(last);
  register_module("net", net_);
}

void ProjectorImpl::scale_output(double factor) {
  PLURAL_CHECK(!spec_.residual, "projector: a residual projector's output cannot be scaled by its last layer");
  torch::NoGradGuard no_grad;
  auto& last = linears_.back();
  last->weight.mul_(factor);
  if (last->bias.defined()) last->bias.mul_(factor);
}

torch::Tensor ProjectorImpl::forward(const torch::Tensor& x) {
  auto y = net_->forward(x);
  return spec_.residual ? y + x : y;
}

ProjectorBankImpl::ProjectorBankImpl(int64_t k, int64_t in, int64_t out, const ProjectorSpec& spec)
    : k_(k), in_(in), out_(out), spec_(spec) {
  PLURAL_CHECK(k >= 1, "projector bank: need at least one projector, got ", k);
  // K Projectors' own initialisation, drawn in the order K separate modules would draw it.
  std::vector<Projector> init;
  for (int64_t i = 0; i < k; ++i) init.emplace_back(in, out, spec);
  const size_t layers = init[0]->linears_.size();
  for (size_t l = 0; l < layers; ++l) {
    const int64_t in_l = l == 0 ? in : out;
    w_.push_back(register_parameter("w" + std::to_string(l), torch::empty({k, out, in_l})));
    if (spec.bias) b_.push_back(register_parameter("b" + std::to_string(l), torch::empty({k, out})));
    if (spec.batchnorm && l + 1 < layers)
      bn_.push_back(register_module("bn" + std::to_string(l), torch::nn::BatchNorm1d(k * out)));
  }
  std::vector<ProjectorImpl*> raw;
  for (auto& p : init) raw.push_back(p.get());
  assign(raw);
}

void ProjectorBankImpl::assign(const std::vector<ProjectorImpl*>& projectors) {
  PLURAL_CHECK(static_cast<int64_t>(projectors.size()) == k_, "projector bank: ", projectors.size(),
               " projectors for a bank of ", k_);
  torch::NoGradGuard ng;
  for (size_t l = 0; l < w_.size(); ++l)
    for (int64_t i = 0; i < k_; ++i) {
      w_[l][i].copy_(projectors[i]->linears_[l]->weight);
      if (spec_.bias) b_[l][i].copy_(projectors[i]->linears_[l]->bias);
    }
  for (size_t l = 0; l < bn_.size(); ++l)
    for (int64_t i = 0; i < k_; ++i) {
      const auto& src = projectors[i]->batchnorms_[l];
      auto part = [&](torch::Tensor& t) { return t.narrow(0, i * out_, out_); };
      part(bn_[l]->weight).copy_(src->weight);
      part(bn_[l]->bias).copy_(src->bias);
      part(bn_[l]->running_mean).copy_(src->running_mean);
      part(bn_[l]->running_var).copy_(src->running_var);
      if (i == 0) bn_[l]->num_batches_tracked.copy_(src->num_batches_tracked);
    }
}

std::vector<Projector> ProjectorBankImpl::unstack() const {
  std::vector<Projector> out;
  for (int64_t i = 0; i < k_; ++i) out.emplace_back(in_, out_, spec_);
  torch::NoGradGuard ng;
  for (int64_t i = 0; i < k_; ++i) {
    for (size_t l = 0; l < w_.size(); ++l) {
      out[i]->linears_[l]->weight.copy_(w_[l][i]);
      if (spec_.bias) out[i]->linears_[l]->bias.copy_(b_[l][i]);
    }
    auto& bns = out[i]->batchnorms_;
    for (size_t l = 0; l < bn_.size(); ++l) {
      auto part = [&](const torch::Tensor& t) { return t.narrow(0, i * out_, out_); };
      bns[l]->weight.copy_(part(bn_[l]->weight));
      bns[l]->bias.copy_(part(bn_[l]->bias));
      bns[l]->running_mean.copy_(part(bn_[l]->running_mean));
      bns[l]->running_var.copy_(part(bn_[l]->running_var));
      bns[l]->num_batches_tracked.copy_(bn_[l]->num_batches_tracked);
    }
    out[i]->train(is_training());
  }
  return out;
}

torch::Tensor ProjectorBankImpl::forward(const torch::Tensor& x) {
  const int64_t P = x.size(0);
  const bool dropout = is_training() && spec_.dropout > 0;
  // Linear -> [BatchNorm1d] -> Dropout -> activation, on y [K, P, out].
  auto hidden = [&](torch::Tensor y, size_t l) {
    if (spec_.batchnorm)  // K·out channels, statistics over the P rows: each projector's own batchnorm
      y = bn_[l]->forward(y.transpose(0, 1).reshape({P, k_ * out_})).view({P, k_, out_}).transpose(0, 1);
    y = torch::dropout(y, spec_.dropout, dropout);
    if (spec_.activation == "relu") return torch::relu(y);
    if (spec_.activation == "gelu") return torch::gelu(y);
    return y;
  };
  // The first layer: every projector reads x, so the K weights side by side make one product [P, K·out].
  auto W0 = w_[0].view({k_ * out_, in_});
  auto y = spec_.bias ? torch::addmm(b_[0].view({k_ * out_}), x, W0.t()) : torch::mm(x, W0.t());
  y = y.view({P, k_, out_}).transpose(0, 1);  // [K, P, out]
  for (size_t l = 1; l < w_.size(); ++l) {
    y = hidden(y, l - 1);
    auto Wt = w_[l].transpose(1, 2);
    y = spec_.bias ? torch::baddbmm(b_[l].unsqueeze(1), y, Wt) : torch::bmm(y, Wt);
  }
  if (spec_.residual) y = y + x.unsqueeze(0);
  return y.transpose(0, 1);  // [P, K, out]
}

}  // namespace plural::mixture
