#pragma once
// The hierarchical family's Newton search (mixture/pal_h.cpp): one user's mixture logits θ [K] and her individual
// deviation δ [R] together, on the frozen geometry of her shots. The logit is z = z_mix(softmax θ) + D δ, linear in
// δ, so the δ rows of the Hessian are Fisher's; the θ block is exact as in newton_search. Eigen only.
#include <Eigen/Core>

#include "mixture/mixture_model.hpp"

namespace plural::mixture {

/// The Gaussian prior of the joint search: θ ~ N(0, theta_var·I), δ ~ N(delta_mean, diag(delta_var)).
struct JointPrior {
  double theta_var = 4.0;
  Eigen::VectorXd delta_mean, delta_var;  ///< [R]
};

struct JointResult {
  Eigen::VectorXd theta;  ///< [K] MAP mixture logits
  Eigen::VectorXd delta;  ///< [R] MAP deviation
  Eigen::MatrixXd cov;    ///< [K + R, K + R] Laplace covariance of [θ; δ] (inverse Fisher plus prior precision)
};

/// Minimises Σ_i c_i BCE(z_i, y_i) − log prior over [θ; δ] from the prior mean, by damped Newton with Armijo
/// backtracking (negative curvature flipped, as newton_search does). D: [n, R] the shots' deviation features
/// h(a) − h(b); y: labels P(a ≻ b) [n]; c: weights [n].
JointResult joint_newton_search(const ShotGeometry& geo, int64_t K, const Eigen::Ref<const Eigen::MatrixXd>& D,
                                const Eigen::Ref<const Eigen::VectorXd>& y, const Eigen::Ref<const Eigen::VectorXd>& c,
                                const JointPrior& prior, int max_iter = 50, double tol = 1e-6);

}  // namespace plural::mixture
