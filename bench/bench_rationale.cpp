#include "bench/bench_rationale.hpp"

#include <torch/torch.h>

#include <cstdio>

#include "core/base/error.hpp"
#include "core/data/subsets.hpp"
#include "core/eval/stats.hpp"

namespace plural::bench {

using namespace plural::core;
using nlohmann::json;

json rationale_bench(const RationaleBench& bench, const BenchSetup& setup) {
  PLURAL_CHECK(!bench.train_pairs.empty() && !bench.weights.empty(), "bench rationale: nothing to run");
  for (auto n : bench.train_pairs) PLURAL_CHECK(n >= 1, "--train-pairs: counts must be >= 1, got ", n);
  for (auto w : bench.weights) PLURAL_CHECK(w >= 0, "--weights: rationale weights must be >= 0, got ", w);
  require_model_family(bench.family);
  auto pk = persona_bench_data(bench.k_star, setup, 0, /*rationales=*/true);
  json rows = json::array();
  for (auto n : bench.train_pairs) {
    auto data = train_pairs_per_user(pk.persona.data, n);
    DatasetView view(data, pk.features);
    json row = {{"train_pairs_per_user", n}, {"train_pairs", view.rows(Split::train, true).size()}};
    json by = json::array();
    for (double w : bench.weights) {
      bench_note(std::to_string(n) + " train pairs per user: " + bench.family + ", rationale weight " +
                 std::to_string(w));
      auto t = train_family(bench.family, bench.k_star, view, setup, "", "",
                            [w](TrainConfig& tc) { tc.rationale_weight = w; });
      const auto test = view.rows(Split::test, true);
      double acc = seen_test_accuracy(*t.model, view);
      auto [lo, hi] = wilson_interval(acc * double(test.size()), double(test.size()));
      by.push_back({{"weight", w},
                    {"accuracy", acc},
                    {"lo", lo},
                    {"hi", hi},
                    {"epochs", t.result.epochs_run},
                    {"seconds", t.result.seconds}});
    }
    row["by_weight"] = by;
    rows.push_back(row);
  }
  json out = {{"bench", "rationale"},
              {"family", bench.family},
              {"k_star", bench.k_star},
              {"encoder", pk.encoder_id},
              {"rows", rows}};
  if (setup.json) return out;
  std::printf(
      "Rationales in training: Persona-K K*=%d with synthesized rationales; %s seen-user test accuracy "
      "[95%% Wilson interval] by train pairs per user and rationale-loss weight\n",
      bench.k_star, bench.family.c_str());
  std::printf("| train pairs per user |");
  for (double w : bench.weights) std::printf(w == 0 ? " without rationales |" : " weight %.2g |", w);
  std::printf("\n|---|");
  for (size_t i = 0; i < bench.weights.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const auto& r : rows) {
    std::printf("| %lld |", (long long)r["train_pairs_per_user"].get<int64_t>());
    for (const auto& b : r["by_weight"])
      std::printf(" %.3f [%.3f, %.3f] |", b["accuracy"].get<double>(), b["lo"].get<double>(), b["hi"].get<double>());
    std::printf("\n");
  }
  return out;
}

}  // namespace plural::bench
