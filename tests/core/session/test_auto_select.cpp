// core/session/auto_select: --model auto trains what applies, skips the rest with a reason, keeps the lowest
// per-user validation NLL, and refuses data it cannot select on.
#include <torch/torch.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "core/base/error.hpp"
#include "core/data/ideal_points.hpp"
#include "core/data/subsets.hpp"
#include "core/dataset_view.hpp"
#include "core/session/auto_select.hpp"
#include "core/session/builtin_families.hpp"

using namespace plural::core;
using Catch::Contains;

namespace {
struct Fixture {
  IdealPoints ip;
  torch::Tensor features;
  explicit Fixture(bool carve) {
    register_builtin_families();
    IdealPointsConfig cfg;
    cfg.items = 10;
    cfg.seen_users = 40;
    cfg.unseen_users = 5;
    ip = generate_ideal_points(cfg);
    if (carve) carve_validation(ip.data, 0);
    features = torch::from_blob(ip.features.data(), {static_cast<int64_t>(ip.data.texts.size()), ip.feature_dim},
                                torch::kFloat32)
                   .clone();
  }
};

AutoOptions quick_auto(std::vector<AutoCandidate> candidates) {
  AutoOptions o;
  o.candidates = std::move(candidates);
  o.adjust = [](TrainConfig& t) {
    t.epochs = 4;
    t.progress = false;
  };
  return o;
}
}  // namespace

TEST_CASE("auto selection keeps the candidate with the lowest validation NLL", "[session][auto]") {
  Fixture f(true);
  DatasetView view(f.ip.data, f.features);
  int reported = 0;
  auto opts = quick_auto({{"bt", 0}, {"per-user-bt", 0}, {"pal-b", 2}, {"pal-b", 100}});
  opts.on_row = [&](const AutoRow&) { ++reported; };
  auto r = fit_auto(view, opts);
  REQUIRE(r.rows.size() == 4);
  CHECK(reported == 4);
  CHECK_THAT(r.rows[3].skipped, Contains("K = 100") && Contains("40"));
  double best = INFINITY;
  for (int i = 0; i < 3; ++i) {
    CHECK(r.rows[i].skipped.empty());
    CHECK(r.rows[i].val_users > 0);
    CHECK(std::isfinite(r.rows[i].val_nll));
    best = std::min(best, r.rows[i].val_nll);
  }
  REQUIRE(r.winner >= 0);
  CHECK(r.rows[r.winner].val_nll == best);
  CHECK(r.fitted.model->family() == r.rows[r.winner].candidate.family);
  CHECK(r.rows[2].candidate.name() == "pal-b K=2");
}

TEST_CASE("auto selection's budget: the first candidate always trains, later ones wait for time", "[session][auto]") {
  Fixture f(true);
  DatasetView view(f.ip.data, f.features);
  auto opts = quick_auto({{"bt", 0}, {"per-user-bt", 0}});
  opts.budget_minutes = 1e-12;
  auto r = fit_auto(view, opts);
  CHECK(r.winner == 0);
  CHECK(r.rows[1].skipped == "time budget spent");
}

TEST_CASE("auto selection refuses data it cannot select on, by name", "[session][auto]") {
  Fixture no_val(false);
  DatasetView view(no_val.ip.data, no_val.features);
  CHECK_THROWS_WITH(fit_auto(view, quick_auto({{"bt", 0}})), Contains("no seen user has val comparisons"));
  Fixture f(true);
  for (auto& c : f.ip.data.comparisons)
    if (c.split == Split::train || c.split == Split::val) c.split = Split::support;
  f.ip.data.infer_seen();
  DatasetView unseen(f.ip.data, f.features);
  CHECK_THROWS_WITH(fit_auto(unseen, quick_auto({{"bt", 0}})), Contains("every user here is unseen"));
  Fixture g(true);
  DatasetView ok(g.ip.data, g.features);
  CHECK_THROWS_WITH(fit_auto(ok, quick_auto({{"no-such", 0}})), Contains("no-such"));
}
