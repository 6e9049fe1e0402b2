#include "latent/context_model.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "core/support.hpp"
#include "latent/families.hpp"

namespace plural::latent {

using core::ItemBatch;
using core::PairBatch;

namespace {
torch::Tensor activate(const torch::Tensor& h, const std::string& name) {
  if (name == "gelu") return torch::gelu(h);
  if (name == "relu") return torch::relu(h);
  if (name == "tanh") return torch::tanh(h);
  if (name == "leaky_relu") return torch::leaky_relu(h, 0.2);
  return torch::silu(h);
}
}  // namespace

void ContextConditioned::Config::validate() const {
  mlp.validate("context");
  PLURAL_CHECK(conditioning == "film" || conditioning == "concat",
               "context: conditioning must be film or concat, got '", conditioning, "'");
  PLURAL_CHECK(null_fraction >= 0 && null_fraction <= 1, "context: null_fraction must be in [0, 1], got ",
               null_fraction);
}

ContextConditioned::ContextConditioned(const core::ModelDims& dims, Config config) : config_(std::move(config)) {
  config_.validate();
  PLURAL_CHECK(dims.context_dim > 0,
               "context: the data has no contexts (give comparisons a \"context\" text to train a context model)");
  config_.use_prompt = config_.use_prompt && dims.prompt_dim > 0;
  set_dims(dims);
  const int64_t in = dims.item_dim + (config_.use_prompt ? dims.prompt_dim : 0), dc = dims.context_dim;
  // Zero: before training, "no context" is the origin of the context space, like an empty text's mean.
  null_ = register_parameter("null_context", torch::zeros({dc}));
  known_ = register_buffer("known_contexts", torch::zeros({0, dc}));
  if (config_.conditioning == "concat") {
    concat_ = register_module("mlp", core::Mlp(in + dc, 1, config_.mlp));
    return;
  }
  int64_t d = in;
  for (auto h : config_.mlp.hidden) {
    film_layers_->push_back(torch::nn::Linear(d, h));
    // γ and β start at zero: the model starts as a context-free MLP and learns how contexts modulate it.
    torch::nn::Linear map(dc, 2 * h);
    torch::NoGradGuard ng;
    map->weight.zero_();
    map->bias.zero_();
    film_maps_->push_back(map);
    d = h;
  }
  film_layers_->push_back(torch::nn::Linear(d, 1));
  register_module("layers", film_layers_);
  register_module("film", film_maps_);
}

namespace {
const core::ConfigSchema<ContextConditioned::Config>& context_schema() {
  using C = ContextConditioned::Config;
  static const auto schema = [] {
    core::ConfigSchema<C> s("context");
    s.field("conditioning", &C::conditioning,
            "film: the MLP's hidden layers scaled and shifted by linear maps of c; concat: one MLP over [x; p; c]");
    core::mlp_fields(s, &C::mlp);
    s.field("use_prompt", &C::use_prompt, "prompt features enter the MLP")
        .field("null_fraction", &C::null_fraction, "share of training pairs whose context is the null context");
    return s;
  }();
  return schema;
}
}  // namespace

std::string ContextConditioned::config_json() const { return context_schema().write(config_); }

torch::Tensor ContextConditioned::base_input(const ItemBatch& items) const {
  PLURAL_CHECK(items.x.defined() && items.x.dim() == 2, "context: item features must be 2-D [B, D]");
  PLURAL_CHECK(items.x.size(1) == dims_.item_dim, "context: feature dimension mismatch: the model was trained on ",
               dims_.item_dim, "-dim features, got ", items.x.size(1));
  if (!config_.use_prompt) return items.x;
  PLURAL_CHECK(items.prompt.defined() && items.prompt.size(1) == dims_.prompt_dim,
               "context: the model uses prompt features of dim ", dims_.prompt_dim, "; give them");
  return torch::cat({items.x, items.prompt}, 1);
}

torch::Tensor ContextConditioned::has_own_context(const ItemBatch& items) const {
  const int64_t B = items.size();
  if (!items.context.defined()) return torch::zeros({B}, torch::kBool);
  return items.has_context.defined() ? items.has_context.to(torch::kBool) : torch::ones({B}, torch::kBool);
}

torch::Tensor ContextConditioned::contexts_of(const ItemBatch& items, const torch::Tensor& drop) const {
  const int64_t B = items.size();
  auto null = null_.unsqueeze(0).expand({B, -1});
  if (!items.context.defined()) return null;
  PLURAL_CHECK(items.context.dim() == 2 && items.context.size(0) == B && items.context.size(1) == dims_.context_dim,
               "context: context features must be [", B, ", ", dims_.context_dim, "], got ", items.context.sizes());
  auto use = items.has_context.defined() ? items.has_context.to(torch::kBool) : torch::ones({B}, torch::kBool);
  if (drop.defined()) use = use & ~drop;
  return torch::where(use.unsqueeze(1), items.context.to(null_.dtype()), null);
}

torch::Tensor ContextConditioned::run(const torch::Tensor& base, const torch::Tensor& c) {
  if (concat_) return concat_->forward(torch::cat({base, c}, 1)).squeeze(1);
  auto h = base;
  const size_t hidden = config_.mlp.hidden.size();
  for (size_t l = 0; l < hidden; ++l) {
    h = film_layers_[l]->as<torch::nn::Linear>()->forward(h);
    auto gb = film_maps_[l]->as<torch::nn::Linear>()->forward(c).chunk(2, 1);
    h = activate(h * (1 + gb[0]) + gb[1], config_.mlp.activation);
    if (config_.mlp.dropout > 0) h = torch::dropout(h, config_.mlp.dropout, is_training());
  }
  return film_layers_[hidden]->as<torch::nn::Linear>()->forward(h).squeeze(1);
}

torch::Tensor ContextConditioned::forward(const ItemBatch& items) {
  return run(base_input(items), contexts_of(items, torch::Tensor()));
}

torch::Tensor ContextConditioned::reward_under(const ItemBatch& items, const torch::Tensor& contexts) {
  auto base = base_input(items);
  const int64_t B = base.size(0);
  if (!contexts.defined()) return run(base, null_.unsqueeze(0).expand({B, -1}));
  auto c = contexts.dim() == 1 ? contexts.unsqueeze(0).expand({B, -1}) : contexts;
  PLURAL_CHECK(c.dim() == 2 && c.size(0) == B && c.size(1) == dims_.context_dim, "context: contexts must be [",
               dims_.context_dim, "] or [", B, ", ", dims_.context_dim, "], got ", contexts.sizes());
  return run(base, c.to(null_.dtype()));
}

torch::Tensor ContextConditioned::reward_seen(const ItemBatch& items, const torch::Tensor&) { return forward(items); }

std::pair<torch::Tensor, torch::Tensor> ContextConditioned::state_posterior(const core::UserState& state) const {
  if (!state.tensors.count("weights")) return {};
  const auto& c = state.at("contexts");
  const auto& w = state.at("weights");
  PLURAL_CHECK(c.dim() == 2 && c.size(1) == dims_.context_dim && w.dim() == 1 && w.size(0) == c.size(0),
               "context: user state '", state.user_id, "' has contexts ", c.sizes(), " and weights ", w.sizes(),
               "; this model's contexts are ", dims_.context_dim, "-dim");
  return {c.to(null_.dtype()), w.to(null_.dtype())};
}

torch::Tensor ContextConditioned::reward(const ItemBatch& items, const core::UserState& state) {
  check_state(state, "context.reward");
  auto [contexts, weights] = state_posterior(state);
  auto own = forward(items);
  if (!contexts.defined() || contexts.size(0) == 0) return own;
  auto base = base_input(items);
  auto mean = torch::zeros({base.size(0)});
  for (int64_t h = 0; h < contexts.size(0); ++h)
    mean = mean + weights[h] * run(base, contexts[h].unsqueeze(0).expand({base.size(0), -1}));
  return torch::where(has_own_context(items), own, mean);
}

torch::Tensor ContextConditioned::logits_under(const torch::Tensor& base_a, const torch::Tensor& base_b,
                                               const torch::Tensor& contexts) {
  const int64_t B = base_a.size(0);
  std::vector<torch::Tensor> rows;
  for (int64_t h = 0; h < contexts.size(0); ++h) {
    auto c = contexts[h].unsqueeze(0).expand({B, -1});
    rows.push_back(run(base_a, c) - run(base_b, c));
  }
  return torch::stack(rows);
}

torch::Tensor ContextConditioned::logits_for(const PairBatch& batch, const core::UserState& state) {
  check_state(state, "context.logits_for");
  auto [contexts, weights] = state_posterior(state);
  auto own = forward(batch.a) - forward(batch.b);
  if (!contexts.defined() || contexts.size(0) == 0) return own;
  // The marginal preference Σ_h w_h σ(Δ_h), as a logit (log-sum-exp keeps it finite for confident pairs).
  auto z = logits_under(base_input(batch.a), base_input(batch.b), contexts);
  auto lw = weights.clamp_min(1e-30).log().unsqueeze(1);
  auto marginal = torch::logsumexp(lw + torch::log_sigmoid(z), 0) - torch::logsumexp(lw + torch::log_sigmoid(-z), 0);
  return torch::where(has_own_context(batch.a), own, marginal);
}

void ContextConditioned::refresh_seen_users(const core::DatasetView& view) {
  std::map<int32_t, int64_t> count;
  for (const auto& c : view.data().comparisons)
    if (c.split == core::Split::train && c.context >= 0) ++count[c.context];
  std::vector<std::pair<int64_t, int32_t>> order;  // most frequent first, text order among equals
  for (const auto& [t, n] : count) order.push_back({-n, t});
  std::sort(order.begin(), order.end());
  if (static_cast<int64_t>(order.size()) > kMaxKnown) order.resize(kMaxKnown);
  std::vector<int64_t> rows;
  for (const auto& o : order) rows.push_back(o.second);
  torch::NoGradGuard ng;
  auto known = view.features().index_select(0, torch::tensor(rows, torch::kInt64)).to(null_.dtype()).clone();
  known_.set_(known);
}

core::UserState ContextConditioned::context_posterior(const PairBatch& shots, const std::string& user_id) {
  PLURAL_CHECK(known_.size(0) > 0,
               "context: this model knows no training contexts (train it first, or give the "
               "user's context with their comparisons)");
  auto s = core::new_user_state(*this, shots, user_id);
  if (!shots.label.defined() || shots.size() == 0) return s;  // the prior: the null context
  core::check_shot_features(*this, shots, "context-posterior adapter");
  auto z = logits_under(base_input(shots.a), base_input(shots.b), known_);  // [H, N]
  auto y = shots.label.unsqueeze(0);
  auto w = shots.weight.defined() ? shots.weight.unsqueeze(0) : torch::ones_like(y);
  auto loglik = (w * (y * torch::log_sigmoid(z) + (1 - y) * torch::log_sigmoid(-z))).sum(1);
  s.tensors["contexts"] = known_.clone();
  s.tensors["weights"] = core::posterior_weights(loglik);
  return s;
}

namespace {
struct ContextPool : core::PreparedPool {
  torch::Tensor base_a, base_b;
};

class ContextPosteriorAdapter : public core::Adapter {
 public:
  std::string name() const override { return "context-posterior"; }
  core::UserState adapt(core::RewardModel& model, const PairBatch& shots, const std::string& user_id) const override {
    auto* m = dynamic_cast<ContextConditioned*>(&model);
    PLURAL_CHECK(m, "context-posterior adapter: expected a context model, got '", model.family(), "'");
    torch::NoGradGuard ng;
    bool was = m->is_training();
    m->eval();
    auto s = m->context_posterior(shots, user_id);
    m->train(was);
    return s;
  }
};
}  // namespace

std::shared_ptr<const core::PreparedPool> ContextConditioned::prepare_hypotheses(const PairBatch& candidates) {
  auto p = std::make_shared<ContextPool>();
  p->base_a = base_input(candidates.a);
  p->base_b = base_input(candidates.b);
  return p;
}

core::WeightedHypotheses ContextConditioned::hypotheses(const core::UserState& state, const core::PreparedPool& pool) {
  check_state(state, "context.hypotheses");
  const auto& p = core::prepared_as<ContextPool>(pool, "context");
  auto [contexts, weights] = state_posterior(state);
  if (!contexts.defined()) {  // no answers yet: every training context equally likely
    PLURAL_CHECK(known_.size(0) > 0, "query: this context model knows no training contexts (train it first)");
    contexts = known_, weights = torch::full({known_.size(0)}, 1.0 / known_.size(0));
  }
  torch::NoGradGuard ng;
  return {logits_under(p.base_a, p.base_b, contexts), weights};
}

torch::Tensor ContextConditioned::logits(const PairBatch& batch) {
  if (!is_training() || config_.null_fraction <= 0) return forward(batch.a) - forward(batch.b);
  auto drop = torch::rand({batch.size()}) < config_.null_fraction;  // one draw per pair: both sides alike
  return run(base_input(batch.a), contexts_of(batch.a, drop)) - run(base_input(batch.b), contexts_of(batch.b, drop));
}

torch::Tensor marginal_preference(ContextConditioned& model, const PairBatch& pairs, const torch::Tensor& contexts,
                                  const torch::Tensor& probs) {
  PLURAL_CHECK(contexts.dim() == 2 && contexts.size(1) == model.dims().context_dim,
               "marginal_preference: contexts must be [C, ", model.dims().context_dim, "], got ", contexts.sizes());
  PLURAL_CHECK(probs.dim() == 1 && probs.size(0) == contexts.size(0), "marginal_preference: probs must be [",
               contexts.size(0), "], got ", probs.sizes());
  auto p = probs.to(torch::kFloat64);
  PLURAL_CHECK((p >= 0).all().item<bool>() && std::abs(p.sum().item<double>() - 1.0) < 1e-4,
               "marginal_preference: probs must be non-negative and sum to 1");
  auto out = torch::zeros({pairs.size()}, torch::kFloat32);
  for (int64_t c = 0; c < contexts.size(0); ++c) {
    if (probs[c].item<double>() == 0) continue;
    auto z = model.reward_under(pairs.a, contexts[c]) - model.reward_under(pairs.b, contexts[c]);
    out = out + probs[c].to(torch::kFloat32) * torch::sigmoid(z);
  }
  return out;
}

torch::Tensor marginal_preference(core::RewardModel& model, const PairBatch& pairs, const torch::Tensor& contexts,
                                  const torch::Tensor& probs) {
  auto* context_model = dynamic_cast<ContextConditioned*>(&model);
  PLURAL_CHECK(context_model, "marginal_preference: expected a context model, got '", model.family(), "'");
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  auto out = marginal_preference(*context_model, pairs, contexts, probs);
  model.train(was_training);
  return out;
}

core::FamilyRecord context_family() {
  auto f = core::schema_family<ContextConditioned>(
      "context",
      "context-conditioned RM: r(x, p, c) with a context embedding c (FiLM or concat), a learned null context",
      context_schema());
  f.adapters = {
      {"context-posterior", [](const std::string&) { return std::make_unique<ContextPosteriorAdapter>(); }, true}};
  return f;
}

}  // namespace plural::latent
