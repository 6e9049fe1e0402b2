#include "mixture/distance_head.hpp"

#include <Eigen/Dense>
#include <algorithm>

#include "core/base/error.hpp"
#include "mixture/frozen_projector.hpp"

namespace plural::mixture {

namespace {
using RowMatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
}  // namespace

DistanceHead::DistanceHead(const FrozenProjector& f, const float* basis, int64_t k) : k_(k) {
  PLURAL_CHECK(f.has_hidden(), "distance head: the projector has no hidden layer without a residual");
  const int64_t d = f.out(), h = f.hidden();
  Eigen::Map<const RowMatD> W(f.last_weight().data(), d, h);
  Eigen::Map<const Eigen::VectorXd> b(f.last_bias().data(), d);
  const RowMatD F = Eigen::Map<const RowMatF>(basis, k, d).cast<double>();
  const Eigen::VectorXd o = F.colwise().mean().transpose();
  const int64_t m = std::min(d, h);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(W);
  const Eigen::MatrixXd R = qr.matrixQR().topRows(m).triangularView<Eigen::Upper>();
  const Eigen::MatrixXd Q = qr.householderQ() * Eigen::MatrixXd::Identity(d, m);
  const Eigen::VectorXd s = Q.transpose() * (b - o);
  c0_ = std::max(0.0, (b - o).squaredNorm() - s.squaredNorm());
  oo_ = o.squaredNorm();
  const RowMatF rt = R.transpose().cast<float>();
  r_t_ = PackedWeights(rt.data(), h, m);
  s_.resize(static_cast<size_t>(m));
  Eigen::Map<Eigen::VectorXf>(s_.data(), m) = s.cast<float>();
  fw_t_.resize(static_cast<size_t>(h * (k + 1)));
  Eigen::Map<RowMatD> fw_t(fw_t_.data(), h, k + 1);
  fw_t.leftCols(k) = (F * W).transpose();
  fw_t.col(k) = W.transpose() * o;
  fb_.resize(static_cast<size_t>(k + 1));
  Eigen::Map<Eigen::VectorXd>(fb_.data(), k) = F * b;
  fb_[static_cast<size_t>(k)] = b.dot(o);
}

void DistanceHead::apply(const float* h, int64_t rows, double* v, double* c) const {
  const int64_t m = r_t_.n(), hd = hidden();
  std::vector<float> z(static_cast<size_t>(rows * m));
  Eigen::Map<RowMatF> Z(z.data(), rows, m);
  Z.rowwise() = Eigen::Map<const Eigen::RowVectorXf>(s_.data(), m);
  r_t_.add_rows_times(row_pointers(h, rows, hd).data(), rows, z.data());
  RowMatD VO =
      Eigen::Map<const RowMatF>(h, rows, hd).cast<double>() * Eigen::Map<const RowMatD>(fw_t_.data(), hd, k_ + 1);
  VO.rowwise() += Eigen::Map<const Eigen::RowVectorXd>(fb_.data(), k_ + 1);
  Eigen::Map<RowMatD>(v, rows, k_) = VO.leftCols(k_);
  Eigen::Map<Eigen::VectorXd>(c, rows) =
      Z.cast<double>().rowwise().squaredNorm().array() + c0_ + 2.0 * VO.col(k_).array() - oo_;
}

}  // namespace plural::mixture
