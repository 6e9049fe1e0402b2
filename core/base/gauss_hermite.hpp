#pragma once
// Gauss–Hermite quadrature: ∫ e^{-x²} f(x) dx ≈ Σ_i w_i f(x_i), exact for polynomials of degree < 2n. No torch here.
#include <utility>
#include <vector>

namespace plural::core {

/// Nodes (ascending) and weights of the n-point rule, by Golub–Welsch: the nodes are the eigenvalues of the
/// symmetric tridiagonal Jacobi matrix of the Hermite recurrence (off-diagonal √(k/2)), and each weight is √π times
/// the squared first component of its eigenvector. n in [1, 200].
std::pair<std::vector<double>, std::vector<double>> gauss_hermite(int n);

}  // namespace plural::core
