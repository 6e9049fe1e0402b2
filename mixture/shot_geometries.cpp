#include "mixture/shot_geometries.hpp"

#include <torch/torch.h>

#include <Eigen/Dense>
#include <cmath>

#include "core/base/error.hpp"
#include "mixture/projector.hpp"

namespace plural::mixture {

void check_finite(const std::vector<double>& values, const char* family) {
  for (double v : values) PLURAL_CHECK(std::isfinite(v), family, " adapter: shot features contain NaN or Inf");
}

namespace {

// PAL-B: r(w) = τ wᵀu / sqrt(wᵀ M_p w) per item with prompt p, z = r_a − r_b; M_p = G_p G_pᵀ, one per distinct prompt
// (usually one for every shot), so that M_p w and its norm are computed once per prompt, not per item.
class CosineGeometry : public ShotGeometry {
 public:
  /// u[side]: [n, K] row-major; grams: [P, K, K]; prompt[side][i]: the index of item i's prompt in [0, P).
  CosineGeometry(int64_t n, int64_t k, double tau, std::vector<double> ua, std::vector<double> ub,
                 std::vector<double> grams, std::vector<int64_t> pa, std::vector<int64_t> pb)
      : n_(n),
        k_(k),
        p_(static_cast<int64_t>(grams.size()) / (k * k)),
        tau_(tau),
        u_{std::move(ua), std::move(ub)},
        grams_(std::move(grams)),
        prompt_{std::move(pa), std::move(pb)} {}
  void eval(const VectorRef& w, Eigen::VectorXd& z, Eigen::MatrixXd& dz) const override {
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
  void weighted_hessian(const VectorRef& w, const VectorRef& r, Eigen::MatrixXd& H) const override {
    // ∇²(uᵀw / s), s = √(wᵀMw), m = Mw:  −(u mᵀ + m uᵀ)/s³ − (uᵀw) M/s³ + 3 (uᵀw) m mᵀ/s⁵. Weighted by
    // α_i = ±τ r_i and summed; the items of one prompt share s and m, so the sum needs only U_p = Σα_i u_i and
    // A_p = Σα_i uᵀw per prompt. Plain loops and per-thread scratch, as in eval.
    thread_local std::vector<double> mw, inv_s, U, A;
    per_prompt(w, mw, inv_s);
    U.assign(static_cast<size_t>(p_ * k_), 0.0);
    A.assign(static_cast<size_t>(p_), 0.0);
    for (int side = 0; side < 2; ++side) {
      const double sign = side == 0 ? tau_ : -tau_;
      for (int64_t i = 0; i < n_; ++i) {
        const double* u = u_[side].data() + i * k_;
        const int64_t p = prompt_[side][i];
        const double alpha = r[i] * sign;
        double uw = 0;
        for (int64_t a = 0; a < k_; ++a) {
          U[p * k_ + a] += alpha * u[a];
          uw += u[a] * w[a];
        }
        A[p] += alpha * uw;
      }
    }
    H.setZero(k_, k_);
    for (int64_t p = 0; p < p_; ++p) {
      const double* M = grams_.data() + p * k_ * k_;
      const double* m = mw.data() + p * k_;
      const double* Up = U.data() + p * k_;
      const double is = inv_s[p], is3 = is * is * is, cM = A[p] * is3, cm = 3.0 * A[p] * is3 * is * is;
      for (int64_t b = 0; b < k_; ++b)
        for (int64_t a = 0; a < k_; ++a)
          H(a, b) += -is3 * (Up[a] * m[b] + m[a] * Up[b]) - cM * M[a * k_ + b] + cm * m[a] * m[b];
    }
  }

 private:
  // M_p w and 1 / √(wᵀ M_p w) for every prompt p.
  void per_prompt(const VectorRef& w, std::vector<double>& mw, std::vector<double>& inv_s) const {
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
  void eval(const VectorRef& w, Eigen::VectorXd& z, Eigen::MatrixXd& dz) const override {
    thread_local std::vector<double> Qw;
    q_times(w, Qw);
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
  void weighted_hessian(const VectorRef& w, const VectorRef& r, Eigen::MatrixXd& H) const override {
    // ∇²(−d), d = √(c − 2wᵀv + wᵀQw), g = Qw − v:  −Q/d + g gᵀ/d³; the Q terms of all shots sum to one.
    thread_local std::vector<double> Qw, g;
    q_times(w, Qw);
    const double wQw = dot(w.data(), Qw.data());
    H.setZero(k_, k_);
    g.resize(static_cast<size_t>(k_));
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
  }

 private:
  double dot(const double* a, const double* b) const {
    double s = 0;
    for (int64_t j = 0; j < k_; ++j) s += a[j] * b[j];
    return s;
  }
  void q_times(const VectorRef& w, std::vector<double>& out) const {
    out.resize(static_cast<size_t>(k_));
    for (int64_t a = 0; a < k_; ++a) out[a] = dot(q_.data() + a * k_, w.data());
  }
  double distance(int side, int64_t i, const VectorRef& w, double wQw) const {
    return std::sqrt(std::max(c_[side][i] - 2 * dot(w.data(), v_[side].data() + i * k_) + wQw, 0.0) + 1e-12);
  }
  int64_t n_, k_;
  std::vector<double> q_, v_[2], c_[2];
};

// PAL-A "f(Pw)": r(w) = −‖e − a(w)‖ with a(w) = f(Pᵀw), not linear in w. Each call runs a frozen float64 copy of
// f on K identical copies of Pᵀw, so that autograd's double-backward gives A = ∂a/∂w column by column (forward
// mode) and the curvature of cᵀa(w) row by row.
class IdealPointGeometry : public ShotGeometry {
 public:
  IdealPointGeometry(int64_t n, int64_t k, std::shared_ptr<ProjectorImpl> f, torch::Tensor protos,
                     std::vector<double> ea, std::vector<double> eb)
      : n_(n), k_(k), f_(std::move(f)), protos_(std::move(protos)), e_{std::move(ea), std::move(eb)} {
    d_ = static_cast<int64_t>(e_[0].size()) / std::max<int64_t>(n_, 1);
  }
  void eval(const VectorRef& w, Eigen::VectorXd& z, Eigen::MatrixXd& dz) const override {
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
  void weighted_hessian(const VectorRef& w, const VectorRef& r, Eigen::MatrixXd& out) const override {
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
    out = H + Hc;
  }

 private:
  using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  /// a(w), A = ∂a/∂w [d, K] and, given c, the Hessian of cᵀa(w) [K, K].
  void ideal(const VectorRef& w, Eigen::VectorXd& a, Eigen::MatrixXd& A, const Eigen::VectorXd* c,
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
    auto gw = torch::autograd::grad({out}, {wt}, {v}, true, true)[0];   // row j: Aᵀ v_j, linear in v
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
  void eval(const VectorRef& w, Eigen::VectorXd& z, Eigen::MatrixXd& dz) const override {
    dz = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(d_.data(), n_, k_);
    z = dz * w;
  }
  void weighted_hessian(const VectorRef&, const VectorRef&, Eigen::MatrixXd& H) const override {
    H.setZero(k_, k_);  // linear in w
  }

 private:
  int64_t n_, k_;
  std::vector<double> d_;
};

}  // namespace

std::unique_ptr<ShotGeometry> cosine_geometry(int64_t n, int64_t k, double tau, std::vector<double> ua,
                                              std::vector<double> ub, std::vector<double> grams,
                                              std::vector<int64_t> pa, std::vector<int64_t> pb) {
  return std::make_unique<CosineGeometry>(n, k, tau, std::move(ua), std::move(ub), std::move(grams), std::move(pa),
                                          std::move(pb));
}

std::unique_ptr<ShotGeometry> distance_geometry(int64_t n, int64_t k, const std::vector<double>& v,
                                                const std::vector<double>& c, std::vector<double> gram) {
  check_finite(v, "pal-a");
  check_finite(c, "pal-a");
  std::vector<double> va(v.begin(), v.begin() + n * k), vb(v.begin() + n * k, v.end());
  std::vector<double> ca(c.begin(), c.begin() + n), cb(c.begin() + n, c.end());
  return std::make_unique<DistanceGeometry>(n, k, std::move(gram), std::move(va), std::move(ca), std::move(vb),
                                            std::move(cb));
}

std::unique_ptr<ShotGeometry> ideal_point_geometry(int64_t n, int64_t k, std::shared_ptr<ProjectorImpl> f,
                                                   at::Tensor protos, std::vector<double> ea, std::vector<double> eb) {
  return std::make_unique<IdealPointGeometry>(n, k, std::move(f), std::move(protos), std::move(ea), std::move(eb));
}

std::unique_ptr<ShotGeometry> linear_geometry(int64_t n, int64_t k, std::vector<double> diff) {
  return std::make_unique<LinearGeometry>(n, k, std::move(diff));
}

}  // namespace plural::mixture
