#include "core/mlp.hpp"

#include <torch/torch.h>

#include "core/base/error.hpp"

namespace plural::core {

void MlpOptions::validate(const char* who) const {
  for (auto h : hidden) PLURAL_CHECK(h > 0, who, ": hidden sizes must be > 0, got ", h);
  PLURAL_CHECK(activation == "gelu" || activation == "relu" || activation == "tanh" || activation == "silu" ||
                   activation == "leaky_relu",
               who, ": activation must be gelu, relu, leaky_relu, tanh or silu, got '", activation, "'");
  PLURAL_CHECK(dropout >= 0 && dropout < 1, who, ": dropout must be in [0, 1), got ", dropout);
}

MlpImpl::MlpImpl(int64_t in, int64_t out, const MlpOptions& o) {
  int64_t d = in;
  for (auto h : o.hidden) {
    net_->push_back(torch::nn::Linear(d, h));
    if (o.activation == "gelu")
      net_->push_back(torch::nn::GELU());
    else if (o.activation == "relu")
      net_->push_back(torch::nn::ReLU());
    else if (o.activation == "tanh")
      net_->push_back(torch::nn::Tanh());
    else if (o.activation == "leaky_relu")
      net_->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)));
    else
      net_->push_back(torch::nn::SiLU());
    if (o.dropout > 0) net_->push_back(torch::nn::Dropout(o.dropout));
    d = h;
  }
  net_->push_back(torch::nn::Linear(d, out));
  register_module("net", net_);
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return net_->forward(x); }

void MlpImpl::scale_output(double factor) {
  torch::NoGradGuard no_grad;
  auto last = net_->ptr(net_->size() - 1)->as<torch::nn::Linear>();
  last->weight.mul_(factor);
  if (last->bias.defined()) last->bias.mul_(factor);
}

torch::Tensor MlpImpl::hidden(const torch::Tensor& x) {
  auto h = x;
  auto last = net_->size() - 1;
  size_t i = 0;
  for (auto& layer : *net_) {
    if (i++ == last) break;
    h = layer.forward(h);
  }
  return h;
}

}  // namespace plural::core
