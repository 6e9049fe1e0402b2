#pragma once
// `plural-bench persona` and `plural-bench ukp`: every family trained with its defaults on the same data, seen-user
// test accuracy with 95% CIs, unseen users' accuracy vs shots, and a sweep over the mixture's K.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct AccuracyBench {
  std::vector<std::string> models = {"bt", "per-user-bt", "lore", "pal-a", "pal-b"};
  std::vector<int64_t> shots = {1, 2, 5, 10, 20, 50};
  std::vector<int64_t> sweep_ks = {1, 2, 3, 4, 6, 8};  ///< empty: no K sweep
  std::string sweep_model = "pal-b";
};

/// Runs the table on one dataset; `k` is the mixture families' K. Prints it unless setup.json; returns it as JSON.
nlohmann::json accuracy_table(const std::string& title, const core::PreferenceData& data, int k,
                              const AccuracyBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
