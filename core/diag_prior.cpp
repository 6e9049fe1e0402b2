#include "core/diag_prior.hpp"

#include <cmath>

#include "core/base/error.hpp"

namespace plural::core {

void check_diag_prior(const std::string& family, const std::string& size_key, size_t size, double prior_var,
                      const std::vector<double>& prior_mean, const std::vector<double>& prior_diag) {
  PLURAL_CHECK(prior_mean.empty() == prior_diag.empty() &&
                   (prior_mean.empty() || (prior_mean.size() == size && prior_diag.size() == size)),
               family, ": prior_mean and prior_diag must both be empty or both have ", size_key, " = ", size,
               " numbers");
  PLURAL_CHECK(prior_var == 0 || !prior_diag.empty(), family,
               ": prior_var scales prior_diag; give prior_mean and prior_diag with it (training's prior tuning sets "
               "all three)");
  for (double v : prior_diag)
    PLURAL_CHECK(std::isfinite(v) && v > 0, family, ": prior_diag must be finite and > 0, got ", v);
}

}  // namespace plural::core
