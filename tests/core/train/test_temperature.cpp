// core/train/temperature + core/logit_scale: a family folds a logit temperature into its weights exactly (seen users,
// adapted new users and rewards all scale), and fit_family's fit lowers the val NLL it was fitted on.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "core/dataset_view.hpp"
#include "core/eval/evaluator.hpp"
#include "core/logit_scale.hpp"
#include "core/train/fit.hpp"
#include "tests/crowd_fixture.hpp"
#include "tests/helpers.hpp"

using namespace plural::core;

namespace {
struct SmallCrowd : plural::test::CrowdFixture {
  SmallCrowd() : CrowdFixture(config()) {}
  static IdealPointsConfig config() {
    auto cfg = plural::test::crowd_config(12, 40, 10);
    cfg.support_pairs = 6;
    return cfg;
  }
};

Fitted fit(const std::string& family, DatasetView& view, bool calibrate, int epochs) {
  TrainConfig tc = fit_config(family, [&](TrainConfig& t) {
    t.progress = false;
    t.tune_prior = calibrate;
    t.epochs = epochs;
  });
  return fit_family(family, view, "{}", tc);
}

std::vector<size_t> rows_of(DatasetView& view, Split split, bool seen) { return view.data().select(split, seen); }
}  // namespace

TEST_CASE("logit scaling: every logit and reward of each family scales by the factor", "[train][temperature]") {
  SmallCrowd crowd;
  DatasetView view(crowd.ip.data, crowd.features);
  for (const char* family : {"bt", "per-user-bt", "pal-a", "pal-b", "lore", "pal-h", "vpl"}) {
    DYNAMIC_SECTION(family) {
      auto f = fit(family, view, false, 2);
      auto& model = *f.model;
      auto* scalable = dynamic_cast<LogitScalable*>(&model);
      REQUIRE(scalable);
      torch::NoGradGuard no_grad;
      model.eval();
      auto seen = view.batch(rows_of(view, Split::test, true));
      auto shots = view.batch(rows_of(view, Split::support, false)).select(torch::arange(0, 4));
      auto adapter = make_adapter(family);
      auto state = adapter->adapt(model, shots, "new");
      state.tensors.erase("cov");  // the posterior mean's logits: the predictive moderation is not linear
      state.tensors.erase("sigma");
      auto z_seen = model.logits(seen);
      auto z_new = model.logits_for(seen, state);
      auto r_new = model.reward(seen.a, state);
      REQUIRE(scalable->scale_logits(0.5));
      CHECK(torch::allclose(model.logits(seen), 0.5 * z_seen, 1e-4, 1e-5));
      CHECK(torch::allclose(model.logits_for(seen, state), 0.5 * z_new, 1e-4, 1e-5));
      CHECK(torch::allclose(model.reward(seen.a, state), 0.5 * r_new, 1e-4, 1e-5));
    }
  }
}

TEST_CASE("logit temperature: fitted after training, lowers the val NLL, saved in the weights",
          "[train][temperature]") {
  SmallCrowd crowd;
  DatasetView view(crowd.ip.data, crowd.features);
  auto f = fit("pal-b", view, true, 30);
  const auto& t = f.result.temperature;
  REQUIRE(t.fitted);
  CHECK(t.pairs > 0);
  CHECK(t.temperature >= 1.0);  // only softening
  CHECK(t.temperature <= 4.0);
  CHECK(t.val_nll_after <= t.val_nll_before + 1e-9);
  CHECK(std::isfinite(t.val_nll_after));
  // The model as saved gives the tempered logits.
  plural::test::TempDir dir;
  const auto path = dir.file("tempered.pt");
  save_model(*f.model, path);
  auto loaded = load_model(path);
  torch::NoGradGuard no_grad;
  f.model->eval();
  loaded->eval();
  auto b = view.batch(rows_of(view, Split::val, true));
  CHECK(torch::allclose(f.model->logits(b), loaded->logits(b)));
}

TEST_CASE("logit temperature: not fitted when calibration is off", "[train][temperature]") {
  SmallCrowd crowd;
  DatasetView view(crowd.ip.data, crowd.features);
  CHECK_FALSE(fit("pal-b", view, false, 2).result.temperature.fitted);
}
