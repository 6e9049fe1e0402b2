// The Newton search on its own: for K ≤ 8 it runs on fixed-size Eigen types, above on dynamic ones. Both must
// stop at the optimum of the log-posterior and return the inverse of its Fisher matrix plus the prior precision.
#include <Eigen/Dense>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "mixture/newton_search.hpp"
#include "mixture/shot_geometries.hpp"

using namespace plural::mixture;

namespace {

struct Problem {
  std::unique_ptr<ShotGeometry> geo;
  Eigen::VectorXd y, c;
};

// PAL-A's distance geometry of random items and ideal points (the search's nonlinear case), or LoRe's linear one.
Problem random_problem(int64_t n, int64_t K, bool distance, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.05, 1.0);
  Problem p;
  p.y.resize(n);
  p.c.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    p.y[i] = i % 3 == 0 ? uniform(gen) : static_cast<double>(i % 2);  // hard and soft labels
    p.c[i] = uniform(gen) + 0.5;
  }
  if (!distance) {
    std::vector<double> diff(static_cast<size_t>(n * K));
    for (auto& d : diff) d = 2.0 * normal(gen);
    p.geo = linear_geometry(n, K, std::move(diff));
    return p;
  }
  const int64_t d = 6;
  Eigen::MatrixXd F(K, d), E(2 * n, d);
  for (int64_t i = 0; i < F.size(); ++i) F.data()[i] = normal(gen);
  for (int64_t i = 0; i < E.size(); ++i) E.data()[i] = normal(gen);
  std::vector<double> v(static_cast<size_t>(2 * n * K)), c(static_cast<size_t>(2 * n)),
      gram(static_cast<size_t>(K * K));
  for (int64_t r = 0; r < 2 * n; ++r) {
    c[static_cast<size_t>(r)] = E.row(r).squaredNorm();
    for (int64_t k = 0; k < K; ++k) v[static_cast<size_t>(r * K + k)] = E.row(r).dot(F.row(k));
  }
  for (int64_t a = 0; a < K; ++a)
    for (int64_t b = 0; b < K; ++b) gram[static_cast<size_t>(a * K + b)] = F.row(a).dot(F.row(b));
  p.geo = distance_geometry(n, K, v, c, std::move(gram));
  return p;
}

double objective(const Problem& p, const Eigen::VectorXd& th, double var) {
  Eigen::VectorXd w = simplex_weights(th), z;
  Eigen::MatrixXd dz;
  p.geo->eval(w, z, dz);
  double f = 0.5 * th.squaredNorm() / var;
  for (int64_t i = 0; i < z.size(); ++i)
    f += p.c[i] * (std::log1p(std::exp(-std::abs(z[i]))) + std::max(z[i], 0.0) - p.y[i] * z[i]);
  return f;
}

}  // namespace

TEST_CASE("the Newton search stops at the optimum and returns the Laplace covariance, for fixed and dynamic K",
          "[mixture][newton]") {
  for (bool distance : {false, true}) {
    for (int64_t K : {1, 2, 3, 5, 8, 9, 12}) {
      for (int64_t n : {1, 7, 50}) {
        INFO((distance ? "distance" : "linear") << " geometry, K = " << K << ", n = " << n);
        auto p = random_problem(n, K, distance, 1000 * K + n);
        NewtonOptions o;
        o.prior_var = 4.0;
        o.tol = 1e-9;
        const auto res = newton_search(*p.geo, K, p.y, p.c, o);
        REQUIRE(res.theta.size() == K);
        REQUIRE(res.cov.rows() == K);
        REQUIRE(res.cov.cols() == K);
        // Stationary: central differences of the log-posterior vanish at θ.
        const double f0 = objective(p, res.theta, o.prior_var);
        for (int64_t k = 0; k < K; ++k) {
          Eigen::VectorXd tp = res.theta, tm = res.theta;
          tp[k] += 1e-5;
          tm[k] -= 1e-5;
          CHECK((objective(p, tp, o.prior_var) - objective(p, tm, o.prior_var)) / 2e-5 ==
                Approx(0.0).margin(1e-5 * std::max(1.0, std::abs(f0))));
        }
        // A minimum, not a saddle: no coordinate step lowers the objective.
        for (int64_t k = 0; k < K; ++k) {
          Eigen::VectorXd t = res.theta;
          t[k] += 1e-2;
          CHECK(objective(p, t, o.prior_var) >= f0 - 1e-12);
        }
        // cov = (J dzᵀ diag(c p (1 − p)) dz J + I/var)⁻¹ at θ.
        Eigen::VectorXd w = simplex_weights(res.theta), z;
        Eigen::MatrixXd dz;
        p.geo->eval(w, z, dz);
        Eigen::MatrixXd J = Eigen::MatrixXd(w.asDiagonal()) - w * w.transpose();
        Eigen::VectorXd curv(n);
        for (int64_t i = 0; i < n; ++i) {
          const double s = 1.0 / (1.0 + std::exp(-z[i]));
          curv[i] = p.c[i] * s * (1.0 - s);
        }
        Eigen::MatrixXd fisher = J * dz.transpose() * curv.asDiagonal() * dz * J;
        fisher.diagonal().array() += 1.0 / o.prior_var;
        CHECK((res.cov * fisher - Eigen::MatrixXd::Identity(K, K)).cwiseAbs().maxCoeff() < 1e-8);
      }
    }
  }
}
