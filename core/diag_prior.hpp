#pragma once
// The config of a per-user vector's Gaussian prior N(prior_mean, prior_var · diag(prior_diag)): a shape estimated
// from the seen users and a scale chosen on validation (per-user BT's head, pal-h's deviation). Checked once here.
#include <cstddef>
#include <string>
#include <vector>

namespace plural::core {

/// Throws ValueError naming `family` unless prior_mean and prior_diag are both empty or both hold `size` numbers
/// (`size_key` = size names the config key that sets it), a prior_var > 0 comes with them, and prior_diag is finite
/// and > 0.
void check_diag_prior(const std::string& family, const std::string& size_key, size_t size, double prior_var,
                      const std::vector<double>& prior_mean, const std::vector<double>& prior_diag);

}  // namespace plural::core
