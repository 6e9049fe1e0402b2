#pragma once
// Confidence intervals for the Evaluator and the statistics benchmarks report (Boost.Math quantiles; no torch).
#include <cstdint>
#include <utility>
#include <vector>

namespace plural::core {

/// Wilson score interval for a proportion `successes / n` at confidence `level` (default 95%).
std::pair<double, double> wilson_interval(double successes, double n, double level = 0.95);

struct MeanSummary {
  int64_t n = 0;
  double mean = 0, lo = 0, hi = 0;  ///< percentile bootstrap interval of the mean
  double median = 0;
  double worst_decile = 0;  ///< mean of the lowest 10% of values (at least one)
};
/// Mean with a seeded percentile-bootstrap interval over the values (e.g. users).
MeanSummary bootstrap_mean(const std::vector<double>& values, int resamples = 1000, uint64_t seed = 0,
                           double level = 0.95);

/// Spearman's rank correlation over the positions where both x and y are not NaN (tied values share their average
/// rank); NaN when fewer than 3 such positions remain or a side is constant.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

/// Adjusted Rand index of two labelings of the same items (Hubert & Arabie 1985): 1 for the same partition up to
/// renaming, about 0 for independent ones; 1 when both are a single cluster.
double adjusted_rand_index(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

/// Two-sided normal quantile z such that P(|Z| < z) = level.
double normal_two_sided(double level);
/// Two-sided Student-t quantile with `dof` degrees of freedom: the half-width factor of a mean's interval.
double student_t_two_sided(double level, double dof);
/// Exact two-sided binomial test of a fair coin: P(a count at least as far from n/2 as `successes`), in [0, 1].
double fair_coin_p_value(int64_t successes, int64_t n);

}  // namespace plural::core
