#pragma once
// y += X·Wᵀ for the few rows of a frozen model's forward (an adaptation's shots). BLAS packs Wᵀ on every call, and
// for a handful of rows the packing costs more than the product: 2 rows × 384 → 64 took 8.4 µs in sgemm and 5.3 µs
// here; 100 rows 103 vs 70 µs on two threads (AMD EPYC, AVX2; bench/RESULTS.md).
#include <cstdint>
#include <vector>

namespace plural::mixture {

/// y [rows, n] (row-major) += X·wt, where row r of X is x_rows[r] (k floats each; the rows need not form one block,
/// e.g. a pair's two sides) and wt is [k, n] row-major. Many rows are split over LibTorch's threads. Without AVX2
/// and FMA the rows are gathered and sgemm does it.
void add_rows_times(const float* const* x_rows, int64_t rows, int64_t k, const float* wt, int64_t n, float* y);

/// Pointers to the rows of a row-major block x [rows, width], appended to `out` (a pair's two sides: call twice).
void append_row_pointers(const float* x, int64_t rows, int64_t width, std::vector<const float*>& out);
/// The same into a new vector.
std::vector<const float*> row_pointers(const float* x, int64_t rows, int64_t width);

namespace detail {
/// The BLAS path alone (what runs without AVX2), for tests.
void add_rows_times_blas(const float* const* x_rows, int64_t rows, int64_t k, const float* wt, int64_t n, float* y);
}  // namespace detail

}  // namespace plural::mixture
