#pragma once
// Seeded random draws that give the same numbers on every platform (std:: distributions are
// implementation-defined, which would make generated datasets differ between standard libraries).
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace plural::core {

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t next() { return gen_(); }
  double uniform() { return (gen_() >> 11) * 0x1.0p-53; }                                     ///< [0, 1)
  size_t index(size_t n) { return static_cast<size_t>(uniform() * static_cast<double>(n)); }  ///< [0, n)
  double normal() {
    double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// Marsaglia–Tsang; shape < 1 via the boost u^(1/shape) trick.
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(uniform() + 1e-300, 1.0 / shape);
    double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    while (true) {
      double x = normal(), v = 1.0 + c * x;
      if (v <= 0) continue;
      v = v * v * v;
      double u = uniform();
      if (std::log(u + 1e-300) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }
  std::vector<double> dirichlet(size_t k, double alpha) {
    std::vector<double> w(k);
    double s = 0;
    for (auto& x : w) s += (x = gamma(alpha));
    for (auto& x : w) x /= s;
    return w;
  }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[index(i)]);
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace plural::core
