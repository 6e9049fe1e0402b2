// Gauss–Hermite by Golub–Welsch against the closed forms of small rules and the moments of e^{-x²}.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/base/error.hpp"
#include "core/base/gauss_hermite.hpp"

using plural::core::gauss_hermite;

TEST_CASE("Gauss-Hermite: 1, 2 and 3 points match their closed forms", "[core][query][quadrature]") {
  const double sqrt_pi = std::sqrt(M_PI);
  auto [x1, w1] = gauss_hermite(1);
  CHECK(x1[0] == Approx(0).margin(1e-15));
  CHECK(w1[0] == Approx(sqrt_pi).epsilon(1e-14));
  auto [x2, w2] = gauss_hermite(2);
  CHECK(x2[0] == Approx(-1 / std::sqrt(2.0)).epsilon(1e-14));
  CHECK(x2[1] == Approx(1 / std::sqrt(2.0)).epsilon(1e-14));
  CHECK(w2[0] == Approx(sqrt_pi / 2).epsilon(1e-14));
  auto [x3, w3] = gauss_hermite(3);
  CHECK(x3[0] == Approx(-std::sqrt(1.5)).epsilon(1e-14));
  CHECK(x3[1] == Approx(0).margin(1e-14));
  CHECK(w3[0] == Approx(sqrt_pi / 6).epsilon(1e-13));
  CHECK(w3[1] == Approx(2 * sqrt_pi / 3).epsilon(1e-13));
}

TEST_CASE("Gauss-Hermite: exact for every even moment below degree 2n", "[core][query][quadrature]") {
  for (int n : {5, 20, 40}) {
    auto [x, w] = gauss_hermite(n);
    for (int k = 0; 2 * k < 2 * n; ++k) {
      // ∫ x^{2k} e^{-x²} dx = Γ(k + 1/2); odd moments vanish.
      double even = 0, odd = 0;
      for (int i = 0; i < n; ++i) even += w[i] * std::pow(x[i], 2 * k), odd += w[i] * std::pow(x[i], 2 * k + 1);
      if (k > 12) break;  // beyond x^24 the terms outgrow double precision's relative accuracy
      CHECK(even == Approx(std::tgamma(k + 0.5)).epsilon(1e-10));
      CHECK(odd == Approx(0).margin(1e-9 * std::tgamma(k + 1.0)));
    }
  }
  CHECK_THROWS_AS(gauss_hermite(0), plural::ValueError);
}
