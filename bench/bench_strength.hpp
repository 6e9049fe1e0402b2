#pragma once
// `plural-bench strength`: does ensemble preference strength repair noisy labels? Persona-K with a share of its
// train labels flipped (and UKPConvArg1 as it is): an ensemble of cheap per-user heads scores every train pair; a
// model is trained on the labels as they are, with the negative-strength labels flipped, and with those replaced
// by the ensemble's soft label, with the strength as a per-pair margin (adaptive margin), and flipped with margins;
// accuracy is measured on the clean test labels of seen users.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct StrengthBench {
  std::vector<double> noise = {0.0, 0.1, 0.25};  ///< shares of Persona-K train labels flipped
  int k_star = 3;
  std::string family = "pal-b";               ///< the model trained on the relabelled data
  std::string member_family = "per-user-bt";  ///< ensemble members (per-user, so minorities are not "noise")
  int members = 5, member_epochs = 5;
  bool ukp = true;            ///< also UKPConvArg1, without injected noise
  double max_fraction = 1.0;  ///< relabel at most this share of train pairs, most negative first
  double margin_scale = 1.0;  ///< adaptive margin = this × the mean strength
};

nlohmann::json strength_bench(const StrengthBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
