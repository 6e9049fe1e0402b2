#pragma once
// y += X·Wᵀ for the few rows of a frozen model's forward (an adaptation's shots). BLAS packs Wᵀ on every call, and
// for a handful of rows the packing costs more than the product; a frozen weight is packed once instead, into
// 16-column panels that stay in L1 while every block of rows passes over them (bench/RESULTS.md).
#include <cstdint>
#include <functional>
#include <vector>

namespace plural::mixture {

/// Wᵀ [k, n] held for add_rows_times: with AVX2 + FMA, as 16-column panels of k × 16 contiguous floats (the last
/// one zero-padded), each starting its sum at its first nonzero row (a triangular Wᵀ costs half); without, as
/// given, for sgemm.
class PackedWeights {
 public:
  enum class Layout { best, panels, plain };  ///< best: panels where the CPU has AVX2 + FMA; the others for tests
  PackedWeights() = default;
  /// From wt [k, n], row-major. Layout::panels only where panel_kernel_available().
  PackedWeights(const float* wt, int64_t k, int64_t n, Layout layout = Layout::best);
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  /// y [rows, n] (row-major) += X·Wᵀ, where row r of X is x_rows[r] (k floats each; the rows need not form one
  /// block, e.g. a pair's two sides). Many rows are split over LibTorch's threads by panel.
  void add_rows_times(const float* const* x_rows, int64_t rows, float* y) const;

 private:
  int64_t k_ = 0, n_ = 0;
  bool panels_ = false;
  std::vector<float> data_;
  std::vector<int64_t> first_row_;  // per panel
};

/// fn(begin, end) over row ranges covering [0, rows), split over LibTorch's threads when rows × width is large
/// enough to pay for the fork (from this file, which is built with OpenMP: elsewhere at::parallel_for is serial).
void for_row_ranges(int64_t rows, int64_t width, const std::function<void(int64_t, int64_t)>& fn);

/// Pointers to the rows of a row-major block x [rows, width], appended to `out` (a pair's two sides: call twice).
void append_row_pointers(const float* x, int64_t rows, int64_t width, std::vector<const float*>& out);
/// The same into a new vector.
std::vector<const float*> row_pointers(const float* x, int64_t rows, int64_t width);

/// Whether this CPU runs the panel kernel (AVX2 + FMA).
bool panel_kernel_available();

}  // namespace plural::mixture
