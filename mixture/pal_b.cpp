#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "mixture/families.hpp"
#include "mixture/model_inputs.hpp"
#include "mixture/pal.hpp"
#include "mixture/row_gemm.hpp"
#include "mixture/shot_geometries.hpp"

namespace plural::mixture {

using core::ItemBatch;
using core::PairBatch;

// PAL-B: τ·cos(f(x), Σ_k w_k g_k(prompt)).

PalB::PalB(const core::ModelDims& dims, Config c) : config_(std::move(c)) {
  set_dims(dims);
  const int64_t d = config_.dim > 0 ? config_.dim : dims.item_dim;
  PLURAL_CHECK(config_.bound > 0 && config_.bound_lambda >= 0, "pal-b: need bound > 0 and bound_lambda >= 0");
  PLURAL_CHECK(config_.k >= 1, "pal-b: K must be >= 1, got ", config_.k);
  auto spec = ProjectorSpec::parse(config_.proj);
  f_ = register_module("f", Projector(dims.item_dim, d, spec));
  if (dims.prompt_dim > 0) {
    g_ = register_module("g", ProjectorBank(config_.k, dims.prompt_dim, d, spec));
  } else {
    // No prompts in the data: the prototypes are learned points (PAL-B with a constant prompt).
    fixed_protos_ = register_parameter("prototypes", torch::randn({std::max<int64_t>(config_.k, 1), d}));
  }
  log_scale_ = register_parameter("log_scale", torch::full({1}, std::log(1.0 / 0.07)));
  init_users(config_.k, config_.partition, config_.prior_var);
  // What the frozen caches key on, listed once: collecting a module's tensors took ~1.4 µs per adaptation.
  f_state_ = parameters_and_buffers(*f_);
  if (g_) g_state_ = parameters_and_buffers(*g_);
}

namespace {
const core::ConfigSchema<PalB::Config>& pal_b_schema() {
  using C = PalB::Config;
  static const auto schema = [] {
    core::ConfigSchema<C> s("pal-b");
    s.field("k", &C::k, "K, the number of prototypes", 1, core::kMaxPrototypes)
        .field("dim", &C::dim, "projection width d (0 = the item feature dimension)", 0, core::kMaxWidth)
        .field("proj", &C::proj, "projectors f and every g_k: mlp2-gelu-dropout3 (two layers, dropout 0.3), ...")
        .field("bound", &C::bound, "U in the ideal-point penalty λ·mean(max(0, ‖a‖ − U))")
        .field("bound_lambda", &C::bound_lambda, "λ of that penalty (0 = off)")
        .field("partition", &C::partition, "initialise users as a hard partition over the prototypes")
        .field("prior_var", &C::prior_var, "variance of the Gaussian prior on a user's K logits");
    return s;
  }();
  return schema;
}
}  // namespace

bool PalB::scale_logits(double factor) {
  torch::NoGradGuard no_grad;
  log_scale_.fill_(std::log(tau() * factor));  // τ as the reward uses it (capped at 100), times the factor
  return true;
}

std::string PalB::config_json() const {
  auto c = config_;
  c.prior_var = prior_var();  // as tuned after training
  return pal_b_schema().write(c);
}

double PalB::tau() const { return std::min(std::exp(log_scale_.item<double>()), 100.0); }

torch::Tensor PalB::project_prompts(const torch::Tensor& distinct) { return g_->forward(distinct); }

void PalB::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive g_archive;
  torch::Tensor probe;
  if (!g_ || !archive.try_read("g", g_archive) || g_archive.try_read("w0", probe)) return Module::load(archive);
  // The older layout: a list of K projectors. Read it as such, then everything else as Module::load would.
  torch::nn::ModuleList legacy;
  std::vector<ProjectorImpl*> projectors;
  for (auto& p : g_->unstack()) {
    legacy->push_back(p);
    projectors.push_back(p.get());
  }
  legacy->load(g_archive);
  g_->assign(projectors);
  for (auto& p : named_parameters(/*recurse=*/false)) archive.read(p.key(), p.value());
  for (auto& b : named_buffers(/*recurse=*/false)) archive.read(b.key(), b.value(), /*is_buffer=*/true);
  for (auto& c : named_children()) {
    if (c.key() == "g") continue;
    torch::serialize::InputArchive sub;
    archive.read(c.key(), sub);
    c.value()->load(sub);
  }
}

std::vector<PalB::PromptPrototypes> PalB::split_prototypes(const torch::Tensor& table) {
  using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using RowMatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  auto t = table.detach().to(torch::kFloat32).contiguous();
  std::vector<PromptPrototypes> out;
  for (int64_t p = 0; p < t.size(0); ++p) {
    PromptPrototypes pp{t[p].clone(), std::vector<double>(static_cast<size_t>(t.size(1) * t.size(1)))};
    Eigen::Map<const RowMatF> G(pp.protos.data_ptr<float>(), t.size(1), t.size(2));
    Eigen::Map<RowMatD>(pp.gram.data(), t.size(1), t.size(1)) = (G * G.transpose()).cast<double>();
    out.push_back(std::move(pp));
  }
  return out;
}

std::vector<std::shared_ptr<const PalB::PromptPrototypes>> PalB::prompt_prototypes(const float* const* rows,
                                                                                   const DistinctRows& d) {
  auto compute = [&](const std::vector<int64_t>& first) {
    const int64_t D = dims_.prompt_dim;
    auto x = torch::empty({static_cast<int64_t>(first.size()), D});
    for (size_t m = 0; m < first.size(); ++m)
      std::copy_n(rows[first[m]], D, x.data_ptr<float>() + static_cast<int64_t>(m) * D);
    return split_prototypes(project_prompts(x.to(log_scale_.scalar_type())));  // a model moved to double
  };
  if (!is_frozen(*this)) {
    std::vector<std::shared_ptr<const PromptPrototypes>> out;
    for (auto& pp : compute(d.first)) out.push_back(std::make_shared<const PromptPrototypes>(std::move(pp)));
    return out;
  }
  return prompt_memo_->get(d, weights_version(g_state_), compute);
}

std::pair<torch::Tensor, torch::Tensor> PalB::distinct_prototypes(const torch::Tensor& prompts, int64_t rows,
                                                                  int64_t sides) {
  if (!g_) return {fixed_protos_.unsqueeze(0), torch::zeros({rows}, torch::kInt64)};
  // Each distinct prompt goes through the K projectors once: batches repeat prompts (every pair has two items
  // with, usually, one prompt; many datasets have few prompts).
  if (!is_frozen(*this)) {
    auto d = distinct_rows(prompts, is_training() ? sides : 1);
    return {project_prompts(prompts.index_select(0, torch::tensor(d.first, torch::kInt64))), d.inverse};
  }
  auto p = prompts.to(torch::kFloat32).contiguous();
  const auto row = row_pointers(p.data_ptr<float>(), p.size(0), p.size(1));
  auto d = distinct_rows(row.data(), p.size(0), p.size(1));
  auto entries = prompt_prototypes(row.data(), d);
  std::vector<torch::Tensor> table;
  for (const auto& e : entries) table.push_back(e->protos);
  return {table.size() == 1 ? table[0].unsqueeze(0) : torch::stack(table), torch::tensor(d.index, torch::kInt64)};
}

torch::Tensor PalB::item_representation(const ItemBatch& items) {
  return torch::nn::functional::normalize(f_->forward(items.x), torch::nn::functional::NormalizeFuncOptions().dim(1));
}

torch::Tensor PalB::reward_weights(const ItemBatch& items, const torch::Tensor& w) { return rewards(items, w, 1); }

torch::Tensor PalB::reward_sides(const ItemBatch& both, const torch::Tensor& w) { return rewards(both, w, 2); }

torch::Tensor PalB::rewards(const ItemBatch& items, const torch::Tensor& w, int64_t sides) {
  check_items(items, dims_, dims_.prompt_dim > 0, "pal-b");
  const int64_t B = items.x.size(0);
  auto e = torch::nn::functional::normalize(f_->forward(items.x), torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto [table, inverse] = distinct_prototypes(items.prompt, B, sides);
  auto G = table.index_select(0, inverse);
  auto a = torch::bmm(broadcast_weights(w, B).unsqueeze(1).to(G.dtype()), G).squeeze(1);
  if (is_training() && config_.bound_lambda > 0) {
    auto term = torch::relu(a.norm(2, 1) - config_.bound).sum();
    last_bound_ = last_bound_.defined() ? last_bound_ + term : term;
    last_bound_rows_ += B;
  }
  auto cos = (e * torch::nn::functional::normalize(a, torch::nn::functional::NormalizeFuncOptions().dim(1))).sum(1);
  return log_scale_.exp().clamp_max(100.0) * cos;
}

torch::Tensor PalB::regularizer(const PairBatch&) {
  if (!last_bound_.defined()) return torch::zeros({});
  // The mean over every item scored since the last call: both sides of each pair, in one pass or two.
  auto r = config_.bound_lambda * last_bound_ / static_cast<double>(std::max<int64_t>(last_bound_rows_, 1));
  last_bound_ = torch::Tensor();
  last_bound_rows_ = 0;
  return r;
}

std::vector<float> PalB::frozen_item_rows(const PairBatch& shots) {
  auto f = frozen_f_->get(weights_version(f_state_), [&] { return FrozenProjector(*f_); });
  const int64_t n = shots.size(), d = f->out();
  std::vector<float> e(static_cast<size_t>(2 * n * d));
  // Both sides in one pass: each strip of f's weights is then read once for up to four rows.
  const auto xa = shots.a.x.to(torch::kFloat32).contiguous(), xb = shots.b.x.to(torch::kFloat32).contiguous();
  auto rows = row_pointers(xa.data_ptr<float>(), n, f->in());
  append_row_pointers(xb.data_ptr<float>(), n, f->in(), rows);
  f->forward_rows(rows.data(), 2 * n, e.data());
  // e / max(‖e‖, 1e-12), as torch's normalize.
  Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> E(e.data(), 2 * n, d);
  for (int64_t r = 0; r < 2 * n; ++r) E.row(r) /= std::max(E.row(r).norm(), 1e-12f);
  return e;
}

std::unique_ptr<ShotGeometry> PalB::geometry(const PairBatch& shots) {
  check_shots(shots, dims_, dims_.prompt_dim > 0, "pal-b");
  const int64_t n = shots.size();
  const bool frozen = is_frozen(*this);
  // Each item's prototypes: one set per distinct prompt (usually one for all shots). A frozen model reads them, f's
  // inference copy and τ from its memos, with no LibTorch op per shot.
  std::vector<std::shared_ptr<const PromptPrototypes>> protos;
  std::vector<int64_t> prompt_of(static_cast<size_t>(2 * n), 0);
  if (g_) {
    const auto pa = shots.a.prompt.to(torch::kFloat32).contiguous(),
               pb = shots.b.prompt.to(torch::kFloat32).contiguous();
    const int64_t D = dims_.prompt_dim;
    auto rows = row_pointers(pa.data_ptr<float>(), n, D);
    append_row_pointers(pb.data_ptr<float>(), n, D, rows);
    auto d = distinct_rows(rows.data(), 2 * n, D);
    protos = prompt_prototypes(rows.data(), d);
    prompt_of = std::move(d.index);
  } else {
    protos.push_back(
        std::make_shared<const PromptPrototypes>(std::move(split_prototypes(fixed_protos_.unsqueeze(0))[0])));
  }
  std::vector<float> e;
  if (frozen) {
    e = frozen_item_rows(shots);
  } else {
    auto t = torch::nn::functional::normalize(f_->forward(torch::cat({shots.a.x, shots.b.x})),
                                              torch::nn::functional::NormalizeFuncOptions().dim(1))
                 .detach()
                 .to(torch::kFloat32)
                 .contiguous();
    e.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
  const int64_t P = static_cast<int64_t>(protos.size()),
                d = static_cast<int64_t>(e.size()) / std::max<int64_t>(2 * n, 1);
  // u = G_p e per item, in double for the K-dimensional solve; M_p = G_p G_pᵀ per prompt from the memo.
  std::vector<double> u(static_cast<size_t>(2 * n * k_)), grams;
  grams.reserve(static_cast<size_t>(P * k_ * k_));
  for (const auto& pp : protos) grams.insert(grams.end(), pp->gram.begin(), pp->gram.end());
  for (int64_t r = 0; r < 2 * n; ++r) {
    const float* G = protos[static_cast<size_t>(prompt_of[static_cast<size_t>(r)])]->protos.data_ptr<float>();
    Eigen::Map<const Eigen::VectorXf> er(e.data() + r * d, d);
    for (int64_t a = 0; a < k_; ++a)
      u[static_cast<size_t>(r * k_ + a)] = Eigen::Map<const Eigen::VectorXf>(G + a * d, d).dot(er);
  }
  check_finite(u, "pal-b");
  const double t = frozen ? *frozen_tau_->get(weights_version({log_scale_}), [&] { return tau(); }) : tau();
  std::vector<double> ua(u.begin(), u.begin() + n * k_), ub(u.begin() + n * k_, u.end());
  return cosine_geometry(n, k_, t, std::move(ua), std::move(ub), std::move(grams),
                         std::vector<int64_t>(prompt_of.begin(), prompt_of.begin() + n),
                         std::vector<int64_t>(prompt_of.begin() + n, prompt_of.end()));
}

core::FamilyRecord pal_b_family() {
  auto f = core::schema_family<PalB>(
      "pal-b", "PAL-B: τ·cos(f(x), Σ_k w_k g_k(prompt)); Newton adapter on K logits with Laplace covariance",
      pal_b_schema());
  f.adapters = mixture_adapters();
  f.has_k = true;
  // Users' mixtures break symmetry after a plateau of ~10-25 epochs in which the validation loss rises: with
  // patience 10, 4 of 5 seeds stopped inside it on Persona-K K* = 2 (seen accuracy ~0.79, BT's level, instead of
  // ~0.89); with 25 seed 0 escaped at epoch 27 (bench/RESULTS.md, "PAL family on Persona-K").
  f.training.patience = 25;
  f.data_defaults = [](const core::DataShape& s) {
    return nlohmann::json{{"k", core::k_for_users(PalB::Config{}.k, s)}}.dump();
  };
  return f;
}

}  // namespace plural::mixture
