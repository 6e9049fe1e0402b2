#include "core/diagnostics/logistic.hpp"

#include <cmath>

#include "core/base/error.hpp"

namespace plural::core {

namespace {
double log_sigmoid(double z) { return z >= 0 ? -std::log1p(std::exp(-z)) : z - std::log1p(std::exp(z)); }
}  // namespace

LogisticFit fit_logistic(const Eigen::MatrixXd& X, const Eigen::VectorXd& y, const Eigen::VectorXd& w, double prior_sd,
                         int max_iterations) {
  const Eigen::Index n = X.rows(), p = X.cols();
  PLURAL_CHECK(y.size() == n && (w.size() == 0 || w.size() == n), "fit_logistic: ", n, " rows, ", y.size(),
               " targets and ", w.size(), " weights");
  const Eigen::VectorXd weight = w.size() == n ? w : Eigen::VectorXd::Ones(n);
  const double prior_precision = std::isfinite(prior_sd) && prior_sd > 0 ? 1 / (prior_sd * prior_sd) : 0.0;
  auto objective = [&](const Eigen::VectorXd& beta) {  // penalized log-likelihood, to be maximized
    Eigen::VectorXd z = X * beta;
    double ll = 0;
    for (Eigen::Index i = 0; i < n; ++i) ll += weight[i] * (y[i] * log_sigmoid(z[i]) + (1 - y[i]) * log_sigmoid(-z[i]));
    return ll - 0.5 * prior_precision * beta.squaredNorm();
  };
  LogisticFit fit;
  fit.mean = Eigen::VectorXd::Zero(p);
  Eigen::MatrixXd H(p, p);
  double current = objective(fit.mean);
  for (int it = 0; it < max_iterations; ++it) {
    fit.iterations = it + 1;
    Eigen::VectorXd z = X * fit.mean, r(n), c(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      double s = 1 / (1 + std::exp(-z[i]));
      r[i] = weight[i] * (y[i] - s);
      c[i] = weight[i] * s * (1 - s);
    }
    Eigen::VectorXd grad = X.transpose() * r - prior_precision * fit.mean;
    H = X.transpose() * c.asDiagonal() * X;
    H.diagonal().array() += prior_precision + 1e-12;
    Eigen::VectorXd step = H.ldlt().solve(grad);
    double t = 1;
    bool accepted = false, improved = false;
    for (int half = 0; half < 30 && !accepted; ++half, t /= 2) {
      double next = objective(fit.mean + t * step);
      if (next >= current - 1e-12) {
        fit.mean += t * step;
        accepted = true;
        improved = next > current + 1e-12 * (1 + std::abs(current));
        current = next;
      }
    }
    if (!accepted) break;  // no step along Newton's direction helps: not converged
    if (!improved || (t * step).lpNorm<Eigen::Infinity>() < 1e-10) {
      fit.converged = true;
      break;
    }
  }
  // Curvature at the final β.
  Eigen::VectorXd z = X * fit.mean, c(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    double s = 1 / (1 + std::exp(-z[i]));
    c[i] = weight[i] * s * (1 - s);
  }
  H = X.transpose() * c.asDiagonal() * X;
  H.diagonal().array() += prior_precision;
  fit.cov = H.ldlt().solve(Eigen::MatrixXd::Identity(p, p));
  return fit;
}

}  // namespace plural::core
