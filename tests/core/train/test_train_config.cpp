// TrainConfig's declared fields: validation by declared range (open where a 0 would train nothing), and the JSON the
// data-parallel ranks compare holds every field that decides the weights.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/train/train_config.hpp"

using namespace plural::core;
using Catch::Matchers::Contains;

TEST_CASE("TrainConfig is validated by its declared ranges") {
  TrainConfig ok;
  CHECK_NOTHROW(ok.validate());
  auto bad = [](auto set) {
    TrainConfig c;
    set(c);
    return c;
  };
  CHECK_THROWS_WITH(bad([](TrainConfig& c) { c.lr = 0; }).validate(), Contains("train: lr must be in (0, 10], got 0"));
  CHECK_THROWS_WITH(bad([](TrainConfig& c) { c.user_lr = 11; }).validate(), Contains("user_lr must be in (0, 10]"));
  CHECK_THROWS_WITH(bad([](TrainConfig& c) { c.batch_size = 0; }).validate(), Contains("batch_size must be in [1"));
  CHECK_THROWS_WITH(bad([](TrainConfig& c) { c.patience = -1; }).validate(), Contains("patience must be in [0"));
  CHECK_THROWS_WITH(bad([](TrainConfig& c) { c.target_val_accuracy = 1.5; }).validate(),
                    Contains("target_val_accuracy must be in [0, 1]"));
  CHECK_THROWS_WITH(bad([](TrainConfig& c) { c.rationale_temperature = 0; }).validate(),
                    Contains("rationale_temperature must be in (0, 1000]"));
  CHECK_THROWS_WITH(bad([](TrainConfig& c) { c.weight_decay = std::nan(""); }).validate(),
                    Contains("weight_decay must be in [0, 10], got nan"));
  CHECK_THROWS_WITH(bad([](TrainConfig& c) { c.group_lr["scale"] = 0; }).validate(),
                    Contains("the learning rate of group 'scale' must be in (0, 10]"));
  CHECK_THROWS_WITH(bad([](TrainConfig& c) { c.loss = "no-such-loss"; }).validate(), Contains("no-such-loss"));
}

TEST_CASE("the fields that decide the weights are declared once and all reach the ranks' agreement check") {
  TrainConfig c;
  c.loss_options.ipo_tau = 0.25;
  c.group_lr["scale"] = 0.5;
  c.metrics_path = "rank-specific.jsonl";
  auto j = train_config_schema().to_json(c);
  // clang-format off
  for (const char* key : {"loss", "margin", "smoothing", "hinge_margin", "ipo_tau", "lr", "user_lr", "weight_decay",
                          "user_weight_decay", "group_lr", "batch_size", "epochs", "patience", "min_delta",
                          "max_grad_norm", "seed", "target_val_accuracy", "rationale_weight", "rationale_temperature",
                          "spo_weight"})
    CHECK(j.contains(key));
  // clang-format on
  CHECK(j["ipo_tau"] == 0.25);
  CHECK(j["group_lr"]["scale"] == 0.5);
  CHECK(!j.contains("metrics_path"));  // where a rank reports may differ between ranks
  CHECK(!j.contains("progress"));
  auto fields = fields_json(train_config_schema().fields());
  CHECK(fields.size() == j.size());
  CHECK(fields[5]["name"] == "lr");
  CHECK(fields[5]["exclusive_min"] == 0);
}
