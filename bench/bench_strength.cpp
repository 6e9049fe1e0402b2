#include "bench/bench_strength.hpp"

#include <torch/torch.h>

#include <cstdio>
#include <iostream>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "core/data/persona_k.hpp"
#include "core/data/ukp.hpp"
#include "core/diagnostics/strength.hpp"
#include "core/eval/stats.hpp"
#include "core/train/train_defaults.hpp"

namespace plural::bench {

using namespace plural::core;
using nlohmann::json;

namespace {
// Seen-user test accuracy of `family` trained on `data` (labels possibly rewritten), with `loss`.
double trained_accuracy(const std::string& family, int k, const PreferenceData& data, const torch::Tensor& features,
                        const std::string& loss, const BenchSetup& setup) {
  DatasetView view(data, features);
  auto t = train_family(family, k, view, setup, "", loss);
  return seen_test_accuracy(*t.model, view);
}

json one_condition(const std::string& dataset, double noise, PreferenceData data, const torch::Tensor& features, int k,
                   const StrengthBench& bench, const BenchSetup& setup) {
  // Flip a seeded share of the seen users' train labels; test labels stay clean.
  std::vector<bool> injected(data.comparisons.size(), false);
  Rng rng(setup.seed ^ 0xf11bULL);
  int64_t flipped = 0;
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    auto& c = data.comparisons[i];
    if (c.split != Split::train || c.label == 0.5f || !(rng.uniform() < noise)) continue;
    c.label = 1.f - c.label;
    injected[i] = true;
    ++flipped;
  }
  DatasetView view(data, features);
  StrengthConfig sc;
  sc.members = bench.members;
  sc.family = bench.member_family;
  sc.epochs = bench.member_epochs;
  sc.seed = setup.seed + 100;
  bench_note(dataset + ", noise " + std::to_string(noise) + ": ensemble of " + std::to_string(sc.members) + " " +
             sc.family);
  auto strength = ensemble_strength(view, sc);
  int64_t flagged = 0, hit = 0, train_strict = 0, negative_or_zero = 0;
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    if (data.comparisons[i].split != Split::train || std::isnan(strength.mean[i])) continue;
    ++train_strict;
    if (strength.mean[i] < 0) {
      ++flagged;
      hit += injected[i];
    }
    negative_or_zero += strength.mean[i] <= 0;
  }
  json row = {{"dataset", dataset},
              {"noise", noise},
              {"injected", flipped},
              {"train_strict", train_strict},
              {"flagged", flagged},
              {"precision", flagged ? double(hit) / flagged : std::nan("")},
              {"recall", flipped ? double(hit) / flipped : std::nan("")}};
  for (const std::string how : {"plain", "flip", "soft", "margin", "flip+margin"}) {
    auto relabelled = data;
    int64_t changed =
        how == "plain" ? 0 : relabel_with_strength(relabelled, strength, how, bench.max_fraction, bench.margin_scale);
    bench_note("  " + bench.family + " on " + how + " labels");
    row[how] = trained_accuracy(bench.family, k, relabelled, features, how == "soft" ? "soft-bce" : "bt", setup);
    row[how + "_changed"] = changed;
  }
  return row;
}
}  // namespace

json strength_bench(const StrengthBench& bench, const BenchSetup& setup) {
  for (double p : bench.noise) PLURAL_CHECK(p >= 0 && p < 0.5, "--noise: shares must be in [0, 0.5), got ", p);
  PLURAL_CHECK(bench.members >= 2, "--members must be >= 2");
  require_model_family(bench.family);
  require_model_family(bench.member_family);
  json rows = json::array();
  auto pk = persona_bench_data(bench.k_star, setup);
  for (double p : bench.noise)
    rows.push_back(one_condition("persona-k K*=" + std::to_string(bench.k_star), p, pk.persona.data, pk.features,
                                 bench.k_star, bench, setup));
  if (bench.ukp) {
    UkpConfig uc;
    uc.seed = setup.seed;
    auto data = import_ukp(uc);
    auto features = bench_features(setup, data);
    rows.push_back(one_condition("ukpconvarg1", 0.0, data, features, 3, bench, setup));
  }
  json out = {{"bench", "strength"},
              {"family", bench.family},
              {"members", bench.members},
              {"max_fraction", bench.max_fraction},
              {"margin_scale", bench.margin_scale},
              {"member_family", bench.member_family},
              {"rows", rows}};
  if (setup.json) return out;
  std::printf(
      "Preference strength: %d × %s members (%d epochs); at most %.0f%% of train labels rewritten; %s "
      "trained on each labelling, seen-user test accuracy on clean labels\n",
      bench.members, bench.member_family.c_str(), bench.member_epochs, 100 * bench.max_fraction, bench.family.c_str());
  std::printf("Margins are %.2f × the ensemble's mean strength.\n", bench.margin_scale);
  std::printf(
      "| data | flipped | ensemble flags | precision | recall | plain | flip | soft | margin | flip+margin |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    std::printf("| %s | %.0f%% (%lld) | %lld | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n",
                r["dataset"].get<std::string>().c_str(), 100 * r["noise"].get<double>(),
                (long long)r["injected"].get<int64_t>(), (long long)r["flagged"].get<int64_t>(),
                r["precision"].is_number() ? r["precision"].get<double>() : std::nan(""),
                r["recall"].is_number() ? r["recall"].get<double>() : std::nan(""), r["plain"].get<double>(),
                r["flip"].get<double>(), r["soft"].get<double>(), r["margin"].get<double>(),
                r["flip+margin"].get<double>());
  return out;
}

}  // namespace plural::bench
