#pragma once
// `plural-bench ches`: does dropping the most alike pairs (highest pooled CHES) help or hurt a trained model?
// Razin et al. filter high-CHES pairs to stop DPO from pushing the preferred response down; for a reward model on
// frozen features the question is whether those pairs carry signal. Each fraction is compared with dropping the
// same number of random train pairs, so the effect of the choice is separated from the effect of less data.
#include <nlohmann/json.hpp>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct ChesBench {
  std::vector<double> fractions = {0.05, 0.1, 0.2};  ///< shares of strict train pairs dropped
  int k_star = 3;
  std::string family = "pal-b";
  bool ukp = true;
};

nlohmann::json ches_bench(const ChesBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
