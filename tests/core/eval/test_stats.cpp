// core/eval/stats: intervals, rank correlation and partition agreement against values derived by hand.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/base/error.hpp"
#include "core/eval/stats.hpp"

using namespace plural::core;

TEST_CASE("Wilson interval and bootstrap summary", "[core][stats]") {
  // Reference: Wilson 95% for 80/100 is [0.7112, 0.8666] (e.g. statsmodels proportion_confint method='wilson').
  auto [lo, hi] = wilson_interval(80, 100);
  CHECK(lo == Approx(0.7112).margin(1e-4));
  CHECK(hi == Approx(0.8666).margin(1e-4));
  auto [l0, h0] = wilson_interval(0, 10);
  CHECK(l0 == 0.0);
  CHECK(h0 == Approx(0.2775).margin(1e-4));
  std::vector<double> v;
  for (int i = 0; i < 100; ++i) v.push_back(i / 100.0);
  auto s = bootstrap_mean(v, 2000, 1);
  CHECK(s.mean == Approx(0.495));
  CHECK(s.lo < s.mean);
  CHECK(s.hi > s.mean);
  CHECK(s.hi - s.lo == Approx(2 * 1.96 * 0.2901 / 10).epsilon(0.15));  // ≈ normal-theory width
  CHECK(s.worst_decile == Approx(0.045));
  auto again = bootstrap_mean(v, 2000, 1);
  CHECK(again.lo == s.lo);
  CHECK_THROWS_AS(wilson_interval(11, 10), plural::ValueError);
}

TEST_CASE("Spearman's rank correlation", "[core][stats]") {
  // 1 - 6·Σd²/(n(n²-1)) with ranks x = (2,3,1,5,4,0), y = (3,2,1,4,5,0): Σd² = 4, n = 6 -> 1 - 24/210 = 31/35.
  std::vector<double> x{1.0, 2.5, 0.3, 4.0, 3.3, 0.1}, y{2.0, 1.0, 0.5, 3.0, 5.0, 0.2};
  CHECK(spearman(x, y) == Approx(31.0 / 35.0));
  std::vector<double> cubed;
  for (double v : x) cubed.push_back(v * v * v);
  CHECK(spearman(x, cubed) == Approx(1.0));  // any increasing map
  std::vector<double> negated;
  for (double v : x) negated.push_back(-v);
  CHECK(spearman(x, negated) == Approx(-1.0));
  // NaN on either side drops the position: the same as the correlation of what remains.
  auto xn = x, yn = y;
  xn.push_back(std::nan(""));
  yn.push_back(100.0);
  CHECK(spearman(xn, yn) == Approx(31.0 / 35.0));
  // Ties share their average rank: x ranks (0.5, 0.5, 2, 3) against y = (0, 1, 2, 3) give 0.9487 = 3/sqrt(10).
  CHECK(spearman({1, 1, 2, 3}, {0, 1, 2, 3}) == Approx(3 / std::sqrt(10.0)));
  CHECK(std::isnan(spearman({1, 2}, {1, 2})));        // fewer than 3 pairs
  CHECK(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));  // a constant side
}

TEST_CASE("adjusted Rand index", "[core][stats]") {
  // Renaming clusters changes nothing.
  CHECK(adjusted_rand_index({0, 0, 1, 1, 2}, {5, 5, 3, 3, 9}) == Approx(1.0));
  // Hand count (Hubert & Arabie): cells 2,1,1,2 give index 1+0+0+1 = 2; rows 3,3 give 6; columns 2,2,2 give 3;
  // expected 6·3/15 = 1.2, max 4.5 -> (2 - 1.2)/(4.5 - 1.2) = 8/33.
  CHECK(adjusted_rand_index({0, 0, 0, 1, 1, 1}, {0, 0, 1, 1, 2, 2}) == Approx(8.0 / 33.0));
  // Crossed halves agree less than chance.
  CHECK(adjusted_rand_index({0, 0, 1, 1}, {0, 1, 0, 1}) == Approx(-0.5));
  CHECK(adjusted_rand_index({0, 0, 0}, {1, 1, 1}) == 1.0);
  CHECK_THROWS_AS(adjusted_rand_index({0, 1}, {0}), plural::ValueError);
}

TEST_CASE("Student-t quantiles and the exact fair-coin test match their tables", "[core][eval]") {
  CHECK(student_t_two_sided(0.95, 9) == Approx(2.262157).epsilon(1e-6));  // t(0.975, 9)
  CHECK(student_t_two_sided(0.99, 4) == Approx(4.604095).epsilon(1e-6));  // t(0.995, 4)
  CHECK(student_t_two_sided(0.95, 1e6) == Approx(normal_two_sided(0.95)).epsilon(1e-5));
  CHECK(fair_coin_p_value(10, 10) == Approx(2.0 / 1024));  // both all-heads and all-tails
  CHECK(fair_coin_p_value(0, 10) == Approx(2.0 / 1024));
  CHECK(fair_coin_p_value(9, 10) == Approx(22.0 / 1024));  // 2 · (1 + 10) / 2^10
  CHECK(fair_coin_p_value(5, 10) == 1.0);
  CHECK(fair_coin_p_value(60, 100) == Approx(0.056887).epsilon(1e-4));  // R: binom.test(60, 100)$p.value
  CHECK_THROWS_AS(fair_coin_p_value(11, 10), plural::ValueError);
  CHECK_THROWS_AS(student_t_two_sided(0.95, 0), plural::ValueError);
}
