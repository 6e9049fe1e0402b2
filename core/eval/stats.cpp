#include "core/eval/stats.hpp"

#include <algorithm>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "core/base/error.hpp"
#include "core/base/random.hpp"

namespace plural::core {

double normal_two_sided(double level) {
  PLURAL_CHECK(level > 0 && level < 1, "confidence level must be in (0, 1), got ", level);
  return boost::math::quantile(boost::math::normal_distribution<double>(), 0.5 + level / 2);
}

double student_t_two_sided(double level, double dof) {
  PLURAL_CHECK(level > 0 && level < 1, "confidence level must be in (0, 1), got ", level);
  PLURAL_CHECK(dof > 0, "degrees of freedom must be > 0, got ", dof);
  return boost::math::quantile(boost::math::students_t_distribution<double>(dof), 0.5 + level / 2);
}

double fair_coin_p_value(int64_t successes, int64_t n) {
  PLURAL_CHECK(n > 0 && successes >= 0 && successes <= n, "fair_coin_p_value: ", successes, " of ", n);
  const boost::math::binomial_distribution<double> coin(static_cast<double>(n), 0.5);
  const auto k = static_cast<double>(std::min(successes, n - successes));  // the nearer tail; both are equal
  return std::min(1.0, 2 * boost::math::cdf(coin, k));
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

namespace {
// 0-based ranks of v over `keep`, ties sharing their average rank.
std::vector<double> average_ranks(const std::vector<double>& v, const std::vector<size_t>& keep) {
  std::vector<size_t> order(keep.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[keep[a]] < v[keep[b]]; });
  std::vector<double> r(keep.size());
  for (size_t lo = 0; lo < order.size();) {
    size_t hi = lo;
    while (hi + 1 < order.size() && v[keep[order[hi + 1]]] == v[keep[order[lo]]]) ++hi;
    for (size_t k = lo; k <= hi; ++k) r[order[k]] = 0.5 * double(lo + hi);
    lo = hi + 1;
  }
  return r;
}
}  // namespace

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<size_t> keep;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    if (!std::isnan(x[i]) && !std::isnan(y[i])) keep.push_back(i);
  if (keep.size() < 3) return std::nan("");
  auto rx = average_ranks(x, keep), ry = average_ranks(y, keep);
  const double mean = (double(keep.size()) - 1) / 2;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t k = 0; k < keep.size(); ++k) {
    sxy += (rx[k] - mean) * (ry[k] - mean);
    sxx += (rx[k] - mean) * (rx[k] - mean);
    syy += (ry[k] - mean) * (ry[k] - mean);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : std::nan("");
}

double adjusted_rand_index(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  PLURAL_CHECK(a.size() == b.size(), "adjusted_rand_index: labelings of ", a.size(), " and ", b.size(), " items");
  std::map<std::pair<int64_t, int64_t>, double> nij;
  std::map<int64_t, double> ai, bj;
  for (size_t i = 0; i < a.size(); ++i) {
    nij[{a[i], b[i]}] += 1;
    ai[a[i]] += 1;
    bj[b[i]] += 1;
  }
  auto c2 = [](double n) { return n * (n - 1) / 2; };
  double index = 0, sa = 0, sb = 0;
  for (const auto& [key, n] : nij) index += c2(n);
  for (const auto& [key, n] : ai) sa += c2(n);
  for (const auto& [key, n] : bj) sb += c2(n);
  double expected = sa * sb / std::max(c2(static_cast<double>(a.size())), 1.0);
  double max_index = 0.5 * (sa + sb);
  return max_index == expected ? 1.0 : (index - expected) / (max_index - expected);
}

}  // namespace plural::core
