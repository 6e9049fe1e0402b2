#pragma once
// `plural-bench real`: any preference files, every family with its defaults (validation carved when the file has
// none), seen users and unseen users at 0/1/2/5/10 shots, accuracy, NLL and ECE with 95% intervals, and what
// `--model auto` picks. The tool for judging defaults on data they were not tuned on (#29).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct RealDataset {
  std::string data;     ///< a preference file plural reads (.h5/.jsonl/.tsv)
  std::string encoder;  ///< its encoder spec (precomputed:... for numeric item features)
};

struct RealBench {
  std::vector<RealDataset> datasets;
  std::vector<std::string> models = {"bt", "per-user-bt", "lore", "pal-a", "pal-b", "pal-h", "vpl"};
  std::vector<int64_t> shots = {0, 1, 2, 5, 10};
  bool run_auto = true;  ///< also run --model auto's selection and score its pick
};

/// One table per dataset (printed unless setup.json); returns {"bench": "real", "tables": [...]}.
nlohmann::json real_bench(const RealBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
