#include "mixture/joint_newton.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <utility>

namespace plural::mixture {

namespace {

struct Point {
  Eigen::VectorXd u, w, z, p;  // u = [θ; δ]
  Eigen::MatrixXd dz;          // dz_mix/dw [n, K]
  double f = 0;
};

}  // namespace

JointResult joint_newton_search(const ShotGeometry& geo, int64_t K, const Eigen::Ref<const Eigen::MatrixXd>& D,
                                const Eigen::Ref<const Eigen::VectorXd>& y, const Eigen::Ref<const Eigen::VectorXd>& c,
                                const JointPrior& prior, int max_iter, double tol) {
  const int64_t n = y.size(), R = D.cols(), P = K + R;
  Eigen::VectorXd prec(P), mean = Eigen::VectorXd::Zero(P);  // the prior's diagonal precision and mean
  prec.head(K).setConstant(1.0 / prior.theta_var);
  prec.tail(R) = prior.delta_var.cwiseInverse();
  mean.tail(R) = prior.delta_mean;

  auto at = [&](const Eigen::VectorXd& u, Point& pt) {
    pt.u = u;
    pt.w = simplex_weights(u.head(K));
    geo.eval(pt.w, pt.z, pt.dz);
    pt.z.noalias() += D * u.tail(R);
    const Eigen::ArrayXd z = pt.z.array(), e = (-z.abs()).exp();
    pt.p = (z >= 0).select(1.0 / (1.0 + e), e / (1.0 + e)).matrix();
    const Eigen::VectorXd d = u - mean;
    pt.f = 0.5 * d.dot(prec.cwiseProduct(d)) + (c.array() * (z.max(0.0) + (1.0 + e).log() - y.array() * z)).sum();
  };

  // G = dz/du = [dz_mix J, D]; Fisher = Gᵀ diag(curv) G + prior; the exact Hessian adds the θ block's own
  // curvature: Jᵀ(Σ r_i ∇²_w z_i)J plus the softmax's Σ_a q_a ∇²_θ w_a (see newton_search.cpp).
  Eigen::VectorXd g(P), r(n), curv(n);
  Eigen::MatrixXd G(n, P), fisher(P, P), hessian(P, P), wh(K, K);
  auto derivatives = [&](const Point& pt) {
    const Eigen::VectorXd& w = pt.w;
    Eigen::MatrixXd J = -w * w.transpose();
    J.diagonal() += w;
    G.leftCols(K).noalias() = pt.dz * J;
    G.rightCols(R) = D;
    r = c.cwiseProduct(pt.p - y);
    curv = c.cwiseProduct(pt.p.cwiseProduct((1.0 - pt.p.array()).matrix()));
    g.noalias() = G.transpose() * r;
    g += prec.cwiseProduct(pt.u - mean);
    fisher.noalias() = G.transpose() * curv.asDiagonal() * G;
    fisher.diagonal() += prec;
    const Eigen::VectorXd q = pt.dz.transpose() * r, h = q.cwiseProduct(w);
    const double S = q.dot(w);
    geo.weighted_hessian(w, r, wh);
    hessian = fisher;
    auto tt = hessian.topLeftCorner(K, K);
    tt.noalias() += J * wh * J;
    tt.noalias() -= h * w.transpose() + w * h.transpose();
    tt.noalias() += (2.0 * S) * (w * w.transpose());
    tt.diagonal() += h - S * w;
  };

  Point cur, trial;
  at(mean, cur);
  bool current = false;
  const double floor = prec.minCoeff();
  for (int it = 0; it < max_iter; ++it) {
    derivatives(cur);
    current = true;
    if (g.lpNorm<Eigen::Infinity>() < tol) break;
    Eigen::VectorXd step;
    Eigen::LLT<Eigen::MatrixXd> newton(hessian);
    if (newton.info() == Eigen::Success) {
      step = newton.solve(g);
    } else {
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(hessian);
      const Eigen::VectorXd lam = eig.eigenvalues().cwiseAbs().cwiseMax(floor);
      step = eig.eigenvectors() * (eig.eigenvectors().transpose() * g).cwiseQuotient(lam);
    }
    double t = 1.0;
    at(cur.u - step, trial);
    for (int halvings = 0; halvings < 12 && !(trial.f <= cur.f - 1e-4 * t * g.dot(step)); ++halvings) {  // Armijo
      t *= 0.5;
      at(cur.u - t * step, trial);
    }
    if (!(trial.f < cur.f)) break;
    const bool flat = cur.f - trial.f < 1e-12 * std::max(1.0, std::abs(cur.f));
    std::swap(cur, trial);
    current = false;
    if (flat || t * step.norm() < tol) break;
  }
  if (!current) derivatives(cur);
  JointResult out;
  out.theta = cur.u.head(K);
  out.delta = cur.u.tail(R);
  out.cov = Eigen::LLT<Eigen::MatrixXd>(fisher).solve(Eigen::MatrixXd::Identity(P, P));
  return out;
}

}  // namespace plural::mixture
