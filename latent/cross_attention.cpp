#include "latent/cross_attention.hpp"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "latent/families.hpp"

namespace plural::latent {

using core::ItemBatch;
using core::PairBatch;
using core::UserState;

void UserCrossAttention::Config::validate() const {
  PLURAL_CHECK(token >= 1 && hidden >= 1, "cross-attn: token and hidden must be >= 1");
  PLURAL_CHECK(self_attention >= 0, "cross-attn: self_attention must be >= 0");
  PLURAL_CHECK(branch_dropout >= 0 && branch_dropout < 1, "cross-attn: branch_dropout must be in [0, 1), got ",
               branch_dropout);
  PLURAL_CHECK(context_min >= 1 && context_max >= context_min, "cross-attn: need 1 <= context_min <= context_max, got ",
               context_min, " and ", context_max);
  PLURAL_CHECK(seen_context >= 1, "cross-attn: seen_context must be >= 1");
  PLURAL_CHECK(dropout >= 0 && dropout < 1, "cross-attn: dropout must be in [0, 1)");
}

UserCrossAttention::UserCrossAttention(const core::ModelDims& dims, Config c) : config_(std::move(c)) {
  config_.validate();
  set_dims(dims);
  const int64_t D = dims.item_dim, P = prompts() ? dims.prompt_dim : 0, m = config_.token;
  core::MlpOptions mlp;
  mlp.hidden = {config_.hidden};
  mlp.dropout = config_.dropout;
  // A pair token reads [chosen − rejected; chosen + rejected]: the direction this user prefers, and what kind of
  // items the question was about.
  pair_ = register_module("pair", core::Mlp(2 * D + P, m, mlp));
  item_ = register_module("item", core::Mlp(D + P, m, mlp));
  personal_ = register_module("personal", core::Mlp(3 * m, 1, mlp));
  for (int64_t l = 0; l < config_.self_attention; ++l) {
    self_q_->push_back(torch::nn::Linear(m, m));
    self_k_->push_back(torch::nn::Linear(m, m));
    self_v_->push_back(torch::nn::Linear(m, m));
  }
  register_module("self_q", self_q_);
  register_module("self_k", self_k_);
  register_module("self_v", self_v_);
  w0_ = register_module("population", torch::nn::Linear(m, 1));
  q_ = register_module("query", torch::nn::Linear(m, m));
  k_ = register_module("key", torch::nn::Linear(m, m));
  v_ = register_module("value", torch::nn::Linear(m, m));
  const auto U = static_cast<int64_t>(dims.users.size());
  seen_memory_ = register_buffer("seen_memory", torch::zeros({U, config_.seen_context, m}));
  seen_mask_ = register_buffer("seen_mask", torch::zeros({U, config_.seen_context}, torch::kBool));
}

namespace {
const core::ConfigSchema<UserCrossAttention::Config>& cross_attention_schema() {
  using C = UserCrossAttention::Config;
  static const auto schema = [] {
    core::ConfigSchema<C> s("cross-attn");
    s.field("token", &C::token, "m, the width of pair tokens and attention", 1, core::kMaxWidth)
        .field("hidden", &C::hidden, "MLP width", 1, core::kMaxWidth)
        .field("self_attention", &C::self_attention, "self-attention layers over a user's tokens", 0, 64)
        .field("branch_dropout", &C::branch_dropout, "training: share of target pairs without the personal term")
        .field("context_min", &C::context_min, "fewest support pairs per training episode", 1, core::kMaxSupport)
        .field("context_max", &C::context_max, "most support pairs per training episode", 1, core::kMaxSupport)
        .field("seen_context", &C::seen_context, "train pairs kept as a seen user's tokens", 1, core::kMaxSupport)
        .field("use_prompt", &C::use_prompt, "prompt features enter the tokens and the reward")
        .field("dropout", &C::dropout, "dropout in the MLPs");
    return s;
  }();
  return schema;
}
}  // namespace

std::string UserCrossAttention::config_json() const { return cross_attention_schema().write(config_); }

torch::Tensor UserCrossAttention::input(const ItemBatch& items) const {
  PLURAL_CHECK(items.x.defined() && items.x.dim() == 2 && items.x.size(1) == dims_.item_dim,
               "cross-attn: items must have ", dims_.item_dim, "-dim features, got ",
               items.x.defined() ? items.x.sizes() : torch::IntArrayRef{});
  if (!prompts()) return items.x;
  PLURAL_CHECK(items.prompt.defined() && items.prompt.size(1) == dims_.prompt_dim,
               "cross-attn: the model uses prompt features of dim ", dims_.prompt_dim, "; give them");
  return torch::cat({items.x, items.prompt}, 1);
}

torch::Tensor UserCrossAttention::encode(const core::SupportSet& set) {
  const int64_t S = set.mask.size(0), N = set.mask.size(1), m = config_.token;
  if (N == 0) return torch::zeros({S, 0, m});
  PLURAL_CHECK(set.chosen.size(2) == dims_.item_dim, "cross-attn: support pairs have ", set.chosen.size(2),
               "-dim features, the model expects ", dims_.item_dim);
  std::vector<torch::Tensor> in = {set.chosen - set.rejected, set.chosen + set.rejected};
  if (prompts()) in.push_back(set.prompt);
  auto e = pair_->forward(torch::cat(in, 2));  // [S, N, m]
  auto key_mask = ~set.mask.unsqueeze(1);      // [S, 1, N]: padding is never attended
  for (int64_t l = 0; l < config_.self_attention; ++l) {
    auto q = self_q_[l]->as<torch::nn::Linear>()->forward(e), k = self_k_[l]->as<torch::nn::Linear>()->forward(e);
    auto scores = torch::matmul(q, k.transpose(1, 2)).div(std::sqrt(double(m))).masked_fill(key_mask, -1e9);
    e = e + torch::matmul(torch::softmax(scores, 2), self_v_[l]->as<torch::nn::Linear>()->forward(e));
  }
  return e;
}

torch::Tensor UserCrossAttention::attend(const torch::Tensor& h, const torch::Tensor& memory, const torch::Tensor& mask,
                                         const torch::Tensor& index) {
  const int64_t B = h.size(0), m = config_.token;
  if (memory.size(1) == 0) return torch::zeros({B, m});
  auto keys = k_->forward(memory).index_select(0, index), values = v_->forward(memory).index_select(0, index);
  auto valid = mask.index_select(0, index);  // [B, N]
  auto scores = torch::matmul(keys, q_->forward(h).unsqueeze(2)).squeeze(2) / std::sqrt(double(m));
  auto att = torch::softmax(scores.masked_fill(~valid, -1e9), 1);
  auto a = torch::matmul(att.unsqueeze(1), values).squeeze(1);  // [B, m]
  return torch::where(valid.any(1, true), a, torch::zeros({}));
}

torch::Tensor UserCrossAttention::personal(const torch::Tensor& h, const torch::Tensor& a) {
  return personal_->forward(torch::cat({h, a, h * a}, 1)).squeeze(1);
}

torch::Tensor UserCrossAttention::score(const ItemBatch& items, const torch::Tensor& memory, const torch::Tensor& mask,
                                        const torch::Tensor& index, const torch::Tensor& valid, double lambda) {
  auto h = item_->forward(input(items));
  auto population = w0_->forward(h).squeeze(1);
  if (lambda == 0.0) return population;
  auto has = valid & (memory.size(1) > 0 ? mask.index_select(0, index).any(1) : torch::zeros_like(valid));
  auto mine = personal(h, attend(h, memory, mask, index));
  // An exact population model where the user has no tokens (not g([h; 0; 0])).
  return population + lambda * torch::where(has, mine, torch::zeros({}));
}

torch::Tensor UserCrossAttention::reward_seen(const ItemBatch& items, const torch::Tensor& users) {
  return score(items, seen_memory_, seen_mask_, users.clamp_min(0), users >= 0);
}

torch::Tensor UserCrossAttention::state_memory(const UserState& s, const char* name) const {
  const auto& mem = s.at(name);
  PLURAL_CHECK(mem.dim() == 2 && mem.size(1) == config_.token, "cross-attn: user state '", s.user_id, "' has ", name,
               " of shape ", mem.sizes(), ", this model's tokens are ", config_.token, "-dim");
  return mem;
}

torch::Tensor UserCrossAttention::reward(const ItemBatch& items, const UserState& state) {
  check_state(state, "cross-attn.reward");
  double lambda = state.tensors.count("lambda") ? state.at("lambda").item<double>() : 1.0;
  PLURAL_CHECK(lambda >= 0 && lambda <= 1, "cross-attn: lambda must be in [0, 1], got ", lambda);
  const int64_t B = input(items).size(0);
  auto mem = state_memory(state, "memory");
  auto index = torch::zeros({B}, torch::kInt64);
  auto all = torch::ones({B}, torch::kBool);
  if (!state.tensors.count("memory2"))
    return score(items, mem.unsqueeze(0), torch::ones({1, mem.size(0)}, torch::kBool), index, all, lambda);
  // An interpolated user: the two users' attention outputs mixed.
  auto mem2 = state_memory(state, "memory2");
  const double alpha = state.at("alpha").item<double>();
  auto h = item_->forward(input(items));
  auto population = w0_->forward(h).squeeze(1);
  if (lambda == 0.0 || (mem.size(0) == 0 && mem2.size(0) == 0)) return population;
  auto a1 = attend(h, mem.unsqueeze(0), torch::ones({1, mem.size(0)}, torch::kBool), index);
  auto a2 = attend(h, mem2.unsqueeze(0), torch::ones({1, mem2.size(0)}, torch::kBool), index);
  return population + lambda * personal(h, alpha * a1 + (1 - alpha) * a2);
}

torch::Tensor UserCrossAttention::logits(const PairBatch& batch) {
  if (!core::has_support(batch)) return reward_seen(batch.a, batch.user) - reward_seen(batch.b, batch.user);
  torch::Tensor index;
  auto set = core::support_of(batch, &index);
  auto memory = encode(set);
  auto valid = torch::ones({batch.size()}, torch::kBool);
  // Branch dropout: some pairs are scored by the population term alone, which keeps it a good reward model.
  if (is_training() && config_.branch_dropout > 0) valid = torch::rand({batch.size()}) >= config_.branch_dropout;
  return score(batch.a, memory, set.mask, index, valid) - score(batch.b, memory, set.mask, index, valid);
}

void UserCrossAttention::refresh_seen_users(const core::DatasetView& view) {
  torch::NoGradGuard ng;
  bool was = is_training();
  eval();
  core::for_seen_user_sets(*this, view, config_.seen_context,
                           [&](const std::vector<int64_t>& rows, const core::SupportSet& sets) {
                             auto mem = encode(sets);
                             const int64_t N = mem.size(1);
                             for (size_t i = 0; i < rows.size(); ++i) {
                               seen_memory_[rows[i]].zero_();
                               seen_mask_[rows[i]].zero_();
                               if (N == 0) continue;
                               seen_memory_[rows[i]].slice(0, 0, N).copy_(mem[i]);
                               seen_mask_[rows[i]].slice(0, 0, N).copy_(sets.mask[i]);
                             }
                           });
  train(was);
}

std::vector<torch::Tensor> UserCrossAttention::seen_user_tensors() {
  auto out = core::RewardModel::seen_user_tensors();
  out.push_back(seen_memory_);
  out.push_back(seen_mask_);
  return out;
}

UserState UserCrossAttention::make_user(const std::string& user_id, int64_t shots, const torch::Tensor& memory) const {
  UserState s = make_state(user_id, shots);
  s.tensors["memory"] = memory.detach().reshape({-1, config_.token}).clone();
  s.tensors["lambda"] = torch::tensor(1.0f);
  return s;
}

UserState UserCrossAttention::adapt_from(const core::SupportSet& set, const UserState& fresh) {
  auto mem = encode(set);
  auto s = make_user(fresh.user_id, fresh.shots, mem[0]);
  const int64_t N = set.mask.size(1);
  if (N == 0) return s;
  auto keep = set.mask[0];
  auto project = [&](const torch::Tensor& x) {
    ItemBatch items;
    items.x = x[0];
    if (set.prompt.defined()) items.prompt = set.prompt[0];
    return item_->forward(input(items)).index({keep}).detach().clone();
  };
  s.tensors["shot_chosen"] = project(set.chosen);
  s.tensors["shot_rejected"] = project(set.rejected);
  return s;
}

torch::Tensor UserCrossAttention::candidate_logits(const torch::Tensor& ha, const torch::Tensor& hb,
                                                   const torch::Tensor& users, double lambda) {
  const int64_t C = ha.size(0);
  auto pop = (w0_->forward(ha) - w0_->forward(hb)).squeeze(1);
  auto g = personal_of_seen(torch::cat({ha, hb}), users);  // [H, 2C]
  return pop.unsqueeze(0) + lambda * (g.slice(1, 0, C) - g.slice(1, C));
}

torch::Tensor UserCrossAttention::personal_of_seen(const torch::Tensor& h, const torch::Tensor& users) {
  const int64_t B = h.size(0), m = config_.token;
  auto q = q_->forward(h);  // [B, m]
  std::vector<torch::Tensor> out;
  const int64_t chunk = std::max<int64_t>(1, 65536 / std::max<int64_t>(B, 1));  // bounds the [U, B, 3m] input
  for (int64_t u0 = 0; u0 < users.size(0); u0 += chunk) {
    auto rows = users.slice(0, u0, std::min(users.size(0), u0 + chunk));
    auto memory = seen_memory_.index_select(0, rows), mask = seen_mask_.index_select(0, rows);  // [U, N, m], [U, N]
    auto scores = torch::matmul(q.unsqueeze(0), k_->forward(memory).transpose(1, 2)) / std::sqrt(double(m));
    auto att = torch::softmax(scores.masked_fill(~mask.unsqueeze(1), -1e9), 2);  // [U, B, N]
    auto a = torch::matmul(att, v_->forward(memory));                            // [U, B, m]
    auto hh = h.unsqueeze(0).expand_as(a);
    auto g = personal_->forward(torch::cat({hh, a, hh * a}, 2).reshape({-1, 3 * m})).view({rows.size(0), B});
    out.push_back(torch::where(mask.any(1, true), g, torch::zeros({})));
  }
  return torch::cat(out);
}

namespace {
struct CrossAttnPool : core::PreparedPool {
  torch::Tensor ha, hb;  // [C, m] item projections
};
}  // namespace

std::shared_ptr<const core::PreparedPool> UserCrossAttention::prepare_hypotheses(const PairBatch& candidates) {
  auto p = std::make_shared<CrossAttnPool>();
  p->ha = item_->forward(input(candidates.a));
  p->hb = item_->forward(input(candidates.b));
  return p;
}

core::WeightedHypotheses UserCrossAttention::hypotheses(const UserState& state, const core::PreparedPool& pool) {
  check_state(state, "cross-attn.hypotheses");
  const auto& p = core::prepared_as<CrossAttnPool>(pool, "cross-attn");
  torch::NoGradGuard ng;
  const double lambda = state.tensors.count("lambda") ? state.at("lambda").item<double>() : 1.0;
  auto users = seen_mask_.any(1).nonzero().squeeze(1);  // seen users with tokens
  PLURAL_CHECK(users.size(0) > 0, "query: this cross-attn model has no seen user with tokens to compare a user with");
  torch::Tensor top, weights;
  const int64_t row = state.shots < 0 ? user_row(state.user_id) : -1;
  if (row >= 0) {
    top = torch::tensor({row}, torch::kInt64);  // a seen user is one of the hypotheses, and known
    weights = torch::ones({1});
  } else {
    auto loglik = torch::zeros({users.size(0)});
    if (state.tensors.count("shot_chosen")) {
      const auto& hc = state.at("shot_chosen");
      const auto& hr = state.at("shot_rejected");
      PLURAL_CHECK(hc.dim() == 2 && hc.size(1) == config_.token && hr.sizes() == hc.sizes(), "cross-attn: user state '",
                   state.user_id, "' has answered-pair projections of shape ", hc.sizes(), " and ", hr.sizes());
      const int64_t N = hc.size(0);
      auto pop = (w0_->forward(hc) - w0_->forward(hr)).squeeze(1);
      auto g = personal_of_seen(torch::cat({hc, hr}), users);  // [U, 2N]
      loglik = torch::log_sigmoid(pop.unsqueeze(0) + lambda * (g.slice(1, 0, N) - g.slice(1, N))).sum(1);
    }
    // The kHypotheses most likely; ties (no answers yet) broken by a fixed random order, a uniform subsample.
    auto gen = at::detail::createCPUGenerator(0);
    auto perm = torch::randperm(users.size(0), gen);
    auto order = std::get<1>(torch::sort(loglik.index_select(0, perm), /*stable=*/true, 0, /*descending=*/true));
    auto pick = perm.index_select(0, order.slice(0, 0, std::min<int64_t>(kHypotheses, users.size(0))));
    top = users.index_select(0, pick);
    weights = core::posterior_weights(loglik.index_select(0, pick));
  }
  return {candidate_logits(p.ha, p.hb, top, lambda), weights};
}

UserState UserCrossAttention::seen_state(int64_t row) const {
  UserState base = RewardModel::seen_state(row);  // checks the row
  return make_user(base.user_id, -1, seen_memory_[row].index({seen_mask_[row]}));
}

UserState UserCrossAttention::prior_state() const { return make_user("", 0, torch::zeros({0, config_.token})); }

UserState with_strength(const UserState& state, double lambda) {
  PLURAL_CHECK(state.family == "cross-attn", "with_strength: expected a cross-attn user state, got '", state.family,
               "'");
  PLURAL_CHECK(lambda >= 0 && lambda <= 1, "with_strength: lambda must be in [0, 1], got ", lambda);
  UserState out = state;
  out.tensors["lambda"] = torch::tensor(static_cast<float>(lambda));
  return out;
}

UserState interpolate_users(const UserState& u1, const UserState& u2, double alpha) {
  PLURAL_CHECK(u1.family == "cross-attn" && u2.family == "cross-attn",
               "interpolate_users: expected two cross-attn user states, got '", u1.family, "' and '", u2.family, "'");
  PLURAL_CHECK(u1.model_id == u2.model_id, "interpolate_users: the two states come from different models");
  PLURAL_CHECK(alpha >= 0 && alpha <= 1, "interpolate_users: alpha must be in [0, 1], got ", alpha);
  PLURAL_CHECK(!u1.tensors.count("memory2") && !u2.tensors.count("memory2"),
               "interpolate_users: give two plain users, not an interpolated one");
  UserState out = u1;
  out.user_id = u1.user_id + "~" + u2.user_id;
  out.shots = u1.shots + u2.shots;
  out.tensors["memory2"] = u2.at("memory").clone();
  out.tensors["alpha"] = torch::tensor(static_cast<float>(alpha));
  return out;
}

core::FamilyRecord cross_attention_family() {
  auto f = core::schema_family<UserCrossAttention>(
      "cross-attn",
      "PPD-style: the item attends over the user's pair tokens; r = w0·h + λ·g([h; a; h*a]), amortized adaptation",
      cross_attention_schema());
  // A new user's comparisons → their tokens, one forward pass.
  f.adapters = {
      core::amortized_adapter("cross-attn", [](core::RewardModel& m, const core::SupportSet& set, const UserState& s) {
        return static_cast<UserCrossAttention&>(m).adapt_from(set, s);
      })};
  // Episodic like VPL (a support set per user in every batch); its personal branch starts to matter after the
  // population term has settled, so stopping is patient.
  f.training.lr = 1e-3;
  f.training.patience = 15;
  return f;
}

}  // namespace plural::latent
