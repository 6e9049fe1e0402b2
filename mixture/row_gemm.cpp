#include "mixture/row_gemm.hpp"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <vector>

// The CBLAS entry point of the BLAS LibTorch itself loads (libblas.so.3: OpenBLAS here, with kernels chosen for the
// CPU at load time). Declared rather than included: Debian ships <cblas.h> only with a -dev package of one BLAS.
extern "C" void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a,
                            int lda, const float* b, int ldb, float beta, float* c, int ldc);

namespace plural::mixture {

namespace {

constexpr int64_t kPanel = 16;      // columns per panel: two AVX2 registers
constexpr int64_t kRowBlock = 6;    // rows per pass over a panel: 12 accumulators, 2 panel and 1 broadcast registers
constexpr int64_t kRowChunk = 120;  // rows whose inputs stay in L2 while the panels go by (120 × 384 floats: 180 KB)

// R rows (1..6) of y [·, 16] (row stride ldy) += X·panel, panel [k, 16] contiguous and zero before row t0. Per step
// of k: two panel loads, R broadcasts, 2R FMAs. Built for AVX2 + FMA whatever the compiler's target; called only
// where the CPU has them.
template <int R>
__attribute__((target("avx2,fma"))) void panel_block(const float* const* x, int64_t t0, int64_t k, const float* panel,
                                                     float* y, int64_t ldy) {
  __m256 lo[R], hi[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    lo[r] = _mm256_loadu_ps(y + r * ldy);
    hi[r] = _mm256_loadu_ps(y + r * ldy + 8);
  }
  for (int64_t t = t0; t < k; ++t) {
    const __m256 w0 = _mm256_loadu_ps(panel + t * kPanel), w1 = _mm256_loadu_ps(panel + t * kPanel + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 b = _mm256_broadcast_ss(x[r] + t);
      lo[r] = _mm256_fmadd_ps(b, w0, lo[r]);
      hi[r] = _mm256_fmadd_ps(b, w1, hi[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(y + r * ldy, lo[r]);
    _mm256_storeu_ps(y + r * ldy + 8, hi[r]);
  }
}

void panel_rows(const float* const* x, int64_t rows, int64_t t0, int64_t k, const float* panel, float* y, int64_t ldy) {
  switch (rows) {
    case 1:
      return panel_block<1>(x, t0, k, panel, y, ldy);
    case 2:
      return panel_block<2>(x, t0, k, panel, y, ldy);
    case 3:
      return panel_block<3>(x, t0, k, panel, y, ldy);
    case 4:
      return panel_block<4>(x, t0, k, panel, y, ldy);
    case 5:
      return panel_block<5>(x, t0, k, panel, y, ldy);
    default:
      return panel_block<6>(x, t0, k, panel, y, ldy);
  }
}

bool has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

void add_rows_times_blas(const float* const* x_rows, int64_t rows, int64_t k, const float* wt, int64_t n, float* y) {
  if (rows == 0) return;
  std::vector<float> x(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r) std::copy_n(x_rows[r], k, x.data() + r * k);
  constexpr int kRowMajor = 101, kNoTrans = 111;
  cblas_sgemm(kRowMajor, kNoTrans, kNoTrans, static_cast<int>(rows), static_cast<int>(n), static_cast<int>(k), 1.0f,
              x.data(), static_cast<int>(k), wt, static_cast<int>(n), 1.0f, y, static_cast<int>(n));
}

}  // namespace

bool panel_kernel_available() { return has_avx2_fma(); }

PackedWeights::PackedWeights(const float* wt, int64_t k, int64_t n, Layout layout)
    : k_(k), n_(n), panels_(layout == Layout::panels || (layout == Layout::best && has_avx2_fma())) {
  if (!panels_) {
    data_.assign(wt, wt + k * n);
    return;
  }
  const int64_t panels = (n + kPanel - 1) / kPanel;
  data_.assign(static_cast<size_t>(panels * k * kPanel), 0.0f);
  first_row_.assign(static_cast<size_t>(panels), k);
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t t = 0; t < k; ++t)
      for (int64_t c = p * kPanel; c < std::min(n, (p + 1) * kPanel); ++c) {
        const float v = wt[t * n + c];
        data_[static_cast<size_t>((p * k + t) * kPanel + c - p * kPanel)] = v;
        if (v != 0.0f) first_row_[static_cast<size_t>(p)] = std::min(first_row_[static_cast<size_t>(p)], t);
      }
}

void PackedWeights::add_rows_times(const float* const* x_rows, int64_t rows, float* y) const {
  if (!panels_) return add_rows_times_blas(x_rows, rows, k_, data_.data(), n_, y);
  const int64_t panels = (n_ + kPanel - 1) / kPanel, chunks = (rows + kRowChunk - 1) / kRowChunk;
  // Two threads paid off from ~16 rows × 384 → 64; below, the fork costs more than it saves.
  const int64_t tasks = chunks * panels, grain = rows * k_ * n_ >= 16 * 384 * 64 ? 1 : tasks;
  at::parallel_for(0, tasks, grain, [&](int64_t begin, int64_t end) {
    float edge[kRowBlock * kPanel] = {};  // the last panel's columns of a row block, when n is not a multiple of 16
    for (int64_t task = begin; task < end; ++task) {
      // Panels in the order 0, P−1, 1, P−2, …: the threads' contiguous shares then cost the same when the panels'
      // sums shorten (a triangular Wᵀ).
      const int64_t chunk = task / panels, i = task % panels, p = i % 2 == 0 ? i / 2 : panels - 1 - i / 2;
      const int64_t j = p * kPanel, width = std::min(kPanel, n_ - j);
      const float* panel = data_.data() + p * k_ * kPanel;
      const int64_t t0 = first_row_[static_cast<size_t>(p)];
      for (int64_t r0 = chunk * kRowChunk; r0 < std::min(rows, (chunk + 1) * kRowChunk); r0 += kRowBlock) {
        const int64_t R = std::min(kRowBlock, rows - r0);
        if (width == kPanel) {
          panel_rows(x_rows + r0, R, t0, k_, panel, y + r0 * n_ + j, n_);
          continue;
        }
        for (int64_t r = 0; r < R; ++r) std::copy_n(y + (r0 + r) * n_ + j, width, edge + r * kPanel);
        panel_rows(x_rows + r0, R, t0, k_, panel, edge, kPanel);
        for (int64_t r = 0; r < R; ++r) std::copy_n(edge + r * kPanel, width, y + (r0 + r) * n_ + j);
      }
    }
  });
}

void for_row_ranges(int64_t rows, int64_t width, const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t grain = rows * width >= 16 * 384 ? std::max<int64_t>(1, rows / 8) : rows;
  at::parallel_for(0, rows, std::max<int64_t>(grain, 1), fn);
}

void append_row_pointers(const float* x, int64_t rows, int64_t width, std::vector<const float*>& out) {
  for (int64_t r = 0; r < rows; ++r) out.push_back(x + r * width);
}

std::vector<const float*> row_pointers(const float* x, int64_t rows, int64_t width) {
  std::vector<const float*> p;
  p.reserve(static_cast<size_t>(rows));
  append_row_pointers(x, rows, width, p);
  return p;
}

}  // namespace plural::mixture
