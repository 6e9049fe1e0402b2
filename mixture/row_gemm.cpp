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

// R rows (1..4) at once: each 16-column strip of wt is read once for all R rows, with R × 2 accumulators in registers.
// Built for AVX2 + FMA whatever the compiler's target; called only where the CPU has them.
template <int R>
__attribute__((target("avx2,fma"))) void block(const float* const* x, int64_t k, const float* wt, int64_t n,
                                                float* y) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    __m256 lo[R], hi[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      lo[r] = _mm256_loadu_ps(y + r * n + j);
      hi[r] = _mm256_loadu_ps(y + r * n + j + 8);
    }
    for (int64_t t = 0; t < k; ++t) {
      const __m256 w0 = _mm256_loadu_ps(wt + t * n + j), w1 = _mm256_loadu_ps(wt + t * n + j + 8);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256 b = _mm256_broadcast_ss(x[r] + t);
        lo[r] = _mm256_fmadd_ps(b, w0, lo[r]);
        hi[r] = _mm256_fmadd_ps(b, w1, hi[r]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(y + r * n + j, lo[r]);
      _mm256_storeu_ps(y + r * n + j + 8, hi[r]);
    }
  }
  for (; j + 8 <= n; j += 8) {
    __m256 acc[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[r] = _mm256_loadu_ps(y + r * n + j);
    for (int64_t t = 0; t < k; ++t) {
      const __m256 w = _mm256_loadu_ps(wt + t * n + j);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(x[r] + t), w, acc[r]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) _mm256_storeu_ps(y + r * n + j, acc[r]);
  }
  for (; j < n; ++j)
    for (int r = 0; r < R; ++r) {
      float s = y[r * n + j];
      for (int64_t t = 0; t < k; ++t) s += x[r][t] * wt[t * n + j];
      y[r * n + j] = s;
    }
}

void rows_block(const float* const* x, int64_t rows, int64_t k, const float* wt, int64_t n, float* y) {
  switch (rows) {
    case 1: return block<1>(x, k, wt, n, y);
    case 2: return block<2>(x, k, wt, n, y);
    case 3: return block<3>(x, k, wt, n, y);
    default: return block<4>(x, k, wt, n, y);
  }
}

bool has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

}  // namespace

namespace detail {
void add_rows_times_blas(const float* const* x_rows, int64_t rows, int64_t k, const float* wt, int64_t n, float* y) {
  if (rows == 0) return;
  std::vector<float> x(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r) std::copy_n(x_rows[r], k, x.data() + r * k);
  constexpr int kRowMajor = 101, kNoTrans = 111;
  cblas_sgemm(kRowMajor, kNoTrans, kNoTrans, static_cast<int>(rows), static_cast<int>(n), static_cast<int>(k), 1.0f,
              x.data(), static_cast<int>(k), wt, static_cast<int>(n), 1.0f, y, static_cast<int>(n));
}
}  // namespace detail

void append_row_pointers(const float* x, int64_t rows, int64_t width, std::vector<const float*>& out) {
  for (int64_t r = 0; r < rows; ++r) out.push_back(x + r * width);
}

std::vector<const float*> row_pointers(const float* x, int64_t rows, int64_t width) {
  std::vector<const float*> p;
  p.reserve(static_cast<size_t>(rows));
  append_row_pointers(x, rows, width, p);
  return p;
}

void add_rows_times(const float* const* x_rows, int64_t rows, int64_t k, const float* wt, int64_t n, float* y) {
  if (!has_avx2_fma()) return detail::add_rows_times_blas(x_rows, rows, k, wt, n, y);
  const int64_t blocks = (rows + 3) / 4;
  // Two threads paid off from ~16 rows (40 rows × 384 → 64: 49 µs on one, 27 µs on two); below, the fork costs more.
  const int64_t grain = rows * k * n >= 16 * 384 * 64 ? 1 : blocks;
  at::parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t r0 = 4 * b;
      rows_block(x_rows + r0, std::min<int64_t>(4, rows - r0), k, wt, n, y + r0 * n);
    }
  });
}

}  // namespace plural::mixture
