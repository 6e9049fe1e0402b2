// plural doctor data: every count on a dataset built to contain each problem a known number of times.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/dataset_view.hpp"
#include "core/diagnostics/ches.hpp"
#include "core/diagnostics/data_health.hpp"

using namespace plural::core;

namespace {
void add(PreferenceData& d, const std::string& user, const std::string& a, const std::string& b, float label,
         Split split = Split::train) {
  Comparison c;
  c.user = d.user_index(user);
  c.a = d.texts.intern(a);
  c.b = d.texts.intern(b);
  c.label = label;
  c.split = split;
  d.comparisons.push_back(c);
}
}  // namespace

TEST_CASE("data_health counts duplicates, contradictions, disputes and length bias", "[doctor][data]") {
  PreferenceData d;
  d.source = "built";
  add(d, "u1", "x", "yy", 1);
  add(d, "u1", "yy", "x", 0);                  // the same judgement, sides swapped: a duplicate
  add(d, "u1", "x", "yy", 0);                  // contradicts u1's first
  add(d, "u1", "x", "x", 1);                   // a self-pair
  add(d, "u2", "x", "yy", 0);                  // another user, the other way: the pair is disputed
  add(d, "u2", "x", "zzz", 0.5f, Split::val);  // a tie
  add(d, "u3", "p", "q", 0.7f);                // soft, same length
  // Length bias: u4 always prefers the longer of two items, 40 times.
  for (int i = 0; i < 40; ++i)
    add(d, "u4", "short " + std::to_string(i), "a much longer answer number " + std::to_string(i), i % 2 ? 0.f : 0.f);
  d.infer_seen();
  auto h = data_health(d);
  CHECK(h.users == 4);
  CHECK(h.comparisons == 47);
  CHECK(h.by_split[0] == 46);
  CHECK(h.by_split[1] == 1);
  CHECK(h.ties == 1);
  CHECK(h.soft_labels == 1);
  CHECK(h.duplicate_judgements == 1);
  CHECK(h.contradictory_judgements == 1);
  CHECK(h.self_pairs == 1);
  CHECK(h.shared_pairs == 1);
  CHECK(h.disputed_pairs == 1);
  CHECK(h.per_user_min == 1);
  CHECK(h.per_user_max == 40);
  CHECK(h.users_under_5 == 3);
  CHECK(h.examples.size() == 1);
  // Strict pairs with items of different lengths: u1's 3, u2's 1 and u4's 40; the longer wins in 1 + 1 + 40.
  CHECK(h.length_pairs == 44);
  CHECK(h.longer_wins == Approx(42.0 / 44));
  CHECK(h.length_phi > 1);
  CHECK(h.users_length_biased == 1);
  CHECK(h.warnings.size() == 4);  // the contradiction, the self-pair, the length bias, 3 of 4 users under 5
}

TEST_CASE("data_health on a clean, unbiased dataset warns of nothing", "[doctor][data]") {
  PreferenceData d;
  d.source = "clean";
  for (int u = 0; u < 3; ++u)
    for (int i = 0; i < 20; ++i)
      add(d, "u" + std::to_string(u), "item " + std::to_string(i), "longer item " + std::to_string(i + 100),
          (i + u) % 2 ? 1.f : 0.f);
  d.infer_seen();
  auto h = data_health(d);
  CHECK(h.warnings.empty());
  CHECK(h.longer_wins == Approx(0.5).margin(0.05));
  CHECK(std::abs(h.length_phi) < 3 * h.length_phi_se);
  CHECK(h.duplicate_judgements == 0);
  CHECK(h.contradictory_judgements == 0);
}

TEST_CASE("pooled CHES: <h+, h-> - |h+|^2 with the preferred side first, NaN for ties", "[doctor][ches]") {
  PreferenceData d;
  d.source = "ches";
  add(d, "u", "p", "q", 1.f);   // p preferred
  add(d, "u", "p", "q", 0.f);   // q preferred
  add(d, "u", "p", "p2", 1.f);  // p2 has p's features: CHES 0, the largest possible here
  add(d, "u", "p", "q", 0.5f);  // a tie
  d.infer_seen();
  // Texts in order p, q, p2: p = (1, 0), q = (0.6, 0.8), p2 = (1, 0).
  auto features = torch::tensor({1.0f, 0.0f, 0.6f, 0.8f, 1.0f, 0.0f}).view({3, 2});
  DatasetView view(d, features);
  auto c = pooled_ches(view);
  REQUIRE(c.size() == 4);
  CHECK(c[0] == Approx(0.6 - 1.0));  // <p, q> - |p|^2
  CHECK(c[1] == Approx(0.6 - 1.0));  // <q, p> - |q|^2
  CHECK(c[2] == Approx(0.0));
  CHECK(std::isnan(c[3]));
}
