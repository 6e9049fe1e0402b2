#pragma once
// An inference copy of a Projector for a frozen model: float weights in row-major buffers (an eval-mode batchnorm
// folded into the Linear before it; dropout is the identity), run through a few-row kernel and Eigen instead of
// LibTorch ops.
// A few-shot adaptation's forward is a handful of rows, where LibTorch's per-op dispatch, not arithmetic, was the
// cost (PAL-B, one shot: ~40 µs of a 63 µs adaptation).
#include <cstdint>
#include <vector>

#include "mixture/row_gemm.hpp"

namespace plural::mixture {

class ProjectorImpl;

class FrozenProjector {
 public:
  /// A copy of p's current weights (p's own mode does not matter: the copy computes p in eval mode). With
  /// split_at in (0, in): p's input is [x; q] with x of split_at columns, and the first layer's q-part (with its
  /// bias) is applied apart by first_share, so that a q shared by many rows (PAL-A's prompt) costs one product.
  explicit FrozenProjector(const ProjectorImpl& p, int64_t split_at = 0);
  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  int64_t split_at() const { return split_; }
  int64_t first_out() const { return layers_.front().out; }
  /// Where a pass stops: f's output [rows, out], or f's last hidden layer after its activation [rows, hidden]
  /// (needs has_hidden()), for a caller that needs only a function of f(x) = W h + b.
  enum class Until { output, last_hidden };
  /// y [rows, out] = f(x [rows, in]), both row-major float32; y must not alias x. Not for a split copy.
  void forward(const float* x, int64_t rows, float* y) const;
  /// The same, with row r of x at x_rows[r] (a pair's two sides without copying them into one block).
  void forward_rows(const float* const* x_rows, int64_t rows, float* y, Until until = Until::output) const;
  /// share [rows, first_out] = the first layer's pre-activation from q [rows, in − split_at] alone (bias included).
  void first_share(const float* q, int64_t rows, float* share) const;
  /// y [rows, out] = f([x; q]) for x [rows, split_at] whose q's share is row share_row[r] of share.
  void forward_split(const float* x, int64_t rows, const float* share, const int64_t* share_row, float* y,
                     Until until = Until::output) const;

  /// Whether f has a hidden layer and no residual, so that f(x) = W h(x) + b.
  bool has_hidden() const { return layers_.size() >= 2 && !residual_; }
  int64_t hidden() const { return layers_.back().in; }
  /// The last Linear, eval batchnorm folded: W [out, hidden] and b [out], row-major doubles.
  const std::vector<double>& last_weight() const { return last_weight_; }
  const std::vector<double>& last_bias() const { return last_bias_; }

 private:
  struct Layer {
    int64_t in = 0, out = 0;
    PackedWeights weight_t;   // Wᵀ [in, out]
    std::vector<float> bias;  // [out] (zeros with -nobias)
  };
  /// Every layer after the first (up to `until`), from the first layer's pre-activation `pre` [rows, first_out]
  /// (which it overwrites).
  void finish(float* pre, int64_t rows, const float* const* x_rows, float* y, Until until) const;
  void activate(float* a, int64_t rows, int64_t width) const;
  int64_t in_ = 0, out_ = 0, split_ = 0;
  bool residual_ = false;
  enum class Activation { none, relu, gelu } activation_ = Activation::none;
  std::vector<Layer> layers_;
  Layer share_;  // the first layer's q-columns and its bias, with a split
  std::vector<double> last_weight_, last_bias_;
};

}  // namespace plural::mixture
