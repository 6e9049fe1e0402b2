#include "mixture/frozen_projector.hpp"

#include <torch/torch.h>

#include <Eigen/Core>
#include <cmath>
#include <unsupported/Eigen/SpecialFunctions>

#include "mixture/projector.hpp"

// The CBLAS entry point of the BLAS LibTorch itself loads (libblas.so.3: OpenBLAS here, with kernels chosen for the
// CPU at load time). Declared rather than included: Debian ships <cblas.h> only with a -dev package of one BLAS.
extern "C" void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a,
                            int lda, const float* b, int ldb, float beta, float* c, int ldc);

namespace plural::mixture {

namespace {
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

std::vector<float> to_floats(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
}  // namespace

FrozenProjector::FrozenProjector(const ProjectorImpl& p) : in_(p.in_), out_(p.out_), residual_(p.spec_.residual) {
  torch::NoGradGuard ng;
  if (p.spec_.activation == "relu") activation_ = Activation::relu;
  if (p.spec_.activation == "gelu") activation_ = Activation::gelu;
  for (size_t l = 0; l < p.linears_.size(); ++l) {
    const auto& lin = p.linears_[l];
    auto w = lin->weight.detach().to(torch::kFloat64);
    auto b = p.spec_.bias ? lin->bias.detach().to(torch::kFloat64) : torch::zeros({w.size(0)}, torch::kFloat64);
    if (l < p.batchnorms_.size()) {  // eval batchnorm: y = (Wx + b − μ)·γ/√(σ² + ε) + β, folded into W and b
      const auto& bn = p.batchnorms_[l];
      auto scale = bn->weight.detach().to(torch::kFloat64) /
                   (bn->running_var.detach().to(torch::kFloat64) + bn->options.eps()).sqrt();
      w = w * scale.unsqueeze(1);
      b = (b - bn->running_mean.detach().to(torch::kFloat64)) * scale + bn->bias.detach().to(torch::kFloat64);
    }
    layers_.push_back({w.size(1), w.size(0), to_floats(w), to_floats(b)});
  }
}

void FrozenProjector::forward(const float* x, int64_t rows, float* y) const {
  using RowMat = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::vector<float> scratch[2];
  const float* cur = x;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    const bool last = l + 1 == layers_.size();
    float* dst = y;
    if (!last) {
      scratch[l % 2].resize(static_cast<size_t>(rows * L.out));
      dst = scratch[l % 2].data();
    }
    Eigen::Map<RowMat> out(dst, rows, L.out);
    out.rowwise() = Eigen::Map<const Eigen::Array<float, 1, Eigen::Dynamic>>(L.bias.data(), L.out);
    cblas_sgemm(kRowMajor, kNoTrans, kTrans, static_cast<int>(rows), static_cast<int>(L.out), static_cast<int>(L.in),
                1.0f, cur, static_cast<int>(L.in), L.weight.data(), static_cast<int>(L.in), 1.0f, dst,
                static_cast<int>(L.out));
    if (!last) {
      if (activation_ == Activation::relu) out = out.max(0.0f);
      if (activation_ == Activation::gelu) out = 0.5f * out * (1.0f + (out * float(M_SQRT1_2)).erf());
    }
    cur = dst;
  }
  if (residual_) {
    Eigen::Map<RowMat> out(y, rows, out_);
    out += Eigen::Map<const RowMat>(x, rows, in_);
  }
}

}  // namespace plural::mixture
