#include "core/base/gauss_hermite.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>

#include "core/base/error.hpp"

namespace plural::core {

std::pair<std::vector<double>, std::vector<double>> gauss_hermite(int n) {
  PLURAL_CHECK(n >= 1 && n <= 200, "gauss_hermite: n must be in [1, 200], got ", n);
  Eigen::VectorXd diagonal = Eigen::VectorXd::Zero(n), off(std::max(n - 1, 0));
  for (int k = 1; k < n; ++k) off[k - 1] = std::sqrt(k / 2.0);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
  solver.computeFromTridiagonal(diagonal, off, Eigen::ComputeEigenvectors);
  PLURAL_ASSERT(solver.info() == Eigen::Success);
  std::vector<double> x(n), w(n);
  const double mu0 = std::sqrt(M_PI);  // ∫ e^{-x²} dx
  for (int i = 0; i < n; ++i) {
    x[i] = solver.eigenvalues()[i];
    const double v0 = solver.eigenvectors()(0, i);
    w[i] = mu0 * v0 * v0;
  }
  return {x, w};
}

}  // namespace plural::core
