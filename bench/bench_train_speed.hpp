#pragma once
// `plural-bench train-speed`: PAL-B training throughput of plural's Trainer against the same model in idiomatic
// PyTorch-Python (bench/reference/pal_b_train.py) on the same data and threads, as ratios in one run; and
// time-to-accuracy of plural's defaults against the original PAL procedure's defaults.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct TrainSpeedBench {
  std::vector<int64_t> batches = {4, 4096};
  int64_t small_batch_pairs = 8000;  ///< pairs timed at batches < 256 (the Python reference is slow there)
  int64_t min_steps = 20;            ///< at large batches, at least this many optimizer steps are timed
  int k = 3;
  std::string python = "/usr/bin/python3";
  std::string reference;  ///< the Python script ("" = bench/reference/pal_b_train.py of the source tree)
  bool time_to_accuracy = true;
  int original_epochs = 2;  ///< budget of the original procedure (its default is 1 epoch)
};

nlohmann::json train_speed_bench(const TrainSpeedBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
