#pragma once
// `plural-bench query`: how long scoring a pool of candidate pairs for one user takes, per family and scorer.
// `plural-bench active`: simulated active learning on Persona-K's unseen users — accuracy vs answered queries
// for each scorer against random, with the area under each curve and bootstrap CIs over users.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct QueryLatencyBench {
  std::vector<std::string> families = {"pal-b", "vpl"};
  std::vector<std::string> scorers = {"bald", "dopt", "bald-mc", "random"};
  int64_t candidates = 10000;
  int64_t shots = 10;  ///< the user's answers before the query
  int repeats = 7;     ///< timed calls per scorer (the median counts)
  int k = 3, k_star = 3;
};
nlohmann::json query_latency_bench(const QueryLatencyBench& bench, const BenchSetup& setup);

struct ActiveBench {
  std::vector<std::string> families = {"pal-b", "vpl"};
  std::vector<std::string> scorers = {"random", "bald", "dopt"};
  int64_t queries = 20;  ///< answered queries per user (the curve's length)
  int64_t pool = 200;    ///< candidate pairs per unseen user
  int k = 3, k_star = 3;
};
nlohmann::json active_bench(const ActiveBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
