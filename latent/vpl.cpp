#include "latent/vpl.hpp"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "core/train/trainer.hpp"
#include "latent/families.hpp"

namespace plural::latent {

using core::ItemBatch;
using core::PairBatch;
using core::UserState;

double KlAnnealer::slope(int64_t step) const {
  if (period <= 0) return 1.0;
  double t = static_cast<double>(step % period) / static_cast<double>(period);
  return baseline + (1.0 - baseline) * (std::cos(M_PI * (t - 1.0)) + 1.0) / 2.0;
}

void Vpl::Config::validate() const {
  PLURAL_CHECK(latent >= 1 && hidden >= 1, "vpl: latent and hidden must be >= 1");
  PLURAL_CHECK(beta >= 0 && free_bits >= 0, "vpl: beta and free_bits must be >= 0");
  PLURAL_CHECK(anneal_period >= 0 && anneal_baseline >= 0 && anneal_baseline <= 1,
               "vpl: need anneal_period >= 0 and anneal_baseline in [0, 1]");
  PLURAL_CHECK(clamp > 0, "vpl: clamp must be > 0");
  PLURAL_CHECK(context_min >= 1 && context_max >= context_min, "vpl: need 1 <= context_min <= context_max, got ",
               context_min, " and ", context_max);
  PLURAL_CHECK(seen_context >= 1, "vpl: seen_context must be >= 1");
  PLURAL_CHECK(dropout >= 0 && dropout < 1, "vpl: dropout must be in [0, 1)");
  PLURAL_CHECK(pair_input == "concat" || pair_input == "difference",
               "vpl: pair_input must be 'concat' or "
               "'difference', got '",
               pair_input, "'");
  PLURAL_CHECK(decoder == "mlp" || decoder == "bilinear", "vpl: decoder must be 'mlp' or 'bilinear', got '", decoder,
               "'");
}

Vpl::Vpl(const core::ModelDims& dims, Config c) : config_(std::move(c)) {
  config_.validate();
  set_dims(dims);
  annealer_ = {config_.anneal_period, config_.anneal_baseline};
  const int64_t D = dims.item_dim, P = prompts() ? dims.prompt_dim : 0, Z = config_.latent, H = config_.hidden;
  core::MlpOptions mlp;
  mlp.hidden = {H, H};
  mlp.activation = "leaky_relu";
  mlp.dropout = config_.dropout;
  pair_ = register_module("pair_encoder", core::Mlp((config_.pair_input == "concat" ? 2 : 1) * D + P, Z, mlp));
  q_ = register_module("query", torch::nn::Linear(Z, Z));
  k_ = register_module("key", torch::nn::Linear(Z, Z));
  v_ = register_module("value", torch::nn::Linear(Z, Z));
  if (config_.set_norm) set_norm_ = register_module("set_norm", torch::nn::BatchNorm1d(Z));
  mu_head_ = register_module("mu_head", torch::nn::Linear(Z, Z));
  logvar_head_ = register_module("logvar_head", torch::nn::Linear(Z, Z));
  if (config_.logvar_init != 0.0) {
    torch::NoGradGuard ng;
    logvar_head_->bias.fill_(config_.logvar_init);
  }
  if (config_.decoder == "mlp")
    decoder_ = register_module("decoder", core::Mlp(D + P + Z, 1, mlp));
  else
    decoder_ = register_module("decoder", core::Mlp(D + P, 1 + Z, mlp));
  const auto U = static_cast<int64_t>(dims.users.size());
  seen_mu_ = register_buffer("seen_mu", torch::zeros({U, Z}));
  seen_logvar_ = register_buffer("seen_logvar", torch::zeros({U, Z}));
}

namespace {
const core::ConfigSchema<Vpl::Config>& vpl_schema() {
  using C = Vpl::Config;
  static const auto schema = [] {
    core::ConfigSchema<C> s("vpl");
    s.field("latent", &C::latent, "d_z, the latent width", 1, core::kMaxWidth)
        .field("hidden", &C::hidden, "width of the encoder's and decoder's MLPs", 1, core::kMaxWidth)
        .field("beta", &C::beta, "KL weight of the ELBO")
        .field("anneal_period", &C::anneal_period, "training steps per KL cycle (0 = constant β)")
        .field("anneal_baseline", &C::anneal_baseline, "β's share at the start of each cycle")
        .field("clamp", &C::clamp, "μ and log σ² are clamped to [−clamp, clamp], as the reference")
        .field("normalize", &C::normalize, "z ← √d_z·z/‖z‖, in training and evaluation alike")
        .field("free_bits", &C::free_bits, "per-dimension KL floor in nats (0 = off)")
        .field("context_min", &C::context_min, "fewest support pairs per training set", 1, core::kMaxSupport)
        .field("context_max", &C::context_max, "most support pairs per training set", 1, core::kMaxSupport)
        .field("seen_context", &C::seen_context, "train pairs encoded into a seen user's state", 1, core::kMaxSupport)
        .field("use_prompt", &C::use_prompt, "prompt features enter the pair encoder and the decoder")
        .field("dropout", &C::dropout, "dropout in the MLPs")
        .field("decoder", &C::decoder, "bilinear: r = b(x) + h(x)ᵀz (default); mlp: r = MLP([x; z]) (the reference)")
        .field("logvar_init", &C::logvar_init, "initial bias of the log σ² head")
        .field("pair_input", &C::pair_input,
               "concat: [chosen; rejected] (the reference); difference: chosen − rejected")
        .field("set_norm", &C::set_norm, "batch-normalise each set's pooled summary across the batch's sets");
    return s;
  }();
  return schema;
}
}  // namespace

std::string Vpl::config_json() const { return vpl_schema().write(config_); }

std::pair<torch::Tensor, torch::Tensor> Vpl::encode(const core::SupportSet& set) {
  const int64_t S = set.mask.size(0), N = set.mask.size(1), Z = config_.latent;
  if (N == 0) return {torch::zeros({S, Z}), torch::zeros({S, Z})};
  std::vector<torch::Tensor> in;
  if (config_.pair_input == "concat")
    in = {set.chosen, set.rejected};
  else
    in = {set.chosen - set.rejected};
  if (prompts()) in.push_back(set.prompt);
  auto e = pair_->forward(torch::cat(in, 2));  // [S, N, Z]
  // Single-head self-attention over the set; padded pairs are masked as keys and left out of the mean.
  auto scores = torch::matmul(q_->forward(e), k_->forward(e).transpose(1, 2)) / std::sqrt(double(Z));
  scores = scores.masked_fill(~set.mask.unsqueeze(1), -1e9);
  auto out = torch::matmul(torch::softmax(scores, 2), v_->forward(e));  // [S, N, Z]
  auto m = set.mask.to(out.dtype()).unsqueeze(2);
  auto count = m.sum(1);  // [S, 1]
  auto pooled = (out * m).sum(1) / count.clamp_min(1);
  auto has = count > 0;
  if (config_.set_norm) {
    // Statistics over non-empty sets only (an empty set is the prior whatever its summary); a lone set in
    // training has no spread to normalize by, so it uses the running statistics.
    auto rows = torch::nonzero(has.squeeze(1)).squeeze(1);
    if (is_training() && rows.size(0) < 2) {
      set_norm_->eval();
      pooled = set_norm_->forward(pooled);
      set_norm_->train();
    } else if (rows.size(0) > 0) {
      pooled = pooled.index_copy(0, rows, set_norm_->forward(pooled.index_select(0, rows)));
    }
  }
  auto mu = torch::where(has, mu_head_->forward(pooled).clamp(-config_.clamp, config_.clamp), torch::zeros({}));
  auto lv = torch::where(has, logvar_head_->forward(pooled).clamp(-config_.clamp, config_.clamp), torch::zeros({}));
  return {mu, lv};
}

torch::Tensor Vpl::latent_of(const torch::Tensor& z) const {
  if (!config_.normalize) return z;
  auto norm = z.norm(2, -1, true);
  // The prior mean (z = 0) has no direction: it stays 0.
  return torch::where(norm > 1e-12, z / norm.clamp_min(1e-12) * std::sqrt(double(config_.latent)), z);
}

torch::Tensor Vpl::decoder_input(const ItemBatch& items) const {
  return prompts() ? torch::cat({items.x, items.prompt}, 1) : items.x;
}

torch::Tensor Vpl::decode(const ItemBatch& items, const torch::Tensor& z) {
  const int64_t B = items.size();
  auto zz = latent_of(z.dim() == 1 ? z.unsqueeze(0).expand({B, z.size(0)}) : z);
  if (config_.decoder == "bilinear") {
    auto out = decoder_->forward(decoder_input(items));  // [B, 1 + Z]
    return out.select(1, 0) + (out.slice(1, 1) * zz).sum(1);
  }
  return decoder_->forward(torch::cat({decoder_input(items), zz}, 1)).squeeze(1);
}

torch::Tensor Vpl::kl_per_dim(const torch::Tensor& mu, const torch::Tensor& logvar) {
  return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar);
}

torch::Tensor Vpl::seen_latents(const torch::Tensor& users) const {
  auto known = (users >= 0).unsqueeze(1).to(torch::kFloat32);
  return seen_mu_.index_select(0, users.clamp_min(0)) * known;
}

torch::Tensor Vpl::reward_seen(const ItemBatch& items, const torch::Tensor& users) {
  return decode(items, seen_latents(users));
}

torch::Tensor Vpl::state_mu(const UserState& s) const {
  check_state(s, "vpl");
  const auto& mu = s.at("mu");
  PLURAL_CHECK(mu.dim() == 1 && mu.size(0) == config_.latent, "vpl: user state '", s.user_id, "' has a ", mu.numel(),
               "-dim latent, this model's is ", config_.latent);
  return mu;
}

torch::Tensor Vpl::reward(const ItemBatch& items, const UserState& state) { return decode(items, state_mu(state)); }

torch::Tensor Vpl::logits_for(const PairBatch& batch, const UserState& state) {
  auto mu = state_mu(state);
  auto sigma = state.tensors.find("sigma");
  if (config_.decoder != "bilinear" || config_.normalize || state.shots < 0 || sigma == state.tensors.end())
    return decode(batch.a, mu) - decode(batch.b, mu);
  auto d = decoder_->forward(decoder_input(batch.a)) - decoder_->forward(decoder_input(batch.b));  // [B, 1 + Z]
  auto personal = d.slice(1, 1);
  auto z = d.select(1, 0) + torch::mv(personal, mu);
  auto var = torch::mv(personal * personal, sigma->second.reshape({config_.latent}).pow(2));
  return z / torch::sqrt(1 + (M_PI / 8) * var);
}

torch::Tensor Vpl::logits(const PairBatch& batch) {
  if (!core::has_support(batch)) {
    auto z = seen_latents(batch.user);
    return decode(batch.a, z) - decode(batch.b, z);
  }
  torch::Tensor index;
  auto set = core::support_of(batch, &index);
  auto [mu, lv] = encode(set);
  auto z = mu;
  if (is_training()) {
    z = mu + (0.5 * lv).exp() * torch::randn_like(mu);  // reparameterized, one draw per set
    last_kl_ = kl_per_dim(mu, lv);
  }
  auto zt = z.index_select(0, index);
  return decode(batch.a, zt) - decode(batch.b, zt);
}

torch::Tensor Vpl::regularizer(const PairBatch&) {
  if (!is_training() || !last_kl_.defined()) return torch::zeros({});
  torch::Tensor kl =
      config_.free_bits > 0 ? last_kl_.mean(0).clamp_min(config_.free_bits).sum() : last_kl_.sum(1).mean();
  last_kl_ = torch::Tensor();
  return config_.beta * annealer_.slope(step_++) * kl;
}

void Vpl::refresh_seen_users(const core::DatasetView& view) {
  torch::NoGradGuard ng;
  bool was = is_training();
  eval();
  core::for_seen_user_sets(*this, view, config_.seen_context,
                           [&](const std::vector<int64_t>& rows, const core::SupportSet& sets) {
                             auto [mu, lv] = encode(sets);
                             auto idx = torch::tensor(rows, torch::kInt64);
                             seen_mu_.index_copy_(0, idx, mu);
                             seen_logvar_.index_copy_(0, idx, lv);
                           });
  train(was);
}

double Vpl::regularizer_units(const core::PairBatch& batch) const {
  return static_cast<double>(std::get<0>(torch::_unique(batch.user)).size(0));
}

std::vector<torch::Tensor> Vpl::seen_user_tensors() {
  auto out = core::RewardModel::seen_user_tensors();
  out.push_back(seen_mu_);
  out.push_back(seen_logvar_);
  return out;
}

std::vector<std::pair<std::string, double>> Vpl::diagnostics(const core::DatasetView& view) {
  torch::NoGradGuard ng;
  std::vector<std::pair<std::string, double>> out;
  auto kl = kl_per_dim(seen_mu_, seen_logvar_).mean(0);  // [Z], averaged over seen users
  out.emplace_back("kl", kl.sum().item<double>());
  auto active = seen_mu_.size(0) > 1 ? (seen_mu_.var(0) > 0.01).sum().item<double>() : 0.0;
  out.emplace_back("active_units", active);
  auto val = view.rows(core::Split::val, true);
  if (!val.empty()) {
    bool was = is_training();
    eval();
    auto b = view.batch(val);
    auto strict = b.label != 0.5;
    auto acc = [&](const torch::Tensor& z) {
      auto d = decode(b.a, z) - decode(b.b, z);
      return ((d > 0) == (b.label > 0.5)).logical_and(strict).sum().item<double>() /
             std::max(1.0, strict.sum().item<double>());
    };
    out.emplace_back("acc_z", acc(seen_latents(b.user)));
    out.emplace_back("acc_z0", acc(torch::zeros({config_.latent})));
    train(was);
  }
  for (int64_t d = 0; d < kl.size(0); ++d) out.emplace_back("kl/d" + std::to_string(d), kl[d].item<double>());
  return out;
}

UserState Vpl::make_user(const std::string& user_id, int64_t shots, const torch::Tensor& mu,
                         const torch::Tensor& logvar) const {
  UserState s = make_state(user_id, shots);
  s.tensors["mu"] = mu.detach().reshape({config_.latent}).clone();
  s.tensors["sigma"] = (0.5 * logvar.detach()).exp().reshape({config_.latent}).clone();
  return s;
}

UserState Vpl::seen_state(int64_t row) const {
  UserState base = RewardModel::seen_state(row);  // checks the row
  return make_user(base.user_id, -1, seen_mu_[row], seen_logvar_[row]);
}

core::UserEmbedding Vpl::user_embedding(const UserState& state) const {
  return {core::UserEmbedding::Kind::latent_mean, state.at("mu")};
}

bool Vpl::scale_logits(double factor) {
  decoder_->scale_output(factor);  // the reward (bilinear: its base and personal parts) is the decoder's output
  return true;
}

UserState Vpl::prior_state() const {
  // A user with no answers is any of the users seen: the moments of their encoded posteriors (a mixture's mean and
  // variance), not N(0, I), which a small β leaves far wider than the users are (Persona-K: ECE 0.092 with no
  // answers under N(0, I), moderated).
  torch::NoGradGuard ng;
  if (seen_mu_.size(0) < 2) return make_user("", 0, torch::zeros({config_.latent}), torch::zeros({config_.latent}));
  auto var = seen_mu_.var(0, /*unbiased=*/false) + seen_logvar_.exp().mean(0);
  return make_user("", 0, seen_mu_.mean(0), var.clamp_min(1e-8).log());
}

namespace {
struct VplPool : core::PreparedPool {
  PairBatch pairs;               // the MLP decoder needs them for every user
  torch::Tensor base, personal;  // bilinear: [C] and [C, d_z] differences of b and h between the two sides
};
}  // namespace

std::shared_ptr<const core::PreparedPool> Vpl::prepare(const PairBatch& candidates) {
  PLURAL_CHECK(candidates.a.x.size(1) == dims_.item_dim, "vpl: candidate pairs have ", candidates.a.x.size(1),
               "-dim features, the model expects ", dims_.item_dim);
  auto pool = std::make_shared<VplPool>();
  pool->pairs = candidates;
  if (config_.decoder == "bilinear") {
    auto d = decoder_->forward(decoder_input(candidates.a)) - decoder_->forward(decoder_input(candidates.b));
    pool->base = d.select(1, 0).contiguous();
    pool->personal = d.slice(1, 1).contiguous();
  }
  return pool;
}

core::LinearizedLogits Vpl::linearize(const UserState& state, const core::PreparedPool& prepared) {
  auto mu = state_mu(state);
  auto sigma = state.at("sigma").reshape({config_.latent});
  const auto& pool = core::prepared_as<VplPool>(prepared, family());
  torch::Tensor mean, grad;
  if (pool.personal.defined()) {
    // logit = base + personal · ℓ(z): linear in ℓ, and ℓ = z unless latents are normalized.
    auto z = mu.clone().requires_grad_(config_.normalize);
    auto l = latent_of(z);
    mean = pool.base + pool.personal.matmul(l.detach());
    if (config_.normalize) {
      std::vector<torch::Tensor> rows;
      for (int64_t d = 0; d < config_.latent; ++d) rows.push_back(torch::autograd::grad({l[d]}, {z}, {}, true)[0]);
      grad = pool.personal.matmul(torch::stack(rows));  // [C, Z] · dℓ/dz
    } else {
      grad = pool.personal;
    }
  } else {
    bool was = is_training();
    eval();
    const auto& c = pool.pairs;
    // One latent row per candidate, so the gradient of Σ logits gives each candidate's own d logit / dz.
    auto z = mu.unsqueeze(0).expand({c.size(), config_.latent}).clone().requires_grad_(true);
    auto logit = decode(c.a, z) - decode(c.b, z);
    grad = torch::autograd::grad({logit.sum()}, {z})[0];
    mean = logit;
    train(was);
  }
  return {mean.detach(), grad.detach(), torch::diag(sigma * sigma)};
}

torch::Tensor Vpl::sample_logits(const UserState& state, const core::PreparedPool& prepared, int64_t m, uint64_t seed) {
  auto mu = state_mu(state);
  auto sigma = state.at("sigma").reshape({config_.latent});
  const auto& pool = core::prepared_as<VplPool>(prepared, family());
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(seed);
  auto z = mu.unsqueeze(0) + sigma.unsqueeze(0) * torch::randn({m, config_.latent}, gen);  // [M, Z]
  if (pool.personal.defined()) return pool.base.unsqueeze(0) + latent_of(z).matmul(pool.personal.t());
  bool was = is_training();
  eval();
  std::vector<torch::Tensor> rows;
  for (int64_t s = 0; s < m; ++s) rows.push_back(decode(pool.pairs.a, z[s]) - decode(pool.pairs.b, z[s]));
  train(was);
  return torch::stack(rows);
}

core::FamilyRecord vpl_family() {
  auto f = core::schema_family<Vpl>(
      "vpl", "VPL: Gaussian user latent from a set encoder over the user's pairs, reward MLP([x; z]), ELBO",
      vpl_schema());
  // A new user's comparisons → q(z | pairs) in one forward pass of the set encoder.
  f.adapters = {
      core::amortized_adapter("vpl", [](core::RewardModel& m, const core::SupportSet& set, const UserState& s) {
        auto& model = static_cast<Vpl&>(m);
        auto [mu, lv] = model.encode(set);
        return model.make_user(s.user_id, s.shots, mu[0], lv[0]);
      })};
  // Each step encodes one support set per user in the batch: batches of 1024 halve the epoch time of 512. The latent
  // starts to matter only after ~15 epochs (docs/vpl.md), so stopping is patient.
  f.training.lr = 1e-3;
  f.training.patience = 15;
  return f;
}

}  // namespace plural::latent
