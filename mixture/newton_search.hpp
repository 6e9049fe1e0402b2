#pragma once
// The Newton adapter's search (mixture/adapters.cpp): one user's MAP logits θ in K dimensions on the frozen
// geometry of her shots, and their Laplace covariance. Eigen only, no LibTorch.
#include <Eigen/Core>

#include "mixture/mixture_model.hpp"

namespace plural::mixture {

struct NewtonOptions {
  int max_iter = 50;
  double tol = 1e-6;
  double prior_var = 4.0;  ///< the Gaussian prior N(0, prior_var·I) on θ
};

struct NewtonResult {
  Eigen::VectorXd theta;  ///< [K] the MAP logits
  Eigen::MatrixXd cov;    ///< [K, K] the inverse of the Fisher matrix plus the prior precision at θ
};

/// Minimises Σ_i c_i BCE(z_i(θ), y_i) + ‖θ‖²/(2·prior_var), z(θ) = geo(softmax(θ)), from θ = 0 by damped Newton
/// with Armijo backtracking: the exact Hessian where it is positive definite, its eigenvalues' magnitudes (at least
/// the prior's precision) elsewhere. y: labels P(a ≻ b) [n]; c: the shots' weights [n].
NewtonResult newton_search(const ShotGeometry& geo, int64_t K, const Eigen::Ref<const Eigen::VectorXd>& y,
                           const Eigen::Ref<const Eigen::VectorXd>& c, const NewtonOptions& options);

}  // namespace plural::mixture
