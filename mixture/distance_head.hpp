#pragma once
// What PAL-A's Newton geometry needs of an item's e = f(x): c = ‖e‖² and v = F e (F: the K ideal-point basis rows),
// computed from f's last hidden layer h without forming e. With f's last Linear W = QR (thin QR, R upper
// triangular) and o the centroid of F's rows: ‖e − o‖² = ‖Rh + Qᵀ(b − o)‖² + ‖(I − QQᵀ)(b − o)‖², in float at half
// the cost of f's last layer; F e = (FW) h + F b and e·o, K + 1 columns in double; then ‖e‖² = ‖e − o‖² + 2e·o − ‖o‖².
// Items sit near the ideal points, so ‖e − o‖² is small where ‖e‖² is not: its float rounding stays small.
#include <cstdint>
#include <vector>

#include "mixture/row_gemm.hpp"

namespace plural::mixture {

class FrozenProjector;

class DistanceHead {
 public:
  /// f must have has_hidden(); basis [k, f.out()] row-major.
  DistanceHead(const FrozenProjector& f, const float* basis, int64_t k);
  int64_t hidden() const { return r_t_.k(); }
  /// From h [rows, hidden]: v [rows, k] = F f(x) and c [rows] = ‖f(x)‖².
  void apply(const float* h, int64_t rows, double* v, double* c) const;

 private:
  int64_t k_ = 0;
  PackedWeights r_t_;              // Rᵀ [hidden, m]
  std::vector<float> s_;           // Qᵀ(b − o) [m]
  double c0_ = 0, oo_ = 0;         // ‖(I − QQᵀ)(b − o)‖², ‖o‖²
  std::vector<double> fw_t_, fb_;  // [(FW)ᵀ | Wᵀo] [hidden, k + 1], [F b | b·o] [k + 1]
};

}  // namespace plural::mixture
