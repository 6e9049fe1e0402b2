#pragma once
// PAL's projector MLPs, built from the original's spec strings: mlp{L}-{relu|gelu|linear}-dropout{digits}
// [-residual][-batchnorm][-nobias]. L hidden blocks Linear -> [BatchNorm1d] -> Dropout -> activation, then a final
// Linear, all of width `out`; -residual adds the input (needs in == out); dropout5 = 0.5, dropout25 = 0.25.
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <string>

namespace plural::mixture {

struct ProjectorSpec {
  int hidden_layers = 2;
  std::string activation = "gelu";
  double dropout = 0.0;
  bool residual = false, batchnorm = false, bias = true;
  /// Throws ValueError naming the spec and the part it cannot read.
  static ProjectorSpec parse(const std::string& spec);
};

/// Cloneable: PAL-A's f(Pw) adapter runs a frozen float64 copy of f (core of its Newton geometry).
class ProjectorImpl : public torch::nn::Cloneable<ProjectorImpl> {
 public:
  ProjectorImpl(int64_t in, int64_t out, const ProjectorSpec& spec);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  /// The first Linear's weight [out, in] and bias ([out], undefined with -nobias): a caller that knows part of
  /// the input recurs (PAL-A's prompt half) computes that part of x Wᵀ once.
  const torch::Tensor& first_weight() const;
  torch::Tensor first_bias() const;
  /// forward(x) given the first Linear's output pre = x Wᵀ + b; x is needed only with -residual.
  torch::Tensor forward_after_first(const torch::Tensor& pre, const torch::Tensor& x);
  bool residual() const { return spec_.residual; }

 private:
  int64_t in_, out_;
  ProjectorSpec spec_;
  torch::nn::Sequential net_{nullptr};
  torch::nn::Linear first_{nullptr};
};
TORCH_MODULE(Projector);

}  // namespace plural::mixture
