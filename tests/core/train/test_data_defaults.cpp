// Defaults that follow the data (core/train/train_defaults.hpp): a user's head as wide as the answers users give,
// no more prototypes than users, PAL-A's width bounded for wide features; what the user sets always wins.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/data/ideal_points.hpp"
#include "core/dataset_view.hpp"
#include "core/session/builtin_families.hpp"
#include "core/train/fit.hpp"
#include "core/train/train_defaults.hpp"

using namespace plural::core;
using Catch::Contains;
using nlohmann::json;

namespace {
struct Crowd {
  IdealPoints ip;
  torch::Tensor features;
  Crowd(int seen_users, int min_pairs, int max_pairs, int extra_dims = 0) {
    register_builtin_families();
    IdealPointsConfig cfg;
    cfg.items = 10;
    cfg.seen_users = seen_users;
    cfg.unseen_users = 2;
    cfg.min_train_pairs = min_pairs;
    cfg.max_train_pairs = max_pairs;
    ip = generate_ideal_points(cfg);
    const auto T = static_cast<int64_t>(ip.data.texts.size());
    features = torch::cat({torch::from_blob(ip.features.data(), {T, ip.feature_dim}, torch::kFloat32).clone(),
                           torch::zeros({T, extra_dims})},
                          1);
  }
};
json config(const std::string& family, const DatasetView& view, const std::string& given = "{}") {
  return json::parse(config_for_data(family, view, given));
}
}  // namespace

TEST_CASE("data shape: feature sizes, seen users and the median train pairs per user", "[defaults]") {
  Crowd c(31, 12, 12);
  DatasetView view(c.ip.data, c.features);
  auto s = data_shape(view);
  CHECK(s.item_dim == c.ip.feature_dim);
  CHECK(s.prompt_dim == 0);
  CHECK(s.seen_users == 31);
  CHECK(s.median_pairs_per_user == 12);
}

TEST_CASE("per-user BT's head follows the answers users give, from 8 to 64", "[defaults]") {
  Crowd few(20, 3, 3), some(20, 20, 20), many(20, 200, 200);
  DatasetView vf(few.ip.data, few.features), vs(some.ip.data, some.features), vm(many.ip.data, many.features);
  CHECK(config("per-user-bt", vf)["embed"] == 8);
  CHECK(config("per-user-bt", vs)["embed"] == 20);
  CHECK(config("per-user-bt", vm)["embed"] == 64);
  CHECK(config("per-user-bt", vs, R"({"embed": 5, "user_l2": 0.1})") == json{{"embed", 5}, {"user_l2", 0.1}});
  // and the model fit_family builds has it
  auto tc = fit_config("per-user-bt", [](TrainConfig& t) {
    t.epochs = 1;
    t.progress = false;
    t.tune_prior = false;
  });
  auto fitted = fit_family("per-user-bt", vs, "{}", tc);
  CHECK(json::parse(fitted.model->config_json())["embed"] == 20);
}

TEST_CASE("mixture families never get more prototypes than seen users, and PAL-A's width stops at 384", "[defaults]") {
  Crowd one(1, 10, 10), lots(30, 10, 10), wide(5, 10, 10, 500);
  DatasetView v1(one.ip.data, one.features), v30(lots.ip.data, lots.features), vw(wide.ip.data, wide.features);
  for (const char* family : {"pal-a", "pal-b", "pal-h", "lore"}) {
    INFO(family);
    CHECK(config(family, v1)["k"] == 1);
    CHECK(config(family, v1, R"({"k": 3})")["k"] == 3);  // asked for: kept
  }
  CHECK(config("pal-b", v30)["k"] == 2);
  CHECK(config("lore", v30)["k"] == 4);
  CHECK(config("pal-a", vw)["dim"] == 384);
  CHECK_FALSE(config("pal-a", v30).contains("dim"));  // 0: the feature dimension, as measured
  CHECK(config("bt", v30) == json::object());         // no data defaults: the config as given
  CHECK_THROWS_WITH(config_for_data("pal-b", v30, "{k: 2"), Contains("pal-b config: not JSON"));
  CHECK_THROWS_WITH(config_for_data("pal-b", v30, "[1]"), Contains("expected a JSON object"));
}
