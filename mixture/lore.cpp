#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/base/json_config.hpp"
#include "mixture/model_inputs.hpp"
#include "mixture/pal.hpp"
#include "mixture/shot_geometries.hpp"

namespace plural::mixture {

using core::ItemBatch;
using core::PairBatch;

// LoRe: φ(x)ᵀ V w with a shared low-rank basis.

LoRe::LoRe(const core::ModelDims& dims, Config c) : config_(std::move(c)) {
  set_dims(dims);
  config_.use_prompt = config_.use_prompt && dims.prompt_dim > 0;
  const int64_t D = dims.item_dim + (config_.use_prompt ? dims.prompt_dim : 0);
  basis_ = register_parameter("basis", torch::randn({D, std::max<int64_t>(config_.k, 1)}) / std::sqrt(double(D)));
  init_users(config_.k, false, config_.prior_var);
}

std::string LoRe::config_json() const {
  return nlohmann::json{{"k", config_.k}, {"use_prompt", config_.use_prompt}, {"prior_var", config_.prior_var}}.dump();
}

torch::Tensor LoRe::phi(const ItemBatch& items) const {
  check_items(items, dims_, config_.use_prompt, "lore");
  return config_.use_prompt ? torch::cat({items.x, items.prompt}, 1) : items.x;
}

torch::Tensor LoRe::item_representation(const ItemBatch& items) { return torch::matmul(phi(items), basis_); }

torch::Tensor LoRe::reward_weights(const ItemBatch& items, const torch::Tensor& w) {
  auto s = torch::matmul(phi(items), basis_);  // [B, K]
  return (s * broadcast_weights(w, s.size(0)).to(s.dtype())).sum(1);
}

std::unique_ptr<ShotGeometry> LoRe::geometry(const PairBatch& shots) {
  auto diff = torch::matmul(phi(shots.a) - phi(shots.b), basis_);
  return linear_geometry(shots.size(), k_, to_doubles(diff));
}

namespace {
const bool registered = [] {
  core::register_model(
      "lore",
      [](const core::ModelDims& dims, const std::string& json) -> std::shared_ptr<core::RewardModel> {
        LoRe::Config c;
        core::JsonConfig r(json, "lore");
        r.get("k", c.k, 1, core::kMaxPrototypes);
        r.get("use_prompt", c.use_prompt);
        r.get("prior_var", c.prior_var);
        r.finish();
        return std::make_shared<LoRe>(dims, c);
      },
      "LoRe: φ(x)ᵀ V w with a shared low-rank basis and simplex user weights");
  return true;
}();
}  // namespace

}  // namespace plural::mixture
