#include "mixture/pal.hpp"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_config.hpp"
#include "mixture/model_inputs.hpp"
#include "mixture/shot_geometries.hpp"

namespace plural::mixture {

using core::ItemBatch;
using core::PairBatch;

// PAL-A: −‖f(x) − Σ_k w_k f(p_k)‖ (ideal point).

PalA::PalA(const core::ModelDims& dims, Config c) : config_(std::move(c)) {
  set_dims(dims);
  PLURAL_CHECK(config_.variant == "f(P)w" || config_.variant == "Pw" || config_.variant == "f(Pw)",
               "pal-a: variant must be f(P)w, Pw or f(Pw), got '",
               config_.variant, "'");
  config_.use_prompt = config_.use_prompt && dims.prompt_dim > 0;
  const int64_t in = dims.item_dim + (config_.use_prompt ? dims.prompt_dim : 0);
  const int64_t d = config_.dim > 0 ? config_.dim : dims.item_dim;
  f_ = register_module("f", Projector(in, d, ProjectorSpec::parse(config_.proj)));
  // Unit-norm random prototypes, as the original initialises them.
  auto P = torch::randn({std::max<int64_t>(config_.k, 1), config_.variant == "Pw" ? d : in});  // f(Pw), f(P)w: input space
  protos_ = register_parameter("prototypes", P / P.norm(2, 1, true));
  init_users(config_.k, config_.partition, config_.prior_var);
  f_state_ = f_->parameters();
  for (auto& b : f_->buffers()) f_state_.push_back(b);
}

std::string PalA::config_json() const {
  return nlohmann::json{{"k", config_.k},           {"dim", config_.dim},
                        {"proj", config_.proj},     {"variant", config_.variant},
                        {"use_prompt", config_.use_prompt}, {"partition", config_.partition},
                        {"prior_var", config_.prior_var}}
      .dump();
}

torch::Tensor PalA::embed(const ItemBatch& items) {
  check_items(items, dims_, config_.use_prompt, "pal-a");
  if (!config_.use_prompt) return f_->forward(items.x);
  if (!is_frozen(*this) || f_->residual()) {
    prompt_memo_->clear();
    return f_->forward(torch::cat({items.x, items.prompt}, 1));
  }
  // f's first layer on [x; p] is x W_xᵀ + (p W_pᵀ + b), and the prompt's share is remembered per distinct prompt.
  const auto& W = f_->first_weight();
  const int64_t dx = dims_.item_dim;
  auto d = distinct_rows(items.prompt);
  auto share = prompt_memo_->get(items.prompt, d, weights_version(f_->parameters()), [&](const torch::Tensor& p) {
    auto b = f_->first_bias();
    auto pw = torch::matmul(p, W.narrow(1, dx, W.size(1) - dx).t());
    return b.defined() ? pw + b : pw;
  });
  auto pre = torch::addmm(share.size(0) == 1 ? share.expand({items.x.size(0), -1}) : share.index_select(0, d.inverse),
                          items.x, W.narrow(1, 0, dx).t());
  return f_->forward_after_first(pre, torch::Tensor());
}

torch::Tensor PalA::ideal_basis() {
  if (config_.variant == "Pw") return protos_;
  if (!is_frozen(*this)) return f_->forward(protos_);
  auto params = f_->parameters();
  params.push_back(protos_);
  return *basis_->get(weights_version(params), [&] { return f_->forward(protos_); });
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
  auto F = ideal_basis();  // [K, d]
  const int64_t n = shots.size();
  if (is_frozen(*this) && !(config_.use_prompt && f_->residual())) return frozen_geometry(shots, F);
  // One forward for both sides: at a few shots the cost is reading f's weights, once per call.
  auto e = embed(both_sides(shots));
  return distance_geometry(n, k_, to_doubles(torch::matmul(e, F.t())), to_doubles(e.pow(2).sum(1)),
                           to_doubles(torch::matmul(F, F.t())));
}

std::vector<float> PalA::frozen_item_rows(const PairBatch& shots) {
  check_shots(shots, dims_, config_.use_prompt, "pal-a");
  const int64_t n = shots.size(), dx = dims_.item_dim;
  auto f = frozen_f_->get(weights_version(f_state_),
                          [&] { return FrozenProjector(*f_, config_.use_prompt ? dx : 0); });
  // Both sides in one product: f's first layer is the bulk (2n × 384 × 384 at the defaults).
  std::vector<float> x(static_cast<size_t>(2 * n * dx)), e(static_cast<size_t>(2 * n * f->out()));
  int64_t row = 0;
  for (const auto* side : {&shots.a.x, &shots.b.x}) {
    auto t = side->to(torch::kFloat32).contiguous();
    std::copy_n(t.data_ptr<float>(), n * dx, x.data() + row * dx);
    row += n;
  }
  if (!config_.use_prompt) {
    f->forward(x.data(), 2 * n, e.data());
    return e;
  }
  auto prompts = torch::cat({shots.a.prompt, shots.b.prompt});
  auto d = distinct_rows(prompts);
  auto share = frozen_share_memo_
                   ->get(prompts, d, weights_version(f_state_),
                         [&](const torch::Tensor& p) {
                           auto q = p.to(torch::kFloat32).contiguous();
                           auto out = torch::empty({q.size(0), f->first_out()});
                           f->first_share(q.data_ptr<float>(), q.size(0), out.data_ptr<float>());
                           return out;
                         })
                   .contiguous();
  auto inverse = d.inverse.contiguous();
  f->forward_split(x.data(), 2 * n, share.data_ptr<float>(), inverse.data_ptr<int64_t>(), e.data());
  return e;
}

std::unique_ptr<ShotGeometry> PalA::frozen_geometry(const PairBatch& shots, const torch::Tensor& basis) {
  using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using RowMatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int64_t n = shots.size();
  auto e = frozen_item_rows(shots);
  auto Ft = basis.detach().to(torch::kFloat32).contiguous();
  const int64_t d = Ft.size(1);
  Eigen::Map<const RowMatF> E(e.data(), 2 * n, d), F(Ft.data_ptr<float>(), k_, d);
  // v = e Fᵀ [2n, K] and c = ‖e‖² in float (as the LibTorch path computes them), the solve in double.
  std::vector<double> v(static_cast<size_t>(2 * n * k_)), c(static_cast<size_t>(2 * n)), gram(static_cast<size_t>(k_ * k_));
  Eigen::Map<RowMatD>(v.data(), 2 * n, k_) = (E * F.transpose()).cast<double>();
  for (int64_t r = 0; r < 2 * n; ++r) c[static_cast<size_t>(r)] = E.row(r).squaredNorm();
  Eigen::Map<RowMatD>(gram.data(), k_, k_) = (F * F.transpose()).cast<double>();
  return distance_geometry(n, k_, v, c, std::move(gram));
}

namespace {
const bool registered = [] {
  core::register_model(
      "pal-a",
      [](const core::ModelDims& dims, const std::string& json) -> std::shared_ptr<core::RewardModel> {
        PalA::Config c;
        core::JsonConfig r(json, "pal-a");
        r.get("k", c.k);
        r.get("dim", c.dim);
        r.get("proj", c.proj);
        r.get("variant", c.variant);
        r.get("use_prompt", c.use_prompt);
        r.get("partition", c.partition);
        r.get("prior_var", c.prior_var);
        r.finish();
        return std::make_shared<PalA>(dims, c);
      },
      "PAL-A: −‖f(x) − Σ_k w_k f(p_k)‖ (ideal point); Newton adapter");
  return true;
}();
}  // namespace

}  // namespace plural::mixture
