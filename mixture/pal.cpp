#include "mixture/pal.hpp"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_config.hpp"

namespace plural::mixture {

using core::ItemBatch;
using core::PairBatch;

namespace {
torch::Tensor broadcast_weights(const torch::Tensor& w, int64_t B) { return w.dim() == 1 ? w.unsqueeze(0).expand({B, -1}) : w; }

void check_items(const ItemBatch& items, const core::ModelDims& dims, bool prompt, const std::string& who) {
  PLURAL_CHECK(items.x.defined() && items.x.dim() == 2, who, ": item features must be 2-D [B, D]");
  PLURAL_CHECK(items.x.size(1) == dims.item_dim, who, ": feature dimension mismatch: the model was trained on ",
               dims.item_dim, "-dim features, got ", items.x.size(1));
  if (prompt)
    PLURAL_CHECK(items.prompt.defined() && items.prompt.dim() == 2 && items.prompt.size(1) == dims.prompt_dim, who,
                 ": the model uses prompt features of dim ", dims.prompt_dim, "; give them as [B, ", dims.prompt_dim,
                 "]");
}

// Both sides of the shots, and one row of each per label: the frozen paths read raw buffers of that many rows.
void check_shots(const PairBatch& shots, const core::ModelDims& dims, bool prompt, const std::string& who) {
  check_items(shots.a, dims, prompt, who);
  check_items(shots.b, dims, prompt, who);
  const int64_t n = shots.size();
  PLURAL_CHECK(shots.a.x.size(0) == n && shots.b.x.size(0) == n, who, ": ", n, " labels but ", shots.a.x.size(0),
               " and ", shots.b.x.size(0), " item rows");
  if (prompt)
    PLURAL_CHECK(shots.a.prompt.size(0) == n && shots.b.prompt.size(0) == n, who, ": ", n, " labels but ",
                 shots.a.prompt.size(0), " and ", shots.b.prompt.size(0), " prompt rows");
}

// The shots' frozen forward, checked before Newton runs on it: NaN features give an error, not a NaN state.
void check_finite(const std::vector<double>& values, const char* family) {
  for (double v : values) PLURAL_CHECK(std::isfinite(v), family, " adapter: shot features contain NaN or Inf");
}

// PAL-B: r(w) = τ wᵀu / sqrt(wᵀ M_p w) per item with prompt p, z = r_a − r_b; M_p = G_p G_pᵀ, one per distinct prompt
// (usually one for every shot), so that M_p w and its norm are computed once per prompt, not per item.
class CosineGeometry : public ShotGeometry {
 public:
  /// u[side]: [n, K] row-major; grams: [P, K, K]; prompt[side][i]: the index of item i's prompt in [0, P).
  CosineGeometry(int64_t n, int64_t k, double tau, std::vector<double> ua, std::vector<double> ub,
                 std::vector<double> grams, std::vector<int64_t> pa, std::vector<int64_t> pb)
      : n_(n), k_(k), p_(static_cast<int64_t>(grams.size()) / (k * k)), tau_(tau), u_{std::move(ua), std::move(ub)},
        grams_(std::move(grams)), prompt_{std::move(pa), std::move(pb)} {}
  void eval(const Eigen::VectorXd& w, Eigen::VectorXd& z, Eigen::MatrixXd& dz) const override {
    // Plain loops over K: this runs ~20 times per adaptation over every shot, and small dynamic Eigen
    // temporaries would allocate on each item. Scratch per thread: a prepared pool's geometry is shared.
    thread_local std::vector<double> mw, inv_s;
    per_prompt(w, mw, inv_s);
    z.setZero(n_);
    dz.setZero(n_, k_);
    for (int side = 0; side < 2; ++side) {
      const double sign = side == 0 ? tau_ : -tau_;
      for (int64_t i = 0; i < n_; ++i) {
        const double* u = u_[side].data() + i * k_;
        const int64_t p = prompt_[side][i];
        const double* m = mw.data() + p * k_;
        const double is = inv_s[p], is3 = is * is * is;
        double num = 0;
        for (int64_t a = 0; a < k_; ++a) num += w[a] * u[a];
        z[i] += sign * num * is;
        for (int64_t a = 0; a < k_; ++a) dz(i, a) += sign * (u[a] * is - num * m[a] * is3);
      }
    }
  }
  Eigen::MatrixXd weighted_hessian(const Eigen::VectorXd& w, const Eigen::VectorXd& r) const override {
    // ∇²(uᵀw / s), s = √(wᵀMw), m = Mw:  −(u mᵀ + m uᵀ)/s³ − (uᵀw) M/s³ + 3 (uᵀw) m mᵀ/s⁵. Weighted by
    // α_i = ±τ r_i and summed; the items of one prompt share s and m, so the sum needs only Σα_i u_i and Σα_i uᵀw
    // per prompt.
    using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    thread_local std::vector<double> mw, inv_s;
    per_prompt(w, mw, inv_s);
    Eigen::MatrixXd U = Eigen::MatrixXd::Zero(k_, p_);
    Eigen::VectorXd A = Eigen::VectorXd::Zero(p_);
    for (int side = 0; side < 2; ++side) {
      const double sign = side == 0 ? tau_ : -tau_;
      for (int64_t i = 0; i < n_; ++i) {
        Eigen::Map<const Eigen::VectorXd> u(u_[side].data() + i * k_, k_);
        const int64_t p = prompt_[side][i];
        const double alpha = r[i] * sign;
        U.col(p) += alpha * u;
        A[p] += alpha * u.dot(w);
      }
    }
    Eigen::MatrixXd H = Eigen::MatrixXd::Zero(k_, k_);
    for (int64_t p = 0; p < p_; ++p) {
      Eigen::Map<const RowMat> M(grams_.data() + p * k_ * k_, k_, k_);
      Eigen::Map<const Eigen::VectorXd> m(mw.data() + p * k_, k_);
      const double is = inv_s[p], is3 = is * is * is;
      H.noalias() -= is3 * (U.col(p) * m.transpose() + m * U.col(p).transpose());
      H.noalias() -= (A[p] * is3) * M;
      H.noalias() += (3.0 * A[p] * is3 * is * is) * (m * m.transpose());
    }
    return H;
  }

 private:
  // M_p w and 1 / √(wᵀ M_p w) for every prompt p.
  void per_prompt(const Eigen::VectorXd& w, std::vector<double>& mw, std::vector<double>& inv_s) const {
    mw.assign(static_cast<size_t>(p_ * k_), 0.0);
    inv_s.resize(static_cast<size_t>(p_));
    for (int64_t p = 0; p < p_; ++p) {
      const double* M = grams_.data() + p * k_ * k_;
      double wmw = 0;
      for (int64_t a = 0; a < k_; ++a) {
        double acc = 0;
        for (int64_t b = 0; b < k_; ++b) acc += M[a * k_ + b] * w[b];
        mw[p * k_ + a] = acc;
        wmw += w[a] * acc;
      }
      inv_s[p] = 1.0 / std::sqrt(std::max(wmw, 1e-24));
    }
  }
  int64_t n_, k_, p_;
  double tau_;
  std::vector<double> u_[2];
  std::vector<double> grams_;
  std::vector<int64_t> prompt_[2];
};

// PAL-A: r(w) = −sqrt(c − 2wᵀv + wᵀQw) per item (distance to a point linear in w).
class DistanceGeometry : public ShotGeometry {
 public:
  DistanceGeometry(int64_t n, int64_t k, std::vector<double> q, std::vector<double> va, std::vector<double> ca,
                   std::vector<double> vb, std::vector<double> cb)
      : n_(n), k_(k), q_(std::move(q)), v_{std::move(va), std::move(vb)}, c_{std::move(ca), std::move(cb)} {}
  // Plain loops over K, as in CosineGeometry: both run ~20 times per adaptation over every shot.
  void eval(const Eigen::VectorXd& w, Eigen::VectorXd& z, Eigen::MatrixXd& dz) const override {
    const std::vector<double> Qw = q_times(w);
    const double wQw = dot(w.data(), Qw.data());
    z.setZero(n_);
    dz.setZero(n_, k_);
    for (int side = 0; side < 2; ++side) {
      const double sign = side == 0 ? 1.0 : -1.0;
      for (int64_t i = 0; i < n_; ++i) {
        const double* v = v_[side].data() + i * k_;
        const double d = distance(side, i, w, wQw), s = sign / d;
        z[i] -= sign * d;
        for (int64_t a = 0; a < k_; ++a) dz(i, a) -= s * (Qw[a] - v[a]);
      }
    }
  }
  Eigen::MatrixXd weighted_hessian(const Eigen::VectorXd& w, const Eigen::VectorXd& r) const override {
    // ∇²(−d), d = √(c − 2wᵀv + wᵀQw), g = Qw − v:  −Q/d + g gᵀ/d³; the Q terms of all shots sum to one.
    const std::vector<double> Qw = q_times(w);
    const double wQw = dot(w.data(), Qw.data());
    Eigen::MatrixXd H = Eigen::MatrixXd::Zero(k_, k_);
    std::vector<double> g(static_cast<size_t>(k_));
    double q_coef = 0;
    for (int side = 0; side < 2; ++side) {
      const double sign = side == 0 ? 1.0 : -1.0;
      for (int64_t i = 0; i < n_; ++i) {
        const double* v = v_[side].data() + i * k_;
        const double d = distance(side, i, w, wQw), alpha = r[i] * sign, s = alpha / (d * d * d);
        q_coef -= alpha / d;
        for (int64_t a = 0; a < k_; ++a) g[a] = Qw[a] - v[a];
        for (int64_t b = 0; b < k_; ++b)
          for (int64_t a = 0; a < k_; ++a) H(a, b) += s * g[a] * g[b];
      }
    }
    for (int64_t b = 0; b < k_; ++b)
      for (int64_t a = 0; a < k_; ++a) H(a, b) += q_coef * q_[a * k_ + b];
    return H;
  }

 private:
  double dot(const double* a, const double* b) const {
    double s = 0;
    for (int64_t j = 0; j < k_; ++j) s += a[j] * b[j];
    return s;
  }
  std::vector<double> q_times(const Eigen::VectorXd& w) const {
    std::vector<double> out(static_cast<size_t>(k_));
    for (int64_t a = 0; a < k_; ++a) out[a] = dot(q_.data() + a * k_, w.data());
    return out;
  }
  double distance(int side, int64_t i, const Eigen::VectorXd& w, double wQw) const {
    return std::sqrt(std::max(c_[side][i] - 2 * dot(w.data(), v_[side].data() + i * k_) + wQw, 0.0) + 1e-12);
  }
  int64_t n_, k_;
  std::vector<double> q_, v_[2], c_[2];
};

// The distance geometry from both sides' v = e Fᵀ [2n, K] (a's rows, then b's), c = ‖e‖² [2n] and FFᵀ [K, K].
std::unique_ptr<ShotGeometry> distance_geometry(int64_t n, int64_t k, const std::vector<double>& v,
                                                const std::vector<double>& c, std::vector<double> gram) {
  check_finite(v, "pal-a");
  check_finite(c, "pal-a");
  std::vector<double> va(v.begin(), v.begin() + n * k), vb(v.begin() + n * k, v.end());
  std::vector<double> ca(c.begin(), c.begin() + n), cb(c.begin() + n, c.end());
  return std::make_unique<DistanceGeometry>(n, k, std::move(gram), std::move(va), std::move(ca), std::move(vb),
                                            std::move(cb));
}

// PAL-A "f(Pw)": r(w) = −‖e − a(w)‖ with a(w) = f(Pᵀw), not linear in w. Each call runs a frozen float64 copy of
// f on K identical copies of Pᵀw, so that autograd's double-backward gives A = ∂a/∂w column by column (forward
// mode) and the curvature of cᵀa(w) row by row.
class IdealPointGeometry : public ShotGeometry {
 public:
  IdealPointGeometry(int64_t n, int64_t k, std::shared_ptr<ProjectorImpl> f, torch::Tensor protos, std::vector<double> ea,
                     std::vector<double> eb)
      : n_(n), k_(k), f_(std::move(f)), protos_(std::move(protos)), e_{std::move(ea), std::move(eb)} {
    d_ = static_cast<int64_t>(e_[0].size()) / std::max<int64_t>(n_, 1);
  }
  void eval(const Eigen::VectorXd& w, Eigen::VectorXd& z, Eigen::MatrixXd& dz) const override {
    Eigen::VectorXd a;
    Eigen::MatrixXd A;
    ideal(w, a, A, nullptr, nullptr);
    z.setZero(n_);
    dz.setZero(n_, k_);
    for (int side = 0; side < 2; ++side) {
      const double sign = side == 0 ? 1.0 : -1.0;
      for (int64_t i = 0; i < n_; ++i) {
        Eigen::VectorXd diff = a - Eigen::Map<const Eigen::VectorXd>(e_[side].data() + i * d_, d_);
        const double dist = std::sqrt(diff.squaredNorm() + 1e-12);
        z[i] -= sign * dist;
        dz.row(i) -= sign * (A.transpose() * diff).transpose() / dist;
      }
    }
  }
  Eigen::MatrixXd weighted_hessian(const Eigen::VectorXd& w, const Eigen::VectorXd& r) const override {
    // Σ r_i ∇²(−‖a − e_i‖) = Aᵀ [Σ r_i (−I/d_i + δ_i δ_iᵀ/d_i³)] A + ∇²(cᵀa), c = −Σ r_i δ_i/d_i, δ_i = a − e_i.
    Eigen::VectorXd a;
    Eigen::MatrixXd A;
    ideal(w, a, A, nullptr, nullptr);
    const Eigen::MatrixXd AtA = A.transpose() * A;
    Eigen::MatrixXd H = Eigen::MatrixXd::Zero(k_, k_);
    Eigen::VectorXd c = Eigen::VectorXd::Zero(d_);
    for (int side = 0; side < 2; ++side) {
      const double sign = side == 0 ? 1.0 : -1.0;
      for (int64_t i = 0; i < n_; ++i) {
        Eigen::VectorXd diff = a - Eigen::Map<const Eigen::VectorXd>(e_[side].data() + i * d_, d_);
        const double dist = std::sqrt(diff.squaredNorm() + 1e-12), ri = r[i] * sign;
        Eigen::VectorXd Ad = A.transpose() * diff;
        H.noalias() += ri * (-AtA / dist + Ad * Ad.transpose() / (dist * dist * dist));
        c.noalias() -= ri * diff / dist;
      }
    }
    Eigen::MatrixXd Hc;
    ideal(w, a, A, &c, &Hc);
    return H + Hc;
  }

 private:
  using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  /// a(w), A = ∂a/∂w [d, K] and, given c, the Hessian of cᵀa(w) [K, K].
  void ideal(const Eigen::VectorXd& w, Eigen::VectorXd& a, Eigen::MatrixXd& A, const Eigen::VectorXd* c,
             Eigen::MatrixXd* Hc) const {
    torch::AutoGradMode grad_on(true);
    auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    auto wt = torch::from_blob(const_cast<double*>(w.data()), {1, k_}, opts).expand({k_, k_}).clone();
    wt.requires_grad_(true);
    auto out = f_->forward(torch::matmul(wt, protos_));  // [K, d], K identical rows
    auto eye = torch::eye(k_, opts);
    if (c) {
      auto ct = torch::from_blob(const_cast<double*>(c->data()), {1, d_}, opts).clone();
      auto g = torch::autograd::grad({(out * ct).sum()}, {wt}, {}, true, true)[0];  // row j: ∇(cᵀa) at copy j
      auto h = torch::autograd::grad({g}, {wt}, {eye})[0].contiguous();             // row j: its gradient's row j
      *Hc = Eigen::Map<const RowMat>(h.data_ptr<double>(), k_, k_);
      *Hc = 0.5 * (*Hc + Hc->transpose());
      return;
    }
    auto v = torch::zeros({k_, d_}, opts).requires_grad_(true);
    auto gw = torch::autograd::grad({out}, {wt}, {v}, true, true)[0];  // row j: Aᵀ v_j, linear in v
    auto At = torch::autograd::grad({gw}, {v}, {eye})[0].contiguous();  // row j: A e_j
    auto a0 = out[0].detach().contiguous();
    a = Eigen::Map<const Eigen::VectorXd>(a0.data_ptr<double>(), d_);
    A = Eigen::Map<const RowMat>(At.data_ptr<double>(), k_, d_).transpose();
  }

  int64_t n_, k_, d_;
  std::shared_ptr<ProjectorImpl> f_;  // a frozen copy: eval mode, float64, no grad on its weights
  torch::Tensor protos_;
  std::vector<double> e_[2];
};

// LoRe: z = wᵀ(s_a − s_b).
class LinearGeometry : public ShotGeometry {
 public:
  LinearGeometry(int64_t n, int64_t k, std::vector<double> diff) : n_(n), k_(k), d_(std::move(diff)) {}
  void eval(const Eigen::VectorXd& w, Eigen::VectorXd& z, Eigen::MatrixXd& dz) const override {
    dz = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(d_.data(), n_, k_);
    z = dz * w;
  }
  Eigen::MatrixXd weighted_hessian(const Eigen::VectorXd&, const Eigen::VectorXd&) const override {
    return Eigen::MatrixXd::Zero(k_, k_);  // linear in w
  }

 private:
  int64_t n_, k_;
  std::vector<double> d_;
};
}  // namespace

// ---- PAL-B ----------------------------------------------------------------------------------------------------

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
  f_state_ = f_->parameters();
  for (auto& b : f_->buffers()) f_state_.push_back(b);
  if (g_) {
    g_state_ = g_->parameters();
    for (auto& b : g_->buffers()) g_state_.push_back(b);
  }
}

std::string PalB::config_json() const {
  return nlohmann::json{{"k", config_.k},         {"dim", config_.dim},
                        {"proj", config_.proj},   {"bound", config_.bound},
                        {"bound_lambda", config_.bound_lambda}, {"partition", config_.partition},
                        {"prior_var", config_.prior_var}}
      .dump();
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

std::pair<torch::Tensor, torch::Tensor> PalB::distinct_prototypes(const torch::Tensor& prompts, int64_t rows,
                                                                  int64_t sides) {
  if (!g_) return {fixed_protos_.unsqueeze(0), torch::zeros({rows}, torch::kInt64)};
  // Each distinct prompt goes through the K projectors once: batches repeat prompts (every pair has two items
  // with, usually, one prompt; many datasets have few prompts).
  auto d = distinct_rows(prompts, is_training() ? sides : 1);
  if (!is_frozen(*this)) {
    prompt_memo_->clear();
    return {project_prompts(prompts.index_select(0, torch::tensor(d.first, torch::kInt64))), d.inverse};
  }
  auto table = prompt_memo_->get(prompts, d, weights_version(g_state_),
                                 [&](const torch::Tensor& rows) { return project_prompts(rows); });
  return {table, d.inverse};
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
  int64_t row = 0;
  for (const auto* side : {&shots.a.x, &shots.b.x}) {
    auto x = side->to(torch::kFloat32).contiguous();
    f->forward(x.data_ptr<float>(), n, e.data() + row * d);
    row += n;
  }
  // e / max(‖e‖, 1e-12), as torch's normalize.
  Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> E(e.data(), 2 * n, d);
  for (int64_t r = 0; r < 2 * n; ++r) E.row(r) /= std::max(E.row(r).norm(), 1e-12f);
  return e;
}

std::unique_ptr<ShotGeometry> PalB::geometry(const PairBatch& shots) {
  check_shots(shots, dims_, dims_.prompt_dim > 0, "pal-b");
  const int64_t n = shots.size();
  torch::Tensor prompts = g_ ? torch::cat({shots.a.prompt, shots.b.prompt}) : torch::Tensor();
  auto [table, inverse] = distinct_prototypes(prompts, 2 * n, 1);  // [P, K, d], [2n]
  const int64_t P = table.size(0), d = table.size(2);
  std::vector<float> e;
  if (is_frozen(*this)) {  // an adaptation: f through its inference copy, no LibTorch ops per shot
    e = frozen_item_rows(shots);
  } else {
    auto t = torch::nn::functional::normalize(f_->forward(torch::cat({shots.a.x, shots.b.x})),
                                              torch::nn::functional::NormalizeFuncOptions().dim(1))
                 .detach()
                 .contiguous();
    e.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
  auto protos = table.detach().to(torch::kFloat32).contiguous();
  auto idx = inverse.contiguous();
  const int64_t* prompt_of = idx.data_ptr<int64_t>();
  using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const RowMatF> E(e.data(), 2 * n, d);
  // u = G_p e per item and M_p = G_p G_pᵀ per prompt, in double for the K-dimensional solve.
  std::vector<double> u(static_cast<size_t>(2 * n * k_)), grams(static_cast<size_t>(P * k_ * k_));
  for (int64_t p = 0; p < P; ++p) {
    Eigen::Map<const RowMatF> G(protos.data_ptr<float>() + p * k_ * d, k_, d);
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(grams.data() + p * k_ * k_, k_,
                                                                                       k_) =
        (G * G.transpose()).cast<double>();
  }
  for (int64_t r = 0; r < 2 * n; ++r) {
    Eigen::Map<const RowMatF> G(protos.data_ptr<float>() + prompt_of[r] * k_ * d, k_, d);
    Eigen::Map<Eigen::VectorXd>(u.data() + r * k_, k_) = (G * E.row(r).transpose()).cast<double>();
  }
  check_finite(u, "pal-b");
  std::vector<double> ua(u.begin(), u.begin() + n * k_), ub(u.begin() + n * k_, u.end());
  return std::make_unique<CosineGeometry>(n, k_, tau(), std::move(ua), std::move(ub), std::move(grams),
                                          std::vector<int64_t>(prompt_of, prompt_of + n),
                                          std::vector<int64_t>(prompt_of + n, prompt_of + 2 * n));
}

// ---- PAL-A ----------------------------------------------------------------------------------------------------

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
    return std::make_unique<IdealPointGeometry>(shots.size(), k_, f, protos_.detach().to(torch::kFloat64),
                                                std::move(ea), std::move(eb));
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

// ---- LoRe -----------------------------------------------------------------------------------------------------

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
  return std::make_unique<LinearGeometry>(shots.size(), k_, to_doubles(diff));
}

// ---- registration ---------------------------------------------------------------------------------------------

namespace {
const bool registered = [] {
  core::register_model(
      "pal-b",
      [](const core::ModelDims& dims, const std::string& json) -> std::shared_ptr<core::RewardModel> {
        PalB::Config c;
        core::JsonConfig r(json, "pal-b");
        r.get("k", c.k);
        r.get("dim", c.dim);
        r.get("proj", c.proj);
        r.get("bound", c.bound);
        r.get("bound_lambda", c.bound_lambda);
        r.get("partition", c.partition);
        r.get("prior_var", c.prior_var);
        r.finish();
        return std::make_shared<PalB>(dims, c);
      },
      "PAL-B: τ·cos(f(x), Σ_k w_k g_k(prompt)); Newton adapter on K logits with Laplace covariance");
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
  core::register_model(
      "lore",
      [](const core::ModelDims& dims, const std::string& json) -> std::shared_ptr<core::RewardModel> {
        LoRe::Config c;
        core::JsonConfig r(json, "lore");
        r.get("k", c.k);
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
