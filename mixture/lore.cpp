#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "mixture/families.hpp"
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

namespace {
const core::ConfigSchema<LoRe::Config>& lore_schema() {
  using C = LoRe::Config;
  static const auto schema = [] {
    core::ConfigSchema<C> s("lore");
    s.field("k", &C::k, "K, the rank of the shared basis V", 1, core::kMaxPrototypes)
        .field("use_prompt", &C::use_prompt, "φ(x) = [x; prompt] when the data has prompts")
        .field("prior_var", &C::prior_var, "variance of the Gaussian prior on a user's K logits");
    return s;
  }();
  return schema;
}
}  // namespace

bool LoRe::scale_logits(double factor) {
  torch::NoGradGuard no_grad;
  basis_.mul_(factor);  // r = φ(x)ᵀ V w
  return true;
}

std::string LoRe::config_json() const {
  auto c = config_;
  c.prior_var = prior_var();  // as tuned after training
  return lore_schema().write(c);
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

core::FamilyRecord lore_family() {
  auto f = core::schema_family<LoRe>("lore", "LoRe: φ(x)ᵀ V w with a shared low-rank basis and simplex user weights",
                                     lore_schema());
  f.adapters = mixture_adapters();
  f.has_k = true;
  // Linear in the features: cheap epochs, needs larger steps and more of them to converge.
  f.training.lr = 3e-2;
  f.training.user_lr = 1e-1;
  f.training.epochs = 200;
  f.training.patience = 20;
  f.data_defaults = [](const core::DataShape& s) {
    return nlohmann::json{{"k", core::k_for_users(LoRe::Config{}.k, s)}}.dump();
  };
  return f;
}

}  // namespace plural::mixture
