#pragma once
// Logistic regression P(y = 1 | x) = σ(xᵀβ) by Newton, with soft targets, weights and an optional Gaussian prior
// β ~ N(0, prior_sd² I). With the prior, `mean` is the MAP and `cov` the Laplace posterior covariance; without it
// (prior_sd = ∞), the maximum-likelihood fit and its inverse Fisher information. Eigen only, no torch.
#include <Eigen/Dense>
#include <limits>

namespace plural::core {

struct LogisticFit {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
  int iterations = 0;
  bool converged = false;
};

/// X [n, p]; y [n] targets in [0, 1]; w [n] weights ≥ 0 (empty: all 1). Steps are halved until the penalized
/// log-likelihood rises, so separable data stops at a large finite β instead of diverging.
LogisticFit fit_logistic(const Eigen::MatrixXd& X, const Eigen::VectorXd& y, const Eigen::VectorXd& w = {},
                         double prior_sd = std::numeric_limits<double>::infinity(), int max_iterations = 100);

}  // namespace plural::core
