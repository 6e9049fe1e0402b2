// Ensemble preference strength on planted data: injected label flips get negative strength, clean pairs do not,
// and the relabelling options change exactly the flagged train labels.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "core/diagnostics/strength.hpp"
#include "tests/persona_fixture.hpp"

using namespace plural::core;

TEST_CASE("ensemble strength flags injected flips and relabelling repairs them", "[strength]") {
  torch::set_num_threads(1);
  auto f = plural::test::persona_fixture(7, 2, 30, 2, 60, 80);
  auto data = f.pk.data;
  std::vector<bool> injected(data.comparisons.size(), false);
  Rng rng(3);
  int64_t flips = 0;
  for (size_t i = 0; i < data.comparisons.size(); ++i)
    if (data.comparisons[i].split == Split::train && rng.uniform() < 0.15) {
      data.comparisons[i].label = 1.f - data.comparisons[i].label;
      injected[i] = true;
      ++flips;
    }
  DatasetView view(data, f.features);
  StrengthConfig sc;
  sc.members = 3;
  sc.family = "per-user-bt";
  sc.epochs = 5;
  auto s = ensemble_strength(view, sc);
  REQUIRE(s.mean.size() == data.comparisons.size());
  int64_t flagged = 0, hit = 0;
  double clean_mean = 0, flipped_mean = 0;
  int64_t clean_n = 0, scored = 0, varied = 0;
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    if (data.comparisons[i].split != Split::train) continue;
    REQUIRE(std::isfinite(s.mean[i]));
    REQUIRE(std::isfinite(s.spread[i]));
    ++scored, varied += s.spread[i] > 1e-6;  // members trained from other seeds and orders disagree a little
    if (injected[i])
      flipped_mean += s.mean[i];
    else
      clean_mean += s.mean[i], ++clean_n;
    if (s.mean[i] < 0) ++flagged, hit += injected[i];
  }
  CHECK(varied > 0.9 * scored);
  flipped_mean /= flips;
  clean_mean /= clean_n;
  INFO("flips " << flips << " flagged " << flagged << " hit " << hit);
  CHECK(flipped_mean < 0);
  CHECK(clean_mean > 0);
  CHECK(double(hit) / flips > 0.6);    // recall
  CHECK(double(hit) / flagged > 0.5);  // precision, against a 15 % base rate

  auto flipped = data;
  CHECK(relabel_with_strength(flipped, s, "flip") == flagged);
  auto soft = data;
  CHECK(relabel_with_strength(soft, s, "soft") == flagged);
  int64_t repaired = 0;
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    if (data.comparisons[i].split != Split::train) {
      CHECK(flipped.comparisons[i].label == data.comparisons[i].label);  // val and test are never touched
      continue;
    }
    if (s.mean[i] < 0) {
      CHECK(flipped.comparisons[i].label == 1.f - data.comparisons[i].label);
      CHECK(soft.comparisons[i].label == Approx(s.prob[i]));
      repaired += injected[i];
    }
  }
  CHECK(repaired == hit);
  // A cap keeps only the most negative tail.
  auto capped = data;
  int64_t train_scored = 0;
  for (size_t i = 0; i < data.comparisons.size(); ++i) train_scored += data.comparisons[i].split == Split::train;
  auto cap = static_cast<int64_t>(0.05 * train_scored);
  CHECK(relabel_with_strength(capped, s, "flip", 0.05) == cap);
  double max_changed = -1e9, min_unchanged = 1e9;
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    if (data.comparisons[i].split != Split::train || !(s.mean[i] < 0)) continue;
    bool changed = capped.comparisons[i].label != data.comparisons[i].label;
    if (changed)
      max_changed = std::max(max_changed, s.mean[i]);
    else
      min_unchanged = std::min(min_unchanged, s.mean[i]);
  }
  CHECK(max_changed <= min_unchanged);  // every changed pair is more negative than every unchanged negative one
  // Adaptive margins: labels stay, every scored train pair gets scale·μ; with a flip, the strength towards the new
  // label.
  auto margins = data;
  CHECK(relabel_with_strength(margins, s, "margin", 1.0, 0.5) == 0);
  auto flip_margins = data;
  CHECK(relabel_with_strength(flip_margins, s, "flip+margin", 1.0, 0.5) == flagged);
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    const auto &c = data.comparisons[i], &m = margins.comparisons[i], &fm = flip_margins.comparisons[i];
    CHECK(m.label == c.label);
    const bool scored = c.split == Split::train && !std::isnan(s.mean[i]);
    CHECK(m.margin == Approx(scored ? 0.5 * s.mean[i] : 0.0));
    CHECK(fm.label == flipped.comparisons[i].label);
    CHECK(fm.margin == Approx(scored ? 0.5 * std::abs(s.mean[i]) : 0.0));
  }
  CHECK_THROWS_AS(relabel_with_strength(flipped, s, "drop"), plural::ValueError);
  CHECK_THROWS_AS(relabel_with_strength(flipped, s, "flip", 0.0), plural::ValueError);
  sc.members = 1;
  CHECK_THROWS_AS(ensemble_strength(view, sc), plural::ValueError);
}

TEST_CASE("ensemble strength of two members: mean, spread and probability describe the same two logits", "[strength]") {
  torch::set_num_threads(1);
  auto f = plural::test::persona_fixture(7, 2, 12, 2, 60, 80);
  DatasetView view(f.pk.data, f.features);
  StrengthConfig sc;
  sc.members = 2;
  sc.family = "per-user-bt";
  sc.epochs = 2;
  auto s = ensemble_strength(view, sc);
  int64_t scored = 0;
  for (size_t i = 0; i < f.pk.data.comparisons.size(); ++i) {
    if (std::isnan(s.mean[i])) continue;
    ++scored;
    // Two members' logits z1, z2: strength = sign·z, so mean ± spread are sign·z1 and sign·z2, and the ensemble's
    // P(a ≻ b) is the mean of σ(z1) and σ(z2).
    const double sign = f.pk.data.comparisons[i].label > 0.5f ? 1 : -1;
    auto sigma = [](double z) { return 1 / (1 + std::exp(-z)); };
    const double p = 0.5 * (sigma(sign * (s.mean[i] + s.spread[i])) + sigma(sign * (s.mean[i] - s.spread[i])));
    CHECK(p == Approx(s.prob[i]).margin(1e-5));
  }
  CHECK(scored > 0);
}
