#include "core/eval/stats.hpp"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/base/error.hpp"
#include "core/base/random.hpp"

namespace plural::core {

double normal_two_sided(double level) {
  PLURAL_CHECK(level > 0 && level < 1, "confidence level must be in (0, 1), got ", level);
  return boost::math::quantile(boost::math::normal_distribution<double>(), 0.5 + level / 2);
}

std::pair<double, double> wilson_interval(double successes, double n, double level) {
  if (n <= 0) return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  PLURAL_CHECK(successes >= 0 && successes <= n, "wilson_interval: successes ", successes, " outside [0, ", n, "]");
  double z = normal_two_sided(level), p = successes / n, z2 = z * z;
  double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  double half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

MeanSummary bootstrap_mean(const std::vector<double>& values, int resamples, uint64_t seed, double level) {
  MeanSummary s;
  s.n = static_cast<int64_t>(values.size());
  if (values.empty()) {
    s.mean = s.lo = s.hi = s.median = s.worst_decile = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  s.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  size_t k = std::max<size_t>(1, n / 10);
  s.worst_decile = std::accumulate(sorted.begin(), sorted.begin() + k, 0.0) / k;
  Rng rng(seed);
  std::vector<double> means(static_cast<size_t>(std::max(1, resamples)));
  for (auto& m : means) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += values[rng.index(n)];
    m = sum / n;
  }
  std::sort(means.begin(), means.end());
  double alpha = (1 - level) / 2;
  auto at = [&](double q) {
    return means[std::min(means.size() - 1, static_cast<size_t>(q * (means.size() - 1) + 0.5))];
  };
  s.lo = at(alpha);
  s.hi = at(1 - alpha);
  return s;
}

}  // namespace plural::core
