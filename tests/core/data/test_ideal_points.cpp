// core/data/ideal_points: the low-dimensional stand-in for real crowds is seeded, shaped as configured, and its
// answers follow the planted ideal points.
#include <catch2/catch.hpp>
#include <map>

#include "core/base/error.hpp"
#include "core/data/ideal_points.hpp"

using namespace plural::core;
using Catch::Contains;

namespace {
IdealPointsConfig small() {
  IdealPointsConfig c;
  c.items = 12;
  c.seen_users = 30;
  c.unseen_users = 10;
  return c;
}
}  // namespace

TEST_CASE("ideal-point data: seeded, no val split, pair counts and features as configured", "[data][ideal]") {
  auto cfg = small();
  auto a = generate_ideal_points(cfg), b = generate_ideal_points(cfg);
  REQUIRE(a.data.comparisons.size() == b.data.comparisons.size());
  for (size_t i = 0; i < a.data.comparisons.size(); ++i)
    CHECK(a.data.comparisons[i].label == b.data.comparisons[i].label);
  cfg.seed = 1;
  CHECK(generate_ideal_points(cfg).ideal != a.ideal);

  CHECK(a.data.users.size() == 40);
  CHECK(a.data.texts.size() == 12);
  CHECK(a.data.texts[3] == "item 3");
  CHECK(a.feature_dim == 2 + 12);
  CHECK(a.features[3 * a.feature_dim + 2 + 3] == 1.f);  // item 3's one-hot
  CHECK(a.features[3 * a.feature_dim + 2 + 4] == 0.f);
  std::map<int32_t, int> train, support;
  for (const auto& c : a.data.comparisons) {
    CHECK(c.split != Split::val);
    CHECK(c.a != c.b);
    CHECK(c.prompt_a == -1);
    if (c.split == Split::train) ++train[c.user];
    if (c.split == Split::support) ++support[c.user];
  }
  CHECK(train.size() == 30);
  for (const auto& [u, n] : train) {
    CHECK(a.data.users[u].seen);
    CHECK(n >= cfg.min_train_pairs);
    CHECK(n <= cfg.max_train_pairs);
  }
  CHECK(support.size() == 10);
  for (const auto& u : a.data.users) CHECK(u.group >= 0);
}

TEST_CASE("ideal-point answers follow distance to the ideal point and lapses make them coin flips", "[data][ideal]") {
  auto cfg = small();
  cfg.quality = 0;
  cfg.temperature = 1e-3;
  cfg.lapse = 0;
  auto ip = generate_ideal_points(cfg);
  auto dist2 = [&](int item, int user) {
    double d = 0;
    for (int j = 0; j < cfg.dim; ++j) {
      double x = ip.features[item * ip.feature_dim + j] - ip.ideal[user][j];
      d += x * x;
    }
    return d;
  };
  int agree = 0;
  for (const auto& c : ip.data.comparisons) agree += (dist2(c.a, c.user) < dist2(c.b, c.user)) == (c.label > 0.5f);
  CHECK(agree >= static_cast<int>(0.99 * ip.data.comparisons.size()));

  cfg.lapse = 1;
  auto coin = generate_ideal_points(cfg);
  double ones = 0;
  for (const auto& c : coin.data.comparisons) ones += c.label;
  CHECK(ones / coin.data.comparisons.size() == Approx(0.5).margin(0.05));
}

TEST_CASE("ideal-point configs out of range are refused by name", "[data][ideal]") {
  auto cfg = small();
  cfg.items = 1;
  CHECK_THROWS_WITH(generate_ideal_points(cfg), Contains("at least 2 items"));
  cfg = small();
  cfg.min_train_pairs = 20;
  cfg.max_train_pairs = 10;
  CHECK_THROWS_WITH(generate_ideal_points(cfg), Contains("min_train_pairs"));
  cfg = small();
  cfg.temperature = 0;
  CHECK_THROWS_AS(generate_ideal_points(cfg), plural::ValueError);
}
