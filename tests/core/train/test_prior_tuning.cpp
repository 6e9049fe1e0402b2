// core/train/prior_tuning: after training, a family with a tunable prior gets the width its validation pairs ask
// for, the choice is saved with the model, seen users are refit only when that predicts better, and the choice
// helps new users on held-out pairs.
#include <torch/torch.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include "core/dataset_view.hpp"
#include "core/eval/evaluator.hpp"
#include "core/train/fit.hpp"
#include "core/tunable_prior.hpp"
#include "tests/crowd_fixture.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;

namespace {
struct Crowd : plural::test::CrowdFixture {
  Crowd() : CrowdFixture(config()) {}
  static IdealPointsConfig config() {
    auto cfg = plural::test::crowd_config(15, 120, 60);
    cfg.support_pairs = 10;
    return cfg;
  }
};

Fitted fit(const std::string& family, DatasetView& view, bool tune, const std::string& config = "{}") {
  TrainConfig tc = fit_config(family, [&](TrainConfig& t) {
    t.progress = false;
    t.tune_prior = tune;
  });
  return fit_family(family, view, config, tc);
}

double prior_var_in_config(const RewardModel& m) { return nlohmann::json::parse(m.config_json()).at("prior_var"); }

// Mean per-user NLL of the seen users' val pairs with their (trained or refit) seen states.
double seen_val_nll(RewardModel& m, DatasetView& view) {
  std::map<int32_t, std::vector<size_t>> by_user;
  for (size_t i : view.rows(Split::val, true)) by_user[view.data().comparisons[i].user].push_back(i);
  double sum = 0;
  for (const auto& [u, rows] : by_user)
    sum += pair_metrics(score_pairs(m, view.batch(rows), nullptr), view.batch(rows).label).nll;
  return sum / static_cast<double>(by_user.size());
}

double unseen_nll(RewardModel& m, DatasetView& view, int64_t shots) {
  EvalConfig ec;
  ec.shots = {shots};
  for (const auto& c : evaluate_grid(m, view, ec))
    if (c.users == "unseen") return c.pairs.nll;
  return NAN;
}
}  // namespace

TEST_CASE("prior tuning: per-user BT's chosen prior is saved, refit seen users score as measured", "[train][prior]") {
  Crowd crowd;
  DatasetView view(crowd.ip.data, crowd.features);
  // A head as wide as Persona-K's (64) on users with 8-45 answers: where the seen heads' moments are no prior for a
  // new user (the data default narrows the head to the answers users give, core/train/train_defaults.hpp).
  const char* wide = R"({"embed": 64})";
  auto tuned = fit("per-user-bt", view, true, wide);
  const auto& p = tuned.result.prior;
  REQUIRE(p.tuned);
  CHECK(p.users > 50);
  CHECK(p.variance > 0);
  CHECK(prior_var_in_config(*tuned.model) == Approx(p.variance));
  CHECK(p.val_nll_adapted <= p.val_nll_trained + (p.seen_refit ? 0.0 : 1e9));
  if (p.seen_refit) CHECK(seen_val_nll(*tuned.model, view) == Approx(p.val_nll_adapted).epsilon(1e-4));

  plural::test::TempDir tmp;
  save_model(*tuned.model, tmp.file("m.pt"), "ideal");
  auto loaded = load_model(tmp.file("m.pt"));
  CHECK(prior_var_in_config(*loaded) == Approx(p.variance));
  auto shots = view.batch(view.rows(Split::support, false));
  auto adapter = make_adapter("per-user-bt");
  auto a = adapter->adapt(*tuned.model, shots, "x"), b = adapter->adapt(*loaded, shots, "x");
  CHECK(torch::allclose(a.at("w"), b.at("w")));

  // A scale without the shape it scales is refused, not ignored.
  CHECK_THROWS_WITH(make_model("per-user-bt", view.dims(), R"({"prior_var": 2})"),
                    Catch::Contains("give prior_mean and prior_diag"));

  auto untuned = fit("per-user-bt", view, false, wide);
  CHECK_FALSE(untuned.result.prior.tuned);
  CHECK(prior_var_in_config(*untuned.model) == 0.0);
  // The point of it: new users' held-out pairs are predicted better after 5 answers than under the seen heads'
  // moments (which on few pairs per user leave new users nearly where the population is, or far too free).
  CHECK(unseen_nll(*tuned.model, view, 5) < unseen_nll(*untuned.model, view, 5));
}

TEST_CASE("prior tuning: PAL-B keeps a variance from its grid and BT has no prior to tune", "[train][prior]") {
  Crowd crowd;
  DatasetView view(crowd.ip.data, crowd.features);
  auto pal = fit("pal-b", view, true);
  REQUIRE(pal.result.prior.tuned);
  auto grid = dynamic_cast<TunablePrior&>(*pal.model).prior_grid();
  CHECK(std::find(grid.begin(), grid.end(), pal.result.prior.variance) != grid.end());
  CHECK(prior_var_in_config(*pal.model) == pal.result.prior.variance);
  CHECK(pal.model->prior_state().at("cov")[0][0].item<double>() == Approx(pal.result.prior.variance));
  auto bt = fit("bt", view, true);
  CHECK_FALSE(bt.result.prior.tuned);
}
