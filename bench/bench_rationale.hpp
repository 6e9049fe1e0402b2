#pragma once
// `plural-bench rationale`: do rationales seen only in training make a model learn from fewer comparisons? Persona-K
// with rationales synthesized from the generator's truth (both statements' behaviour and stance); seen users keep
// the first n train comparisons each, and the family is trained with the rationale loss at each weight (0 = off).
#include <nlohmann/json.hpp>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct RationaleBench {
  std::vector<int64_t> train_pairs = {10, 25, 50, 100, 300};  ///< per seen user
  std::vector<double> weights = {0.0, 0.3, 1.0};              ///< rationale loss weights; 0 = without rationales
  int k_star = 3;
  std::string family = "pal-b";
};

nlohmann::json rationale_bench(const RationaleBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
