#pragma once
// An inference copy of a Projector for a frozen model: float weights in row-major buffers (an eval-mode batchnorm
// folded into the Linear before it; dropout is the identity), run through CBLAS and Eigen instead of LibTorch ops.
// A few-shot adaptation's forward is a handful of rows, where LibTorch's per-op dispatch, not arithmetic, was the
// cost (PAL-B, one shot: ~40 µs of a 63 µs adaptation).
#include <cstdint>
#include <vector>

namespace plural::mixture {

class ProjectorImpl;

class FrozenProjector {
 public:
  /// A copy of p's current weights (p's own mode does not matter: the copy computes p in eval mode).
  explicit FrozenProjector(const ProjectorImpl& p);
  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  /// y [rows, out] = f(x [rows, in]), both row-major float32; y must not alias x.
  void forward(const float* x, int64_t rows, float* y) const;

 private:
  struct Layer {
    int64_t in = 0, out = 0;
    std::vector<float> weight;  // [out, in], row-major
    std::vector<float> bias;    // [out] (zeros with -nobias)
  };
  int64_t in_ = 0, out_ = 0;
  bool residual_ = false;
  enum class Activation { none, relu, gelu } activation_ = Activation::none;
  std::vector<Layer> layers_;
};

}  // namespace plural::mixture
