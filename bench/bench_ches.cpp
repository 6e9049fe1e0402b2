#include "bench/bench_ches.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "core/data/ukp.hpp"
#include "core/diagnostics/ches.hpp"
#include "core/train/train_defaults.hpp"

namespace plural::bench {

using namespace plural::core;
using nlohmann::json;

namespace {
// Seen-user test accuracy of `family` trained on `data` with `dropped` train rows weighted 0 (kept in the data, so
// every user stays seen and the model's shape does not change).
double accuracy_without(const std::string& family, int k, PreferenceData data, const torch::Tensor& features,
                        const std::vector<size_t>& dropped, const BenchSetup& setup) {
  for (size_t i : dropped) data.comparisons[i].weight = 0.f;
  DatasetView view(data, features);
  auto t = train_family(family, k, view, setup);
  return seen_test_accuracy(*t.model, view);
}

json one_dataset(const std::string& name, const PreferenceData& data, const torch::Tensor& features, int k,
                 const ChesBench& bench, const BenchSetup& setup) {
  DatasetView view(data, features);
  auto ches = pooled_ches(view);
  std::vector<std::pair<double, size_t>> scored;  // strict seen-user train pairs, most alike first
  for (size_t i : view.rows(Split::train, true))
    if (!std::isnan(ches[i])) scored.push_back({-ches[i], i});
  std::sort(scored.begin(), scored.end());
  std::vector<size_t> shuffled;
  for (const auto& s : scored) shuffled.push_back(s.second);
  Rng rng(setup.seed ^ 0xc4e5ULL);
  for (size_t i = shuffled.size(); i > 1; --i) std::swap(shuffled[i - 1], shuffled[rng.index(i)]);

  bench_note(name + ": " + bench.family + " on all pairs");
  json row = {{"dataset", name}, {"train_strict", scored.size()}};
  row["all"] = accuracy_without(bench.family, k, data, features, {}, setup);
  json by = json::array();
  for (double f : bench.fractions) {
    const auto n = static_cast<size_t>(std::floor(f * double(scored.size())));
    std::vector<size_t> top, random(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(n));
    for (size_t j = 0; j < n; ++j) top.push_back(scored[j].second);
    bench_note(name + ": dropping " + std::to_string(n) + " pairs, top CHES and random");
    by.push_back({{"fraction", f},
                  {"dropped", n},
                  {"ches_threshold", n > 0 ? -scored[n - 1].first : std::nan("")},
                  {"top_ches", accuracy_without(bench.family, k, data, features, top, setup)},
                  {"random", accuracy_without(bench.family, k, data, features, random, setup)}});
  }
  row["fractions"] = by;
  return row;
}
}  // namespace

json ches_bench(const ChesBench& bench, const BenchSetup& setup) {
  for (double f : bench.fractions) PLURAL_CHECK(f > 0 && f < 1, "--fractions: shares must be in (0, 1), got ", f);
  require_model_family(bench.family);
  json rows = json::array();
  auto pk = persona_bench_data(bench.k_star, setup);
  rows.push_back(one_dataset("persona-k K*=" + std::to_string(bench.k_star), pk.persona.data, pk.features, bench.k_star,
                             bench, setup));
  if (bench.ukp) {
    UkpConfig uc;
    uc.seed = setup.seed;
    auto data = import_ukp(uc);
    rows.push_back(one_dataset("ukpconvarg1", data, bench_features(setup, data), 3, bench, setup));
  }
  json out = {{"bench", "ches"}, {"family", bench.family}, {"rows", rows}};
  if (setup.json) return out;
  std::printf(
      "CHES filtering: %s trained without the most alike train pairs (highest pooled CHES) or without as "
      "many random ones; seen-user test accuracy\n",
      bench.family.c_str());
  std::printf(
      "| data | dropped | CHES above | all pairs | top CHES dropped | random dropped |\n|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    for (const auto& f : r["fractions"])
      std::printf("| %s | %.0f%% (%lld) | %.3f | %.3f | %.3f | %.3f |\n", r["dataset"].get<std::string>().c_str(),
                  100 * f["fraction"].get<double>(), (long long)f["dropped"].get<int64_t>(),
                  f["ches_threshold"].is_number() ? f["ches_threshold"].get<double>() : std::nan(""),
                  r["all"].get<double>(), f["top_ches"].get<double>(), f["random"].get<double>());
  return out;
}

}  // namespace plural::bench
