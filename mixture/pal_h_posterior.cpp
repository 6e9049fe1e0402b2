// pal-h as a UserPosterior: the query scorers' view of the joint Gaussian over a user's [θ; δ].
#include <torch/torch.h>

#include <Eigen/Dense>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "mixture/pal_h.hpp"

namespace plural::mixture {

namespace {

struct HierarchicalPool : core::PreparedPool {
  std::unique_ptr<ShotGeometry> geo;  // the mixture half's logits in w
  Eigen::MatrixXd D;                  // [C, R]: H a − H b
  int64_t size = 0;
};

using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::MatrixXd to_eigen(const torch::Tensor& t) {
  auto d = t.to(torch::kFloat64).contiguous();
  const int64_t cols = d.dim() > 1 ? d.size(1) : 1;
  return Eigen::Map<const RowMajor>(d.data_ptr<double>(), d.size(0), cols);
}

torch::Tensor to_tensor(const Eigen::MatrixXd& m) {
  RowMajor r = m;
  return torch::from_blob(r.data(), {r.rows(), r.cols()}, torch::kFloat64).to(torch::kFloat32);
}

struct Posterior {
  Eigen::VectorXd theta, delta;
  Eigen::MatrixXd cov;
};

Posterior posterior(const PalH& m, const core::UserState& s) {
  m.check_state(s, "query");
  Posterior p{to_eigen(s.at("theta")), to_eigen(s.at("delta")), to_eigen(core::state_covariance(s))};
  const int64_t P = m.K() + m.rank();
  PLURAL_CHECK(p.theta.size() == m.K() && p.delta.size() == m.rank() && p.cov.rows() == P && p.cov.cols() == P,
               "pal-h: user state '", s.user_id, "' does not match K = ", m.K(), ", rank = ", m.rank());
  return p;
}

}  // namespace

std::shared_ptr<const core::PreparedPool> PalH::prepare(const core::PairBatch& candidates) {
  auto pool = std::make_shared<HierarchicalPool>();
  pool->geo = mix_->geometry(candidates);
  pool->D = to_eigen(head(candidates.a) - head(candidates.b));
  pool->size = candidates.size();
  return pool;
}

core::LinearizedLogits PalH::linearize(const core::UserState& state, const core::PreparedPool& prepared) {
  const auto p = posterior(*this, state);
  const auto& pool = core::prepared_as<HierarchicalPool>(prepared, family());
  const int64_t C = pool.size, K = config_.k;
  Eigen::VectorXd w = simplex_weights(p.theta), z(C);
  Eigen::MatrixXd dz(C, K);
  pool.geo->eval(w, z, dz);
  Eigen::MatrixXd J = Eigen::MatrixXd(w.asDiagonal()) - w * w.transpose();
  Eigen::MatrixXd grad(C, K + config_.rank);
  grad << dz * J, pool.D;
  core::LinearizedLogits out;
  out.mean = to_tensor(z + pool.D * p.delta).reshape({C});
  out.grad = to_tensor(grad);
  out.cov = to_tensor(p.cov);
  return out;
}

torch::Tensor PalH::sample_logits(const core::UserState& state, const core::PreparedPool& prepared, int64_t m,
                                  uint64_t seed) {
  const auto p = posterior(*this, state);
  const auto& pool = core::prepared_as<HierarchicalPool>(prepared, family());
  const int64_t C = pool.size, K = config_.k, P = K + config_.rank;
  Eigen::MatrixXd L = Eigen::LLT<Eigen::MatrixXd>(p.cov + 1e-10 * Eigen::MatrixXd::Identity(P, P)).matrixL();
  Eigen::VectorXd mean(P), eps(P), z(C);
  mean << p.theta, p.delta;
  Eigen::MatrixXd dz(C, K), out(m, C);
  core::Rng rng(seed);
  for (int64_t s = 0; s < m; ++s) {
    for (int64_t i = 0; i < P; ++i) eps[i] = rng.normal();
    const Eigen::VectorXd u = mean + L * eps;
    pool.geo->eval(simplex_weights(u.head(K)), z, dz);
    out.row(s) = (z + pool.D * u.tail(config_.rank)).transpose();
  }
  return to_tensor(out);
}

}  // namespace plural::mixture
