#include "mixture/projector.hpp"

#include <torch/torch.h>

#include <regex>

#include "core/error.hpp"

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
  int64_t d = in_;
  for (int l = 0; l < spec_.hidden_layers; ++l) {
    torch::nn::Linear linear(torch::nn::LinearOptions(d, out_).bias(spec_.bias));
    if (l == 0) first_ = linear;
    net_->push_back(linear);
    if (spec_.batchnorm) net_->push_back(torch::nn::BatchNorm1d(out_));
    if (spec_.dropout > 0) net_->push_back(torch::nn::Dropout(spec_.dropout));
    if (spec_.activation == "relu") net_->push_back(torch::nn::ReLU());
    if (spec_.activation == "gelu") net_->push_back(torch::nn::GELU());
    d = out_;
  }
  torch::nn::Linear last(torch::nn::LinearOptions(d, out_).bias(spec_.bias));
  if (!first_) first_ = last;
  net_->push_back(last);
  register_module("net", net_);
}

torch::Tensor ProjectorImpl::forward(const torch::Tensor& x) {
  auto y = net_->forward(x);
  return spec_.residual ? y + x : y;
}

const torch::Tensor& ProjectorImpl::first_weight() const { return first_->weight; }

torch::Tensor ProjectorImpl::first_bias() const { return spec_.bias ? first_->bias : torch::Tensor(); }

torch::Tensor ProjectorImpl::forward_after_first(const torch::Tensor& pre, const torch::Tensor& x) {
  auto y = pre;
  for (auto it = net_->begin() + 1; it != net_->end(); ++it) y = it->forward(y);
  return spec_.residual ? y + x : y;
}

}  // namespace plural::mixture
