#pragma once
// `plural-bench query`: how long scoring a pool of candidate pairs for one user takes, per family and scorer.
// `plural-bench active`: simulated active learning on the unseen users of Persona-K or of any preference file —
// accuracy vs answered queries for each scorer against random, with the area under each curve and bootstrap CIs over
// users, and the score of each round's asked pair (the stopping signal).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct QueryLatencyBench {
  std::vector<std::string> families = {"pal-b", "vpl"};
  std::vector<std::string> scorers = {"bald", "epig", "dopt", "bald-mc", "random"};
  int64_t candidates = 10000;
  int64_t shots = 10;  ///< the user's answers before the query
  int repeats = 7;     ///< timed calls per scorer (the median counts)
  int64_t batch = 5;   ///< also times choosing a batch of this many together (1 = not timed)
  int k = 3, k_star = 3;
};
nlohmann::json query_latency_bench(const QueryLatencyBench& bench, const BenchSetup& setup);

struct ActiveBench {
  std::vector<std::string> families = {"pal-b", "vpl"};
  std::vector<std::string> scorers = {"random", "bald", "epig", "dopt"};
  int64_t queries = 20;  ///< answered queries per user (the curve's length)
  int64_t pool = 200;    ///< candidate pairs per unseen user of Persona-K
  int64_t batch = 1;     ///< pairs asked per round, chosen together ("<scorer>/top": the top B by score)
  int k = 3, k_star = 3;
  std::string
      data;  ///< a preference file instead: each unseen user's support pairs are her pool, her test pairs scored
};
nlohmann::json active_bench(const ActiveBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
