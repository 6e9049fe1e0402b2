#include "mixture/newton_search.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <utility>

namespace plural::mixture {

namespace {

// KK = K for K ≤ 8: fixed-size Eigen keeps every K-vector and K × K matrix on the stack and unrolls their
// products. With dynamic sizes an iteration took ~4 µs at K = 8 (loops of unknown length, heap temporaries), most
// of a one-shot PAL-B adaptation. Eigen::Dynamic above 8. The [n]-long vectors and dz [n, K] stay dynamic.
template <int KK>
NewtonResult search(const ShotGeometry& geo, int64_t K, const Eigen::Ref<const Eigen::VectorXd>& y,
                    const Eigen::Ref<const Eigen::VectorXd>& c, const NewtonOptions& o) {
  using VecK = Eigen::Matrix<double, KK, 1>;
  using MatK = Eigen::Matrix<double, KK, KK>;
  const int64_t n = y.size();
  const double var = o.prior_var;

  // One point of the search: θ, its weights, the shots' logits and their derivatives, the objective. Every
  // vector and matrix is allocated once.
  struct Point {
    VecK th, w;
    Eigen::VectorXd z, p;
    Eigen::MatrixXd dz;
    double f = 0;
  };
  Eigen::ArrayXd ez(n);
  auto at = [&](const VecK& th, Point& pt) {
    pt.th = th;
    pt.w = (th.array() - th.maxCoeff()).exp();  // softmax
    pt.w /= pt.w.sum();
    geo.eval(pt.w, pt.z, pt.dz);
    // softplus(z) = max(z, 0) + log(1 + e) and sigmoid(z) from one e = exp(−|z|), vectorised: one libm call
    // each per shot was most of the search at 50 shots.
    const auto z = pt.z.array();
    ez = (-z.abs()).exp();
    pt.p = (z >= 0).select(1.0 / (1.0 + ez), ez / (1.0 + ez)).matrix();
    pt.f = 0.5 * th.squaredNorm() / var + (c.array() * (z.max(0.0) + (1.0 + ez).log() - y.array() * z)).sum();
  };

  // Gradient, Fisher matrix (PSD: the Laplace precision) and the exact Hessian of the negative log-posterior.
  // With J = dw/dθ (symmetric) and dz/dθ = dz J: g = J dzᵀr + θ/var and Fisher = J (dzᵀ diag(curv) dz) J + I/var,
  // so no [n, K] product is formed. Lazy products: Eigen's blocked GEMM would pack and allocate on every call.
  VecK g = VecK::Zero(K), q = VecK::Zero(K), h = VecK::Zero(K);
  Eigen::VectorXd r(n), curv(n);
  MatK fisher = MatK::Zero(K, K), hessian = MatK::Zero(K, K), J = MatK::Zero(K, K), JH = MatK::Zero(K, K),
       A = MatK::Zero(K, K), AJ = MatK::Zero(K, K);
  Eigen::MatrixXd wh(K, K);  // the geometry's Σ r_i ∇²_w z_i
  auto derivatives = [&](const Point& pt) {
    const VecK& w = pt.w;
    J.noalias() = -w * w.transpose();  // dw/dθ = diag(w) − w wᵀ
    J.diagonal() += w;
    r = c.cwiseProduct(pt.p - y);  // dloss/dz
    q.noalias() = pt.dz.transpose().lazyProduct(r);
    g.noalias() = J * q;
    g += pt.th / var;
    curv = c.cwiseProduct(pt.p.cwiseProduct((1.0 - pt.p.array()).matrix()));
    A.noalias() = pt.dz.transpose().lazyProduct(curv.asDiagonal() * pt.dz);
    AJ.noalias() = A.lazyProduct(J);
    fisher.noalias() = J.lazyProduct(AJ);
    fisher.diagonal().array() += 1.0 / var;
    // Σ_i r_i ∇²_θ z_i = Jᵀ (Σ_i r_i ∇²_w z_i) J + Σ_a q_a ∇²_θ w_a, with q = dzᵀ r and the softmax's curvature
    // Σ_a q_a ∇²w_a = diag(h) − h wᵀ − w hᵀ + S (2 w wᵀ − diag(w)), h = q ⊙ w, S = qᵀw.
    h = q.cwiseProduct(w);
    const double S = q.dot(w);
    geo.weighted_hessian(w, r, wh);
    JH.noalias() = J.lazyProduct(Eigen::Map<const MatK>(wh.data(), K, K));
    hessian = fisher;
    hessian.noalias() += JH.lazyProduct(J);
    hessian.noalias() -= h * w.transpose();
    hessian.noalias() -= w * h.transpose();
    hessian.noalias() += (2.0 * S) * (w * w.transpose());
    hessian.diagonal() += h - S * w;
  };

  Point cur, trial;
  VecK step = VecK::Zero(K), next = VecK::Zero(K);
  Eigen::LLT<MatK> newton;
  at(VecK::Zero(K), cur);
  bool current = false;  // g, fisher and hessian are cur's
  for (int it = 0; it < o.max_iter; ++it) {
    derivatives(cur);
    current = true;
    if (g.template lpNorm<Eigen::Infinity>() < o.tol) break;  // stationary
    // Exact Newton where the posterior is locally convex (quadratic convergence near the optimum); elsewhere
    // the Hessian with its negative curvature flipped (|λ|, at least the prior's 1/var), a descent direction
    // that still follows the curvature — Fisher scoring there took many more iterations.
    newton.compute(hessian);
    if (newton.info() == Eigen::Success) {
      step = newton.solve(g);
    } else {
      Eigen::SelfAdjointEigenSolver<MatK> eig(hessian);
      const VecK lam = eig.eigenvalues().cwiseAbs().cwiseMax(1.0 / var);
      step = eig.eigenvectors() * (eig.eigenvectors().transpose() * g).cwiseQuotient(lam);
    }
    double t = 1.0;
    next = cur.th - step;
    at(next, trial);
    for (int halvings = 0; halvings < 12 && !(trial.f <= cur.f - 1e-4 * t * g.dot(step)); ++halvings) {  // Armijo
      t *= 0.5;
      next = cur.th - t * step;
      at(next, trial);
    }
    if (!(trial.f < cur.f)) break;  // no descent left: at the optimum up to round-off
    const bool flat = cur.f - trial.f < 1e-12 * std::max(1.0, std::abs(cur.f));
    std::swap(cur, trial);
    current = false;
    if (flat || t * step.norm() < o.tol) break;
  }
  if (!current) derivatives(cur);
  NewtonResult out;
  out.theta = cur.th;
  // Fisher is positive definite (the prior's I/var at least). Column by column: a matrix right-hand side took
  // Eigen's blocked triangular solve, ~10 % of a one-shot search.
  const Eigen::LLT<MatK> llt(fisher);
  out.cov.resize(K, K);
  VecK e = VecK::Zero(K);
  for (int64_t j = 0; j < K; ++j) {
    e.setZero();
    e[j] = 1.0;
    out.cov.col(j) = llt.solve(e);
  }
  return out;
}

}  // namespace

NewtonResult newton_search(const ShotGeometry& geo, int64_t K, const Eigen::Ref<const Eigen::VectorXd>& y,
                           const Eigen::Ref<const Eigen::VectorXd>& c, const NewtonOptions& options) {
  switch (K) {
    case 1:
      return search<1>(geo, K, y, c, options);
    case 2:
      return search<2>(geo, K, y, c, options);
    case 3:
      return search<3>(geo, K, y, c, options);
    case 4:
      return search<4>(geo, K, y, c, options);
    case 5:
      return search<5>(geo, K, y, c, options);
    case 6:
      return search<6>(geo, K, y, c, options);
    case 7:
      return search<7>(geo, K, y, c, options);
    case 8:
      return search<8>(geo, K, y, c, options);
    default:
      return search<Eigen::Dynamic>(geo, K, y, c, options);
  }
}

}  // namespace plural::mixture
