#pragma once
// PAL's projector MLPs, built from the original's spec strings: mlp{L}-{relu|gelu|linear}-dropout{digits}
// [-residual][-batchnorm][-nobias]. L hidden blocks Linear -> [BatchNorm1d] -> Dropout -> activation, then a final
// Linear, all of width `out`; -residual adds the input (needs in == out); dropout5 = 0.5, dropout25 = 0.25.
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

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
  bool residual() const { return spec_.residual; }
  /// Multiplies the output by `factor` (the final Linear's weight and bias), in place; needs a non-residual spec.
  void scale_output(double factor);

 private:
  friend class ProjectorBankImpl;
  friend class FrozenProjector;
  int64_t in_, out_;
  ProjectorSpec spec_;
  torch::nn::Sequential net_{nullptr};
  std::vector<torch::nn::Linear> linears_;          // net_'s Linear layers in order
  std::vector<torch::nn::BatchNorm1d> batchnorms_;  // and its batchnorms (-batchnorm: one per hidden layer)
};
TORCH_MODULE(Projector);

/// K projectors with one spec that all read the same input (PAL-B's prompt projectors g_1..g_K), stored layer by
/// layer as one [K, out, in] weight and one [K, out] bias ("w0", "b0", "w1", ...; -batchnorm: one BatchNorm1d over
/// the K·out units, "bn0", ...). A forward is one product per layer for all K — the first layer's K weights side
/// by side, later ones batched — instead of one per projector, and a training step updates one tensor per layer:
/// at small batches a step is per-op overhead. Initialised, computed and regularised exactly as K Projectors
/// (every (projector, row) draws its own dropout mask); assign() takes the weights of K such Projectors.
class ProjectorBankImpl : public torch::nn::Module {
 public:
  ProjectorBankImpl(int64_t k, int64_t in, int64_t out, const ProjectorSpec& spec);
  /// [P, in] -> [P, K, out].
  torch::Tensor forward(const torch::Tensor& x);
  /// Copies the weights (and batchnorm statistics) of K Projectors built with this bank's shape and spec.
  void assign(const std::vector<ProjectorImpl*>& projectors);
  /// K Projectors holding this bank's weights (what assign() reads; tests compare against them).
  std::vector<Projector> unstack() const;

 private:
  int64_t k_, in_, out_;
  ProjectorSpec spec_;
  std::vector<torch::Tensor> w_, b_;        // per layer: [K, out, in_l], [K, out] (no bias: undefined)
  std::vector<torch::nn::BatchNorm1d> bn_;  // per hidden layer, over K·out units (-batchnorm only)
};
TORCH_MODULE(ProjectorBank);

}  // namespace plural::mixture
