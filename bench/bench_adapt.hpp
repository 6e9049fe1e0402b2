#pragma once
// `plural-bench adapt`: few-shot adaptation of Persona-K's unseen users by the Newton adapter and by the original
// AdamW procedure, same frozen model and shots, in one run: latency (median over users) and held-out accuracy.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct AdaptBench {
  std::string family = "pal-b";
  int k = 3;
  int k_star = 3;
  /// Persona-K's unseen users (its default is 40). At 40 users' 2,000 test pairs one accuracy's 95% interval is
  /// ±0.015, and the adapters differed by at most 0.006 there: which one came out ahead was noise.
  int unseen_users = 400;
  std::vector<int64_t> shots = {1, 5, 20, 50};
  int repeats = 5;           ///< Newton calls per user; the fastest is its warm latency
  int adapt_threads = 0;     ///< LibTorch threads while adapting (0 = as for training); tiny GEMMs pay thread start-up
  std::string model_config;  ///< JSON over the family's default model config
};

nlohmann::json adapt_bench(const AdaptBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
