#include "core/bt/bt.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/base/json_config.hpp"
#include "core/diag_prior.hpp"

namespace plural::core {

namespace {
torch::Tensor model_input(const ItemBatch& items, const ModelDims& dims, bool use_prompt, const char* who) {
  PLURAL_CHECK(items.x.defined() && items.x.dim() == 2, who, ": item features must be 2-D [B, D]");
  PLURAL_CHECK(items.x.size(1) == dims.item_dim, who, ": feature dimension mismatch: the model was trained on ",
               dims.item_dim, "-dim features, got ", items.x.size(1));
  if (!use_prompt) return items.x;
  PLURAL_CHECK(items.prompt.defined() && items.prompt.size(1) == dims.prompt_dim, who,
               ": the model uses prompt features of dim ", dims.prompt_dim, "; give them (got ",
               items.prompt.defined() ? std::to_string(items.prompt.size(1)) : std::string("none"), ")");
  return torch::cat({items.x, items.prompt}, 1);
}

const ConfigSchema<BradleyTerry::Config>& bt_schema() {
  static const auto schema = [] {
    ConfigSchema<BradleyTerry::Config> s("bt");
    mlp_fields(s, &BradleyTerry::Config::mlp);
    s.field("use_prompt", &BradleyTerry::Config::use_prompt, "concatenate prompt features when the data has them");
    return s;
  }();
  return schema;
}
const ConfigSchema<PerUserBT::Config>& per_user_bt_schema() {
  static const auto schema = [] {
    ConfigSchema<PerUserBT::Config> s("per-user-bt");
    mlp_fields(s, &PerUserBT::Config::mlp);
    s.field("embed", &PerUserBT::Config::embed, "E, the width of the user head φ(x, p) (> 0)", 0, kMaxWidth)
        .field("use_prompt", &PerUserBT::Config::use_prompt, "concatenate prompt features when the data has them")
        .field("user_l2", &PerUserBT::Config::user_l2, "L2 penalty on a user's head deviation, per training pair")
        .field("prior_var", &PerUserBT::Config::prior_var,
               "scale of a new user's head prior over prior_diag (0 = the seen heads' moments; training tunes it on "
               "validation)",
               0, 1e12)
        .field("prior_mean", &PerUserBT::Config::prior_mean, "the head prior's mean (set by training's prior tuning)")
        .field("prior_diag", &PerUserBT::Config::prior_diag,
               "the head prior's per-dimension variances before scaling (set by training's prior tuning)");
    return s;
  }();
  return schema;
}
}  // namespace

// ---- BradleyTerry ---------------------------------------------------------------------------------------------

BradleyTerry::BradleyTerry(const ModelDims& dims, Config config) : config_(std::move(config)) {
  config_.mlp.validate("bt");
  config_.use_prompt = config_.use_prompt && dims.prompt_dim > 0;
  set_dims(dims);
  mlp_ = register_module("mlp", Mlp(dims.item_dim + (config_.use_prompt ? dims.prompt_dim : 0), 1, config_.mlp));
}

std::string BradleyTerry::config_json() const { return bt_schema().write(config_); }

torch::Tensor BradleyTerry::forward(const ItemBatch& items) {
  return mlp_->forward(model_input(items, dims_, config_.use_prompt, "bt")).squeeze(1);
}

torch::Tensor BradleyTerry::item_representation(const ItemBatch& items) {
  return mlp_->hidden(model_input(items, dims_, config_.use_prompt, "bt"));
}

bool BradleyTerry::scale_logits(double factor) {
  mlp_->scale_output(factor);
  return true;
}

torch::Tensor BradleyTerry::reward_seen(const ItemBatch& items, const torch::Tensor&) { return forward(items); }

torch::Tensor BradleyTerry::reward(const ItemBatch& items, const UserState& state) {
  check_state(state, "bt.reward");
  return forward(items);
}

// ---- PerUserBT ------------------------------------------------------------------------------------------------

PerUserBT::PerUserBT(const ModelDims& dims, Config config) : config_(std::move(config)) {
  config_.mlp.validate("per-user-bt");
  PLURAL_CHECK(config_.embed > 0, "per-user-bt: embed must be > 0, got ", config_.embed);
  PLURAL_CHECK(config_.user_l2 >= 0, "per-user-bt: user_l2 must be >= 0, got ", config_.user_l2);
  check_diag_prior("per-user-bt", "embed", static_cast<size_t>(config_.embed), config_.prior_var, config_.prior_mean,
                   config_.prior_diag);
  config_.use_prompt = config_.use_prompt && dims.prompt_dim > 0;
  set_dims(dims);
  mlp_ = register_module("mlp",
                         Mlp(dims.item_dim + (config_.use_prompt ? dims.prompt_dim : 0), config_.embed, config_.mlp));
  w0_ = register_parameter("w0", torch::randn({config_.embed}) / std::sqrt(double(config_.embed)));
  delta_ = register_parameter("delta", torch::zeros({static_cast<int64_t>(dims.users.size()), config_.embed}));
}

std::string PerUserBT::config_json() const { return per_user_bt_schema().write(config_); }

bool PerUserBT::scale_logits(double factor) {
  mlp_->scale_output(factor);  // r = wᵀ φ(x): every user's logits scale with φ, her prior on w stays as it was
  return true;
}

torch::Tensor PerUserBT::embed(const ItemBatch& items) {
  return mlp_->forward(model_input(items, dims_, config_.use_prompt, "per-user-bt"));
}

torch::Tensor PerUserBT::reward_seen(const ItemBatch& items, const torch::Tensor& users) {
  auto phi = embed(items);
  auto known = users >= 0;
  auto rows = users.clamp_min(0);
  auto w = w0_.unsqueeze(0) + delta_.index_select(0, rows) * known.unsqueeze(1).to(phi.dtype());
  return (phi * w).sum(1);
}

torch::Tensor PerUserBT::reward(const ItemBatch& items, const UserState& state) {
  check_state(state, "per-user-bt.reward");
  return torch::mv(embed(items), state.at("w"));
}

torch::Tensor PerUserBT::logits_for(const PairBatch& batch, const UserState& state) {
  check_state(state, "per-user-bt.logits_for");
  auto d = embed(batch.a) - embed(batch.b);
  auto z = torch::mv(d, state.at("w"));
  auto cov = state.tensors.find("cov");
  if (cov == state.tensors.end()) return z;
  return moderated_logits({z, d, cov->second});  // the logit is linear in w: the linearization is exact
}

torch::Tensor PerUserBT::regularizer(const PairBatch& batch) {
  if (config_.user_l2 == 0 || delta_.size(0) == 0) return torch::zeros({});
  auto known = (batch.user >= 0).to(torch::kFloat32);
  auto d = delta_.index_select(0, batch.user.clamp_min(0));
  return config_.user_l2 * ((d * d).sum(1) * known).mean();
}

std::map<std::string, std::vector<torch::Tensor>> PerUserBT::param_groups() {
  std::vector<torch::Tensor> shared;
  for (const auto& p : named_parameters())
    if (p.key() != "delta") shared.push_back(p.value());
  return {{"shared", shared}, {"user", {delta_}}};
}

UserState PerUserBT::seen_state(int64_t row) const {
  UserState s = RewardModel::seen_state(row);
  s.tensors["w"] = (w0_ + delta_[row]).detach().clone();
  return s;
}

UserEmbedding PerUserBT::user_embedding(const UserState& state) const {
  return {UserEmbedding::Kind::head, state.at("w")};
}

UserState PerUserBT::prior_state() const {
  UserState s = RewardModel::prior_state();
  auto [mean, var] = head_prior();
  s.tensors["w"] = mean;
  s.tensors["cov"] = torch::diag(var);
  return s;
}

std::pair<torch::Tensor, torch::Tensor> PerUserBT::head_prior() const {
  torch::NoGradGuard no_grad;
  if (config_.prior_var > 0) {  // with prior_mean and prior_diag (the constructor checks)
    auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    auto mean = torch::tensor(config_.prior_mean, opts).to(torch::kFloat32);
    auto diag = torch::tensor(config_.prior_diag, opts).to(torch::kFloat32) * config_.prior_var;
    return {mean, diag};
  }
  if (delta_.size(0) < 2) return {w0_.detach().clone(), torch::ones({config_.embed})};
  auto mean = delta_.mean(0);
  auto var = delta_.var(0, /*unbiased=*/true).clamp_min(1e-4);
  return {(w0_ + mean).detach().clone(), var.detach().clone()};
}

void PerUserBT::begin_tuning() {
  torch::NoGradGuard no_grad;
  auto mean = delta_.size(0) > 0 ? w0_ + delta_.mean(0) : w0_.clone();
  const double energy = std::max(mean.pow(2).mean().item<double>(), 1e-8);
  auto var = delta_.size(0) >= 2 ? delta_.var(0, /*unbiased=*/true) : torch::full({config_.embed}, energy);
  var = var.clamp_min(1e-4 * energy).to(torch::kFloat64).contiguous();
  auto m = mean.to(torch::kFloat64).contiguous();
  config_.prior_mean.assign(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
  config_.prior_diag.assign(var.data_ptr<double>(), var.data_ptr<double>() + var.numel());
  config_.prior_var = 1;
}

std::vector<double> PerUserBT::prior_grid() const {
  std::vector<double> grid;
  for (int e = -3; e <= 4; ++e) grid.push_back(std::pow(4.0, e));
  return grid;
}

void PerUserBT::set_seen_state(int64_t row, const UserState& adapted) {
  torch::NoGradGuard no_grad;
  delta_[row].copy_(adapted.at("w") - w0_);
}

FamilyRecord bt_family() {
  auto f = schema_family<BradleyTerry>("bt", "population Bradley-Terry: r(x, p) = MLP([x; p])", bt_schema());
  f.adapters = bt_adapters();
  return f;
}

FamilyRecord per_user_bt_family() {
  auto f = schema_family<PerUserBT>("per-user-bt",
                                    "per-user BT: r_u = (w0 + δ_u)·φ(x, p), Newton adapter with Laplace posterior",
                                    per_user_bt_schema());
  f.adapters = per_user_bt_adapters();
  // A head wider than the answers a user gives rests on its prior in the directions they do not reach: E follows
  // the median train pairs per user, from 8 to the 64 measured on Persona-K's 300 (the stand-in crowd, 24 pairs:
  // new users at 10 answers 0.710 with E = 64, 0.722-0.730 with 8-24; docs/real_data.md).
  f.data_defaults = [](const DataShape& s) {
    const auto e = static_cast<int64_t>(std::clamp(s.median_pairs_per_user, 8.0, 64.0));
    return nlohmann::json{{"embed", e}}.dump();
  };
  return f;
}

std::vector<FamilyRecord> bt_families() { return {bt_family(), per_user_bt_family()}; }

}  // namespace plural::core
