// Bayesian logistic attribution, the logistic fit behind it, length control of a model's logits, token CHES:
// planted effects are recovered, hand values hold, bad property files name the file, line and field.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "core/diagnostics/attribution.hpp"
#include "core/diagnostics/ches.hpp"
#include "core/diagnostics/length_control.hpp"
#include "core/diagnostics/logistic.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;
using Catch::Contains;
using namespace plural::test;

namespace {
double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }
}  // namespace

TEST_CASE("fit_logistic: maximum likelihood, MAP and separable data", "[attribution]") {
  Eigen::MatrixXd X = Eigen::MatrixXd::Ones(1, 1);
  Eigen::VectorXd y(1);
  y << 0.75;
  auto ml = fit_logistic(X, y);
  CHECK(ml.converged);
  CHECK(ml.mean[0] == Approx(std::log(3.0)).epsilon(1e-8));  // σ(β) = 0.75
  CHECK(ml.cov(0, 0) == Approx(1 / (0.75 * 0.25)).epsilon(1e-8));
  auto map = fit_logistic(X, y, {}, 0.5);  // stationary: 0.75 − σ(β) − β / 0.25 = 0
  CHECK(0.75 - sigmoid(map.mean[0]) - map.mean[0] / 0.25 == Approx(0).margin(1e-9));
  CHECK(map.cov(0, 0) == Approx(1 / (sigmoid(map.mean[0]) * (1 - sigmoid(map.mean[0])) + 4)).epsilon(1e-8));
  // Weights act as repeats.
  Eigen::MatrixXd X2(2, 1);
  X2 << 1, 1;
  Eigen::VectorXd y2(2), w2(2);
  y2 << 1, 0;
  w2 << 3, 1;
  CHECK(fit_logistic(X2, y2, w2).mean[0] == Approx(std::log(3.0)).epsilon(1e-8));
  // Separable: every y = 1. The fit stops at a finite β instead of diverging.
  y2 << 1, 1;
  auto sep = fit_logistic(X2, y2);
  CHECK(std::isfinite(sep.mean[0]));
  CHECK(sep.mean[0] > 5);
  CHECK_THROWS_WITH(fit_logistic(X2, y2, Eigen::VectorXd::Ones(3)), Contains("2 rows, 2 targets and 3 weights"));
}

TEST_CASE("attribution recovers planted per-user effects with calibrated intervals", "[attribution]") {
  PreferenceData d;
  d.source = "planted";
  Rng rng(11);
  // Items: random lengths and a binary "polite" property from a file.
  std::vector<std::string> items;
  for (int i = 0; i < 200; ++i)
    items.push_back(std::string(5 + rng.index(300), 'a' + char(i % 26)) + std::to_string(i));
  std::vector<double> polite(items.size());
  for (auto& p : polite) p = rng.uniform() < 0.5 ? 1.0 : 0.0;
  TempDir tmp;
  std::string props = tmp.file("props.jsonl"), body;
  for (size_t i = 0; i < items.size(); ++i)
    body += "{\"text\": \"" + items[i] + "\", \"polite\": " + std::to_string(polite[i]) + "}\n";
  body += "{\"text\": \"not in the data\", \"polite\": 1}\n";
  write_text(props, body);
  // 40 users, 80 pairs each; half like politeness (+1.5 per s.d.), half dislike it; all like length (+1 per s.d.).
  const int U = 40, per_user = 80;
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < U * per_user; ++i) pairs.push_back({int(rng.index(items.size())), int(rng.index(items.size()))});
  double ms_len = 0, ms_pol = 0;
  auto loglen = [&](int i) { return std::log1p(double(items[i].size())); };
  for (auto [a, b] : pairs) {
    ms_len += std::pow(loglen(a) - loglen(b), 2);
    ms_pol += std::pow(polite[a] - polite[b], 2);
  }
  const double s_len = std::sqrt(ms_len / pairs.size()), s_pol = std::sqrt(ms_pol / pairs.size());
  std::vector<double> truth_polite(U);
  for (int u = 0; u < U; ++u) {
    truth_polite[u] = u % 2 ? 1.5 : -1.5;
    for (int k = 0; k < per_user; ++k) {
      auto [a, b] = pairs[u * per_user + k];
      double z = 1.0 * (loglen(a) - loglen(b)) / s_len + truth_polite[u] * (polite[a] - polite[b]) / s_pol;
      Comparison c;
      c.user = d.user_index("u" + std::to_string(u));
      c.a = d.texts.intern(items[a]);
      c.b = d.texts.intern(items[b]);
      c.label = rng.uniform() < sigmoid(z) ? 1.f : 0.f;
      d.comparisons.push_back(c);
    }
  }
  d.infer_seen();
  auto p = length_property(d);
  read_item_properties(props, d, p);
  CHECK(p.names == std::vector<std::string>{"log_length", "polite"});
  CHECK(p.unmatched_rows == 1);
  AttributionConfig cfg;
  cfg.prior_sd = 2.0;
  auto a = attribute_preferences(d, p, cfg);
  REQUIRE(a.users.size() == U);
  CHECK(a.missing == 0);
  CHECK(a.scale[0] == Approx(s_len).epsilon(1e-9));
  // Population: length clearly positive; politeness averages out.
  CHECK(a.population.effects[0].lo > 0.5);
  CHECK(a.population.effects[1].lo < 0);
  CHECK(a.population.effects[1].hi > 0);
  CHECK(a.population.effects[0].p_positive > 0.999);
  // Users: the two camps separate, and the 95% intervals cover the truth for most users.
  CHECK(a.users_positive[1] >= 14);
  CHECK(a.users_negative[1] >= 14);
  CHECK(a.user_spread[1] > 1.0);
  int covered = 0;
  for (int u = 0; u < U; ++u) {
    const auto& e = a.users[u].effects[1];
    covered += e.lo <= truth_polite[u] && truth_polite[u] <= e.hi;
    CHECK((e.mean > 0) == (truth_polite[u] > 0));
  }
  CHECK(covered >= 34);  // 95% nominal; the prior shrinks a little
}

TEST_CASE("attribution: missing values, constant properties and bad property files", "[attribution][errors]") {
  PreferenceData d;
  d.source = "small";
  for (int i = 0; i < 12; ++i) {
    Comparison c;
    c.user = d.user_index("u");
    c.a = d.texts.intern("item " + std::to_string(i));
    c.b = d.texts.intern("other item " + std::to_string(i));
    c.label = i % 3 ? 1.f : 0.f;
    d.comparisons.push_back(c);
  }
  d.infer_seen();
  TempDir tmp;
  auto path = tmp.file("p.jsonl");
  write_text(
      path,
      "{\"text\": \"item 0\", \"score\": 1, \"flat\": 2}\n{\"text\": \"other item 0\", \"score\": 0, \"flat\": 2}\n");
  auto p = length_property(d);
  read_item_properties(path, d, p);
  auto a = attribute_preferences(d, p);
  CHECK(a.usable == 1);  // only pair 0 has both items' scores
  CHECK(a.missing == 11);
  CHECK(a.warnings.size() == 1);
  CHECK_THAT(a.warnings[0], Contains("'flat' never differs"));
  CHECK(a.users.empty());  // 1 usable pair < min_pairs
  auto expect = [&](const std::string& body, const std::string& what) {
    write_text(path, body);
    auto q = length_property(d);
    CHECK_THROWS_WITH(read_item_properties(path, d, q), Contains(path) && Contains(what));
  };
  expect("{\"text\": \"item 0\", \"score\": 1}\n{\"text\": \"item 1\", \"score\": \"high\"}\n", ":2: field 'score'");
  expect("{\"score\": 1}\n", ":1: field 'text'");
  expect("{\"text\": \"item 0\", \"log_length\": 3}\n", "field 'log_length' is already a property");
  expect("not json\n", ":1: malformed JSON");
  expect("{\"text\": \"item 0\", \"score\": 1}\n{\"text\": \"item 0\", \"score\": 2}\n",
         ":2: field 'text': the same text as line 1");
  expect("\n", "no property rows");
  CHECK_THROWS_AS(read_item_properties(tmp.file("absent.jsonl"), d, p), plural::IoError);
}

TEST_CASE("length control recovers a planted length term and removes it", "[attribution][length]") {
  PreferenceData d;
  d.source = "lengths";
  Rng rng(5);
  std::vector<size_t> rows;
  std::vector<double> logits;
  for (int i = 0; i < 4000; ++i) {
    Comparison c;
    c.user = d.user_index("u" + std::to_string(i % 20));
    c.a = d.texts.intern(std::string(1 + rng.index(400), 'a') + "#" + std::to_string(i));
    c.b = d.texts.intern(std::string(1 + rng.index(400), 'b') + "#" + std::to_string(i));
    const double content = 3 * rng.normal();  // what the labels follow; independent of length
    c.label = content > 0 ? 1.f : 0.f;
    rows.push_back(d.comparisons.size());
    d.comparisons.push_back(c);
    logits.push_back(content);  // filled in below with the length term
  }
  double ms = 0;
  for (const auto& c : d.comparisons) ms += std::pow(double(d.texts[c.a].size()) - double(d.texts[c.b].size()), 2);
  const double sd = std::sqrt(ms / d.comparisons.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& c = d.comparisons[i];
    logits[i] += 4 * std::tanh((double(d.texts[c.a].size()) - double(d.texts[c.b].size())) / sd);
  }
  d.infer_seen();
  auto lc = length_control(d, rows, logits);
  CHECK(lc.rows == 4000);
  CHECK(lc.data_longer == Approx(0.5).margin(0.03));
  CHECK(lc.model_longer > 0.6);
  CHECK(lc.lc_longer == Approx(0.5).margin(0.05));
  CHECK(lc.phi == Approx(4).margin(0.3));
  CHECK(lc.lc_accuracy > lc.accuracy);
  CHECK(lc.users.size() == 20);
  CHECK(lc.warnings.size() == 2);  // leans on length, and more than the labels do
  CHECK(lc.covariates.empty());
  CHECK_THROWS_WITH(length_control(d, rows, {1.0}), Contains("4000 rows but 1 logits"));

  SECTION("a user-given covariate is fitted jointly with length and removed with it") {
    // A politeness score per text (unknown for a tenth of them); the model also leans +2 per RMS of its difference.
    ItemProperties polite;
    polite.names = {"polite"};
    Rng prng(9);
    for (size_t t = 0; t < d.texts.size(); ++t) polite.values.push_back({t % 10 == 3 ? NAN : prng.normal()});
    std::vector<double> dpol;
    double ss = 0;
    int known = 0;
    for (const auto& c : d.comparisons) {
      dpol.push_back(polite.values[c.a][0] - polite.values[c.b][0]);
      if (std::isfinite(dpol.back())) ss += dpol.back() * dpol.back(), ++known;
    }
    const double rms = std::sqrt(ss / known);
    auto biased = logits;
    for (size_t i = 0; i < biased.size(); ++i)
      if (std::isfinite(dpol[i])) biased[i] += 2 * dpol[i] / rms;
    auto with = length_control(d, rows, biased, polite);
    REQUIRE(with.covariates.size() == 1);
    CHECK(with.covariates[0].name == "polite");
    CHECK(with.covariates[0].coef == Approx(2).margin(0.2));
    CHECK(with.covariates[0].se > 0);
    CHECK(with.covariates[0].scale == Approx(rms));
    CHECK(with.phi == Approx(4).margin(0.3));
    CHECK(with.covariate_rows > 3000);
    CHECK(with.covariate_rows < 4000);
    CHECK(with.lc_accuracy > with.accuracy);
    // Too few rows with the covariate known: length only, and a warning says so.
    ItemProperties sparse = polite;
    for (size_t t = 5; t < sparse.values.size(); ++t) sparse.values[t][0] = NAN;
    auto few = length_control(d, rows, biased, sparse);
    CHECK(few.covariates.empty());
    REQUIRE_FALSE(few.warnings.empty());
    CHECK_THAT(few.warnings.front(), Contains("controlled for length only"));
  }
}

TEST_CASE("token CHES: the hand-computed value, and bad shapes", "[attribution][ches]") {
  auto pos = torch::tensor({{1.0, 0.0}, {1.0, 2.0}});  // S+ = (2, 2)
  auto neg = torch::tensor({{3.0, 1.0}});              // S- = (3, 1)
  CHECK(token_ches(pos, neg) == Approx(2 * 3 + 2 * 1 - 8));
  CHECK(token_ches(pos, neg, true) == Approx(1 * 3 + 1 * 1 - 2));
  CHECK_THROWS_WITH(token_ches(pos, torch::ones({1, 3})), Contains("pos has width 2, neg 3"));
  CHECK_THROWS_WITH(token_ches(torch::ones({0, 2}), neg), Contains("pos must be"));
  CHECK_THROWS_WITH(token_ches(pos, torch::full({1, 2}, NAN)), Contains("NaN"));
}

TEST_CASE("token CHES from cached token sums equals the per-pair form", "[attribution][ches]") {
  PreferenceData d;
  d.source = "sums";
  const int32_t u = d.user_index("u");
  const int32_t x = d.texts.intern("x"), y = d.texts.intern("y"), z = d.texts.intern("z");
  auto pair = [&](int32_t a, int32_t b, float label) {
    Comparison c;
    c.user = u, c.a = a, c.b = b, c.label = label;
    d.comparisons.push_back(c);
  };
  pair(x, y, 1.f);   // x preferred
  pair(x, y, 0.f);   // y preferred
  pair(x, y, 0.5f);  // a tie: NaN
  pair(x, z, 1.f);   // z has no tokens: NaN
  auto states_x = torch::tensor({{1.0, 0.0}, {1.0, 2.0}}), states_y = torch::tensor({{3.0, 1.0}});
  auto row = [](const torch::Tensor& s) { return torch::cat({s.sum(0), torch::tensor({double(s.size(0))})}); };
  auto sums = torch::stack({row(states_x), row(states_y), torch::zeros({3}, torch::kFloat64)});
  for (bool normalize : {false, true}) {
    auto c = token_ches_from_sums(d, sums, normalize);
    CHECK(c[0] == Approx(token_ches(states_x, states_y, normalize)));
    CHECK(c[1] == Approx(token_ches(states_y, states_x, normalize)));
    CHECK(std::isnan(c[2]));
    CHECK(std::isnan(c[3]));
  }
  CHECK_THROWS_WITH(token_ches_from_sums(d, sums.narrow(0, 0, 2), false), Contains("token sums must be [3 texts"));
}
