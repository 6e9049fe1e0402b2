#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "mixture/distance_head.hpp"
#include "mixture/families.hpp"
#include "mixture/model_inputs.hpp"
#include "mixture/pal.hpp"
#include "mixture/shot_geometries.hpp"

namespace plural::mixture {

using core::ItemBatch;
using core::PairBatch;

// PAL-A: −‖f(x) − Σ_k w_k f(p_k)‖ (ideal point).

PalA::PalA(const core::ModelDims& dims, Config c) : config_(std::move(c)) {
  set_dims(dims);
  PLURAL_CHECK(config_.variant == "f(P)w" || config_.variant == "Pw" || config_.variant == "f(Pw)",
               "pal-a: variant must be f(P)w, Pw or f(Pw), got '", config_.variant, "'");
  config_.use_prompt = config_.use_prompt && dims.prompt_dim > 0;
  const int64_t in = dims.item_dim + (config_.use_prompt ? dims.prompt_dim : 0);
  const int64_t d = config_.dim > 0 ? config_.dim : dims.item_dim;
  f_ = register_module("f", Projector(in, d, ProjectorSpec::parse(config_.proj)));
  // Unit-norm random prototypes, as the original initialises them.
  auto P =
      torch::randn({std::max<int64_t>(config_.k, 1), config_.variant == "Pw" ? d : in});  // f(Pw), f(P)w: input space
  protos_ = register_parameter("prototypes", P / P.norm(2, 1, true));
  init_users(config_.k, config_.partition, config_.prior_var);
  f_state_ = parameters_and_buffers(*f_);
  basis_state_ = f_state_;
  basis_state_.push_back(protos_);
}

namespace {
const core::ConfigSchema<PalA::Config>& pal_a_schema() {
  using C = PalA::Config;
  static const auto schema = [] {
    core::ConfigSchema<C> s("pal-a");
    s.field("k", &C::k, "K, the number of prototypes", 1, core::kMaxPrototypes)
        .field("dim", &C::dim, "projection width d (0 = the item feature dimension)", 0, core::kMaxWidth)
        .field("proj", &C::proj, "projector f: mlp2-gelu-dropout0 (two layers), linear, identity, ...")
        .field("variant", &C::variant, "ideal point: f(P)w (default), Pw (in the projected space) or f(Pw)")
        .field("use_prompt", &C::use_prompt, "item = [x; prompt], as the original's prompt ⊕ response")
        .field("partition", &C::partition, "initialise users as a hard partition over the prototypes")
        .field("prior_var", &C::prior_var, "variance of the Gaussian prior on a user's K logits");
    return s;
  }();
  return schema;
}
}  // namespace

bool PalA::scale_logits(double factor) {
  // r = −‖f(x) − a‖ scales with f's output, and with the prototypes where they live in f's output space (Pw).
  if (f_->residual()) return false;
  f_->scale_output(factor);
  torch::NoGradGuard no_grad;
  if (config_.variant == "Pw") protos_.mul_(factor);
  return true;
}

std::string PalA::config_json() const {
  auto c = config_;
  c.prior_var = prior_var();  // as tuned after training
  return pal_a_schema().write(c);
}

torch::Tensor PalA::embed(const ItemBatch& items) {
  check_items(items, dims_, config_.use_prompt, "pal-a");
  if (is_frozen(*this) && !(config_.use_prompt && f_->residual())) return frozen_embed(items);
  return f_->forward(config_.use_prompt ? torch::cat({items.x, items.prompt}, 1) : items.x);
}

std::shared_ptr<const FrozenProjector> PalA::frozen_f() {
  return frozen_f_->get(weights_version(f_state_),
                        [&] { return FrozenProjector(*f_, config_.use_prompt ? dims_.item_dim : 0); });
}

torch::Tensor PalA::frozen_embed(const ItemBatch& items) {
  auto f = frozen_f();
  auto e = torch::empty({items.x.size(0), f->out()});
  frozen_pass(items, *f, FrozenProjector::Until::output, e.data_ptr<float>());
  return e;
}

void PalA::frozen_pass(const ItemBatch& items, const FrozenProjector& f, FrozenProjector::Until until, float* out) {
  const int64_t B = items.x.size(0);
  auto x = items.x.to(torch::kFloat32).contiguous();
  if (!config_.use_prompt) {
    const auto rows = row_pointers(x.data_ptr<float>(), B, x.size(1));
    f.forward_rows(rows.data(), B, out, until);
    return;
  }
  PLURAL_CHECK(items.prompt.size(0) == B, "pal-a: ", B, " items but ", items.prompt.size(0), " prompt rows");
  // f's first layer on [x; p] is x W_xᵀ + (p W_pᵀ + b): the prompt's share is remembered per distinct prompt.
  auto d = distinct_rows(items.prompt);
  auto share = prompt_memo_
                   ->get(items.prompt, d, weights_version(f_state_),
                         [&](const torch::Tensor& p) {
                           auto q = p.to(torch::kFloat32).contiguous();
                           auto share = torch::empty({q.size(0), f.first_out()});
                           f.first_share(q.data_ptr<float>(), q.size(0), share.data_ptr<float>());
                           return share;
                         })
                   .contiguous();
  auto inverse = d.inverse.contiguous();
  f.forward_split(x.data_ptr<float>(), B, share.data_ptr<float>(), inverse.data_ptr<int64_t>(), out, until);
}

torch::Tensor PalA::ideal_basis() {
  if (config_.variant == "Pw") return protos_;
  if (!is_frozen(*this)) return f_->forward(protos_);
  return *basis_->get(weights_version(basis_state_), [&] { return f_->forward(protos_); });
}

torch::Tensor PalA::reward_weights(const ItemBatch& items, const torch::Tensor& w) {
  auto e = embed(items);
  torch::Tensor a;
  if (config_.variant == "f(Pw)")  // one ideal point per distinct weight row (a single user: one forward)
    a = f_->forward(torch::matmul((w.dim() == 1 ? w.unsqueeze(0) : w).to(e.dtype()), protos_));
  else
    a = torch::matmul(broadcast_weights(w, e.size(0)).to(e.dtype()), ideal_basis());
  return -((e - a).pow(2).sum(1) + 1e-12).sqrt();
}

std::unique_ptr<ShotGeometry> PalA::geometry(const PairBatch& shots) {
  if (config_.variant == "f(Pw)") {
    auto f = std::dynamic_pointer_cast<ProjectorImpl>(f_->clone());
    f->to(torch::kFloat64);
    f->eval();  // the adapter's state: whatever mode the model is in later, the geometry stays frozen
    for (auto& p : f->parameters()) p.set_requires_grad(false);
    auto ea = to_doubles(embed(shots.a)), eb = to_doubles(embed(shots.b));
    check_finite(ea, "pal-a");
    check_finite(eb, "pal-a");
    return ideal_point_geometry(shots.size(), k_, f, protos_.detach().to(torch::kFloat64), std::move(ea),
                                std::move(eb));
  }
  check_shots(shots, dims_, config_.use_prompt, "pal-a");
  using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using RowMatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int64_t n = shots.size();
  // Each side's v = F e [2n, K] and c = ‖e‖² in float, F Fᵀ, the solve in double. A frozen f with a hidden layer
  // stops at that layer and the distance head finishes (about a sixth less work for mlp2); otherwise e itself.
  auto Ft = ideal_basis().detach().to(torch::kFloat32).contiguous();  // [K, d]
  const int64_t d = Ft.size(1);
  Eigen::Map<const RowMatF> F(Ft.data_ptr<float>(), k_, d);
  std::vector<double> v(static_cast<size_t>(2 * n * k_)), c(static_cast<size_t>(2 * n)),
      gram(static_cast<size_t>(k_ * k_));
  Eigen::Map<RowMatD>(gram.data(), k_, k_) = (F * F.transpose()).cast<double>();
  auto items = both_sides(shots);
  std::shared_ptr<const FrozenProjector> f;
  if (is_frozen(*this) && !(config_.use_prompt && f_->residual())) f = frozen_f();
  if (f && f->has_hidden()) {
    auto head = head_->get(weights_version(basis_state_), [&] { return DistanceHead(*f, Ft.data_ptr<float>(), k_); });
    std::vector<float> h(static_cast<size_t>(2 * n * f->hidden()));
    frozen_pass(items, *f, FrozenProjector::Until::last_hidden, h.data());
    head->apply(h.data(), 2 * n, v.data(), c.data());
    return distance_geometry(n, k_, v, c, std::move(gram));
  }
  auto e = embed(items).detach().to(torch::kFloat32).contiguous();
  Eigen::Map<const RowMatF> E(e.data_ptr<float>(), 2 * n, d);
  Eigen::Map<RowMatD>(v.data(), 2 * n, k_) = (E * F.transpose()).cast<double>();
  for (int64_t r = 0; r < 2 * n; ++r) c[static_cast<size_t>(r)] = E.row(r).squaredNorm();
  return distance_geometry(n, k_, v, c, std::move(gram));
}

core::FamilyRecord pal_a_family() {
  auto f = core::schema_family<PalA>("pal-a", "PAL-A: −‖f(x) − Σ_k w_k f(p_k)‖ (ideal point); Newton adapter",
                                     pal_a_schema());
  f.adapters = mixture_adapters();
  f.has_k = true;
  // PAL-A's users collapse onto one ideal point at batch 1024 (unseen accuracy flat in the shots, seen 0.807); at
  // 256 with these rates it personalises (seen 0.848, unseen 0.834 -> 0.861 from 0 to 50 shots).
  f.training.batch_size = 256;
  f.training.lr = 1e-3;
  f.training.user_lr = 1e-2;
  // dim 0 is the item feature dimension: measured at 384 (MiniLM); 4,096-d LLM features would make f 3·4096²
  // weights wide, so the width stops at 384.
  f.data_defaults = [](const core::DataShape& s) {
    nlohmann::json j{{"k", core::k_for_users(PalA::Config{}.k, s)}};
    if (s.item_dim > 384) j["dim"] = 384;
    return j.dump();
  };
  return f;
}

}  // namespace plural::mixture
