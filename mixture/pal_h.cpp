#include "mixture/pal_h.hpp"

#include <torch/torch.h>

#include <Eigen/Cholesky>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "core/diag_prior.hpp"
#include "mixture/families.hpp"
#include "mixture/model_inputs.hpp"

namespace plural::mixture {

using core::ItemBatch;
using core::PairBatch;
using core::UserState;

namespace {
const core::ConfigSchema<PalH::Config>& pal_h_schema() {
  using C = PalH::Config;
  static const auto schema = [] {
    core::ConfigSchema<C> s("pal-h");
    s.field("k", &C::k, "K, the number of prototypes", 1, core::kMaxPrototypes)
        .field("dim", &C::dim, "the mixture's projection width d (0 = the item feature dimension)", 0, core::kMaxWidth)
        .field("proj", &C::proj, "the mixture's projectors f and every g_k (as pal-b's)")
        .field("rank", &C::rank, "R, the width of the shared deviation head H", 1, core::kMaxWidth)
        .field("use_prompt", &C::use_prompt, "the deviation head reads prompt features too, when the data has them")
        .field("user_l2", &C::user_l2, "L2 penalty on a user's deviation, per training pair")
        .field("theta_var", &C::theta_var, "variance of the Gaussian prior on a new user's K mixture logits", 1e-6, 1e6)
        .field("prior_var", &C::prior_var,
               "scale of a new user's deviation prior over prior_diag (0 = the seen deviations' moments; training "
               "tunes it on validation)",
               0, 1e12)
        .field("prior_mean", &C::prior_mean, "the deviation prior's mean (set by training's prior tuning)")
        .field("prior_diag", &C::prior_diag,
               "the deviation prior's per-dimension variances before scaling (set by training's prior tuning)");
    return s;
  }();
  return schema;
}

PalB::Config mixture_config(const PalH::Config& c) {
  PalB::Config m;
  m.k = c.k;
  m.dim = c.dim;
  m.proj = c.proj;
  m.prior_var = c.theta_var;
  return m;
}
}  // namespace

PalH::PalH(const core::ModelDims& dims, Config c) : config_(std::move(c)) {
  PLURAL_CHECK(config_.user_l2 >= 0, "pal-h: user_l2 must be >= 0, got ", config_.user_l2);
  core::check_diag_prior("pal-h", "rank", static_cast<size_t>(config_.rank), config_.prior_var, config_.prior_mean,
                         config_.prior_diag);
  config_.use_prompt = config_.use_prompt && dims.prompt_dim > 0;
  set_dims(dims);
  mix_ = register_module("mix", std::make_shared<PalB>(dims, mixture_config(config_)));
  const int64_t in = dims.item_dim + (config_.use_prompt ? dims.prompt_dim : 0);
  head_ = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(in, config_.rank).bias(false)));
  delta_ = register_parameter("delta", torch::zeros({static_cast<int64_t>(dims.users.size()), config_.rank}));
}

std::string PalH::config_json() const { return pal_h_schema().write(config_); }

torch::Tensor PalH::head_input(const ItemBatch& items) const {
  check_items(items, dims_, config_.use_prompt, "pal-h");
  return config_.use_prompt ? torch::cat({items.x, items.prompt}, 1) : items.x;
}

torch::Tensor PalH::head(const ItemBatch& items) { return head_->forward(head_input(items)); }

namespace {
// δ rows of seen users, zero for the prior user (-1).
torch::Tensor seen_deltas(const torch::Tensor& delta, const torch::Tensor& users) {
  auto known = (users >= 0).unsqueeze(1).to(delta.dtype());
  return delta.index_select(0, users.clamp_min(0)) * known;
}
}  // namespace

torch::Tensor PalH::reward_seen(const ItemBatch& items, const torch::Tensor& users) {
  auto r = mix_->reward_seen(items, users);
  return deviations_ ? r + (head(items) * seen_deltas(delta_, users)).sum(1) : r;
}

torch::Tensor PalH::reward(const ItemBatch& items, const UserState& state) {
  check_state(state, "reward");
  return mix_->reward_weights(items, mix_->state_weights(state)) + torch::mv(head(items), state.at("delta"));
}

torch::Tensor PalH::logits(const PairBatch& batch) {
  if (!deviations_) return mix_->logits(batch);
  auto d = head(batch.a) - head(batch.b);
  return mix_->logits(batch) + (d * seen_deltas(delta_, batch.user)).sum(1);
}

torch::Tensor PalH::logits_for(const PairBatch& batch, const UserState& state) {
  check_state(state, "logits");
  const auto& delta = state.at("delta");
  PLURAL_CHECK(delta.dim() == 1 && delta.size(0) == config_.rank, "pal-h: user state '", state.user_id, "' has a ",
               delta.numel(), "-dim deviation, this model's is ", config_.rank);
  if (!is_training() && !torch::GradMode::is_enabled() && state.tensors.count("cov"))
    return core::moderated_logits(linearize(state, *prepare(batch)));  // over both parts' uncertainty
  auto d = head(batch.a) - head(batch.b);
  return side_difference(mix_->reward_sides(both_sides(batch), mix_->state_weights(state)), batch.size()) +
         torch::mv(d, delta);
}

torch::Tensor PalH::item_representation(const ItemBatch& items) { return mix_->item_representation(items); }

torch::Tensor PalH::regularizer(const PairBatch& batch) {
  auto r = mix_->regularizer(batch);
  if (!deviations_ || config_.user_l2 == 0 || delta_.size(0) == 0) return r;
  auto d = seen_deltas(delta_, batch.user);
  return r + config_.user_l2 * (d * d).sum(1).mean();
}

void PalH::begin_stage(int stage) {
  deviations_ = stage > 0;
  frozen_mixture_ = stage == 1;
  for (auto& p : mix_->named_parameters()) p.value().requires_grad_(!frozen_mixture_ || p.key() == "theta");
  delta_.requires_grad_(deviations_);
  head_->weight.requires_grad_(deviations_);
  // A frozen tensor keeps no gradient from the last stage: clipping and a data-parallel all-reduce would count it.
  for (auto& p : parameters())
    if (!p.requires_grad()) p.mutable_grad() = torch::Tensor();
  train(is_training());
}

void PalH::train(bool on) {
  RewardModel::train(on);
  // The deviations are fit to the mixture as it scores: without its dropout.
  if (on && frozen_mixture_) mix_->eval();
}

std::map<std::string, std::vector<torch::Tensor>> PalH::param_groups() {
  auto groups = mix_->param_groups();  // θ is "user", τ "scale", PAL-B's shared weights "shared"
  if (frozen_mixture_)
    for (auto& [name, params] : groups)
      if (name != "user") params.clear();  // the names stay: a TrainConfig's group_lr may name them
  if (!deviations_) return groups;         // δ and H unused: left out, so the groups step as one flat buffer
  groups["user"].push_back(delta_);
  groups["shared"].push_back(head_->weight);
  return groups;
}

UserState PalH::seen_state(int64_t row) const {
  UserState s = RewardModel::seen_state(row);
  s.tensors["theta"] = mix_->theta()[row].detach().clone();
  s.tensors["delta"] = delta_[row].detach().clone();
  return s;
}

std::pair<torch::Tensor, torch::Tensor> PalH::delta_prior() const {
  torch::NoGradGuard no_grad;
  if (config_.prior_var > 0) {  // with prior_mean and prior_diag (the constructor checks)
    auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    return {torch::tensor(config_.prior_mean, opts).to(torch::kFloat32),
            (torch::tensor(config_.prior_diag, opts) * config_.prior_var).to(torch::kFloat32)};
  }
  if (delta_.size(0) < 2) return {torch::zeros({config_.rank}), torch::ones({config_.rank})};
  return {delta_.mean(0).detach().clone(), delta_.var(0, /*unbiased=*/true).clamp_min(1e-4).detach().clone()};
}

bool PalH::scale_logits(double factor) {
  // r = τ·cos(·) + δᵀH[x; c]: the mixture's τ and the deviation head; δ's prior stays in δ's units.
  mix_->scale_logits(factor);
  torch::NoGradGuard no_grad;
  head_->weight.mul_(factor);
  return true;
}

UserState PalH::prior_state() const {
  UserState s = RewardModel::prior_state();
  auto [mean, var] = delta_prior();
  s.tensors["theta"] = torch::zeros({config_.k});
  s.tensors["delta"] = mean;
  s.tensors["cov"] = torch::diag(torch::cat({torch::full({config_.k}, config_.theta_var), var}));
  return s;
}

core::UserEmbedding PalH::user_embedding(const UserState& state) const {
  return {core::UserEmbedding::Kind::mixture_weights, torch::softmax(state.at("theta"), 0)};
}

void PalH::begin_tuning() {
  torch::NoGradGuard no_grad;
  const int64_t R = config_.rank;
  auto mean = delta_.size(0) > 0 ? delta_.mean(0) : torch::zeros({R});
  auto var = delta_.size(0) >= 2 ? delta_.var(0, /*unbiased=*/true) : torch::ones({R});
  // A floor relative to the deviations' energy: a direction nobody deviates in must still be able to move.
  const double energy = std::max(var.mean().item<double>(), 1e-8);
  var = var.clamp_min(1e-3 * energy).to(torch::kFloat64).contiguous();
  auto m = mean.to(torch::kFloat64).contiguous();
  config_.prior_mean.assign(m.data_ptr<double>(), m.data_ptr<double>() + R);
  config_.prior_diag.assign(var.data_ptr<double>(), var.data_ptr<double>() + R);
  config_.prior_var = 1;
}

std::vector<double> PalH::prior_grid() const {
  if (part_ == 1) return mix_->prior_grid();
  std::vector<double> grid;
  for (int e = -3; e <= 4; ++e) grid.push_back(std::pow(4.0, e));
  return grid;
}

void PalH::set_seen_state(int64_t row, const UserState& adapted) {
  torch::NoGradGuard no_grad;
  mix_->set_seen_state(row, adapted);
  delta_[row].copy_(adapted.at("delta"));
}

}  // namespace plural::mixture

namespace plural::mixture {

core::FamilyRecord pal_h_family() {
  auto f = core::schema_family<PalH>(
      "pal-h",
      "hierarchical PAL: PAL-B's mixture plus each user's own deviation δ·H[x; p], shrunk toward the seen users; "
      "Newton adapter on [θ; δ] with Laplace covariance",
      pal_h_schema());
  f.adapters = pal_h_adapters();
  f.has_k = true;
  f.training.patience = 25;  // the mixture's symmetry-breaking plateau, as pal-b's
  f.data_defaults = [](const core::DataShape& s) {
    return nlohmann::json{{"k", core::k_for_users(PalH::Config{}.k, s)}}.dump();
  };
  return f;
}

}  // namespace plural::mixture
