// core/eval/evaluator's pair metrics: calibration error and the NLL interval against values computed by hand.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/eval/evaluator.hpp"

using namespace plural::core;

TEST_CASE("expected calibration error bins P(a > b) and weighs each bin by its share", "[core][metrics]") {
  auto p = torch::tensor({0.05, 0.15, 0.95, 0.92}, torch::kFloat64);
  auto y = torch::tensor({0.0, 1.0, 1.0, 1.0}, torch::kFloat64);
  // Bins 0, 1 and 9 (two pairs): (|0.05 − 0| + |0.15 − 1| + |1.87 − 2|) / 4.
  CHECK(expected_calibration_error(p, y) == Approx(0.2575));
  // Perfectly calibrated bins: half of the p = 0.5 pairs are preferred.
  CHECK(expected_calibration_error(torch::full({4}, 0.5), torch::tensor({0.0, 1.0, 0.0, 1.0})) == Approx(0.0));
  // P = 1 lands in the last bin, not past it.
  CHECK(expected_calibration_error(torch::tensor({1.0}), torch::tensor({0.0})) == Approx(1.0));
  CHECK(std::isnan(expected_calibration_error(torch::zeros({0}), torch::zeros({0}))));
}

TEST_CASE("pair metrics report ECE and a Student-t interval around the NLL", "[core][metrics]") {
  auto p = torch::tensor({0.05, 0.15, 0.95, 0.92}, torch::kFloat64);
  auto logits = torch::log(p / (1 - p));
  auto y = torch::tensor({0.0, 1.0, 1.0, 1.0}, torch::kFloat64);
  auto m = pair_metrics(logits, y);
  CHECK(m.accuracy == Approx(0.75));
  CHECK(m.ece == Approx(0.2575));
  double nll[] = {-std::log(0.95), -std::log(0.15), -std::log(0.95), -std::log(0.92)};
  double mean = (nll[0] + nll[1] + nll[2] + nll[3]) / 4, ss = 0;
  for (double v : nll) ss += (v - mean) * (v - mean);
  double half = 3.182446 * std::sqrt(ss / 3) / 2;  // t(0.975, 3 degrees of freedom), from a table
  CHECK(m.nll == Approx(mean));
  CHECK(m.nll_lo == Approx(mean - half));
  CHECK(m.nll_hi == Approx(mean + half));
}
