#include "mixture/frozen_projector.hpp"

#include <torch/torch.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <unsupported/Eigen/SpecialFunctions>

#include "core/base/error.hpp"
#include "mixture/projector.hpp"
#include "mixture/row_gemm.hpp"

namespace plural::mixture {

namespace {
using RowMat = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVec = Eigen::Array<float, 1, Eigen::Dynamic>;

std::vector<float> to_floats(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

PackedWeights packed(const torch::Tensor& wt) {  // wt [in, out]
  auto c = wt.detach().to(torch::kFloat32).contiguous();
  return PackedWeights(c.data_ptr<float>(), c.size(0), c.size(1));
}
}  // namespace

FrozenProjector::FrozenProjector(const ProjectorImpl& p, int64_t split_at)
    : in_(p.in_), out_(p.out_), split_(split_at), residual_(p.spec_.residual) {
  torch::NoGradGuard ng;
  PLURAL_CHECK(split_at >= 0 && split_at < in_, "frozen projector: split at ", split_at, " of ", in_, " inputs");
  PLURAL_CHECK(split_at == 0 || !residual_, "frozen projector: a split input cannot be residual");
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
    if (l == 0 && split_ > 0) {  // the x-columns stay here; the q-columns and the bias go to share_
      auto wq = w.narrow(1, split_, w.size(1) - split_);
      share_ = {wq.size(1), wq.size(0), packed(wq.t()), to_floats(b)};
      w = w.narrow(1, 0, split_);
      b = torch::zeros_like(b);
    }
    layers_.push_back({w.size(1), w.size(0), packed(w.t()), to_floats(b)});
    if (l + 1 == p.linears_.size()) {
      auto wc = w.contiguous();
      last_weight_.assign(wc.data_ptr<double>(), wc.data_ptr<double>() + wc.numel());
      last_bias_.assign(b.data_ptr<double>(), b.data_ptr<double>() + b.numel());
    }
  }
}

void FrozenProjector::forward(const float* x, int64_t rows, float* y) const {
  forward_rows(row_pointers(x, rows, in_).data(), rows, y);
}

void FrozenProjector::forward_rows(const float* const* x_rows, int64_t rows, float* y, Until until) const {
  PLURAL_CHECK(split_ == 0, "frozen projector: a split copy needs forward_split");
  const Layer& L = layers_.front();
  std::vector<float> pre(static_cast<size_t>(rows * L.out));
  Eigen::Map<RowMat>(pre.data(), rows, L.out).rowwise() = Eigen::Map<const RowVec>(L.bias.data(), L.out);
  L.weight_t.add_rows_times(x_rows, rows, pre.data());
  finish(pre.data(), rows, x_rows, y, until);
}

void FrozenProjector::first_share(const float* q, int64_t rows, float* share) const {
  PLURAL_CHECK(split_ > 0, "frozen projector: first_share needs a split copy");
  Eigen::Map<RowMat>(share, rows, share_.out).rowwise() = Eigen::Map<const RowVec>(share_.bias.data(), share_.out);
  share_.weight_t.add_rows_times(row_pointers(q, rows, share_.in).data(), rows, share);
}

void FrozenProjector::forward_split(const float* x, int64_t rows, const float* share, const int64_t* share_row,
                                    float* y, Until until) const {
  PLURAL_CHECK(split_ > 0, "frozen projector: forward_split needs a split copy");
  const Layer& L = layers_.front();
  std::vector<float> pre(static_cast<size_t>(rows * L.out));
  for (int64_t r = 0; r < rows; ++r) std::copy_n(share + share_row[r] * L.out, L.out, pre.data() + r * L.out);
  const auto x_rows = row_pointers(x, rows, split_);
  L.weight_t.add_rows_times(x_rows.data(), rows, pre.data());
  finish(pre.data(), rows, x_rows.data(), y, until);
}

void FrozenProjector::activate(float* a, int64_t rows, int64_t width) const {
  if (activation_ == Activation::none) return;
  // GELU's erf was ~10 % of a 100-row forward on one thread while the other waited.
  for_row_ranges(rows, width, [&](int64_t begin, int64_t end) {
    Eigen::Map<RowMat> act(a + begin * width, end - begin, width);
    if (activation_ == Activation::relu) act = act.max(0.0f);
    if (activation_ == Activation::gelu) act = 0.5f * act * (1.0f + (act * float(M_SQRT1_2)).erf());
  });
}

void FrozenProjector::finish(float* pre, int64_t rows, const float* const* x_rows, float* y, Until until) const {
  const bool to_hidden = until == Until::last_hidden;
  PLURAL_CHECK(!to_hidden || has_hidden(), "frozen projector: no hidden layer without a residual");
  // Every hidden width is out_ (a Projector maps in → out → … → out), so two buffers of rows × out_ take turns.
  const size_t stop = to_hidden ? layers_.size() - 1 : layers_.size();
  std::vector<float> other(stop > 2 ? static_cast<size_t>(rows * out_) : 0);
  float* cur = pre;
  for (size_t l = 1; l < stop; ++l) {
    activate(cur, rows, out_);
    const Layer& L = layers_[l];
    float* dst = l + 1 == stop ? y : (cur == pre ? other.data() : pre);
    Eigen::Map<RowMat>(dst, rows, L.out).rowwise() = Eigen::Map<const RowVec>(L.bias.data(), L.out);
    L.weight_t.add_rows_times(row_pointers(cur, rows, out_).data(), rows, dst);
    cur = dst;
  }
  if (to_hidden) activate(cur, rows, out_);
  if (cur != y) std::copy_n(cur, rows * out_, y);  // a single-layer projector, or h after the first layer
  if (residual_ && !to_hidden)
    for (int64_t r = 0; r < rows; ++r)
      Eigen::Map<RowVec>(y + r * out_, out_) += Eigen::Map<const RowVec>(x_rows[r], in_);
}

}  // namespace plural::mixture
