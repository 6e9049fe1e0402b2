// Few-shot adaptation of unseen users: the Newton adapter against the original AdamW procedure (lr 5e-3, θ only,
// batch 4, 20 epochs), same frozen PAL-B model, same shots, in one run. Latency per user (median over users) and
// held-out accuracy of the adapted users.
//   build/bench_adapt [--family pal-b] [--k 3] [--epochs 10] [--cache out/bench/cache.h5] [--adapt-threads 0]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/dataset_view.hpp"
#include "core/encode.hpp"
#include "core/evaluator.hpp"
#include "core/persona_k.hpp"
#include "core/progress.hpp"
#include "core/trainer.hpp"

using namespace plural::core;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::string family = "pal-b", cache_path = "out/bench/cache.h5";
  int k = 3, epochs = 10, adapt_threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--family")) family = argv[i + 1];
    if (!std::strcmp(argv[i], "--k")) k = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--epochs")) epochs = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--cache")) cache_path = argv[i + 1];
    if (!std::strcmp(argv[i], "--adapt-threads")) adapt_threads = std::atoi(argv[i + 1]);
  }
  set_threads(0);
  std::filesystem::create_directories(std::filesystem::path(cache_path).parent_path());
  PersonaKConfig pc;
  pc.statements_path = std::string(PLURAL_SOURCE_DIR) + "/data/persona/statements.tsv.gz";
  auto pk = generate_persona_k(pc);
  FeatureCache cache(cache_path);
  auto enc = make_encoder("minilm:path=" + std::string(PLURAL_SOURCE_DIR) + "/models/all-MiniLM-L6-v2");
  DatasetView view(pk.data, dataset_features(cache, enc->id(), pk.data, enc.get()));
  torch::manual_seed(0);
  auto model = make_model(family, view.dims(), "{\"k\": " + std::to_string(k) + "}");
  TrainConfig tc;
  tc.epochs = epochs;
  tc.progress = false;
  auto tr = train(*model, view, tc);
  std::printf("%s K=%d on Persona-K (MiniLM features), %d epochs trained (seen val acc %.3f)\n", family.c_str(), k,
              tr.epochs_run, tr.best_val_accuracy);

  int threads = set_threads(adapt_threads);
  std::printf("adapting on %d threads\n", threads);
  std::map<int32_t, std::vector<size_t>> support, test;
  for (auto r : view.rows(Split::support, false)) support[pk.data.comparisons[r].user].push_back(r);
  for (auto r : view.rows(Split::test, false)) test[pk.data.comparisons[r].user].push_back(r);
  auto newton = make_adapter(family, "newton"), adamw = make_adapter(family, "adamw");
  std::printf("%5s %12s %12s %9s %11s %11s %7s\n", "shots", "newton ms", "adamw ms", "speedup", "newton acc",
              "adamw acc", "users");
  for (size_t shots : {5, 20, 50}) {
    std::vector<double> tn, ta;
    double correct_n = 0, correct_a = 0, total = 0;
    for (const auto& [u, rows] : support) {
      std::vector<size_t> s(rows.begin(), rows.begin() + std::min(shots, rows.size()));
      auto sb = view.batch(s), tb = view.batch(test[u]);
      UserState sn, sa;
      for (int rep = 0; rep < 5; ++rep) {  // best of 5: the latency of a warm call
        auto t0 = Clock::now();
        sn = newton->adapt(*model, sb, "u");
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (rep == 0 || ms < tn.back()) (rep == 0 ? tn.emplace_back(ms) : tn.back() = ms);
      }
      auto t1 = Clock::now();
      sa = adamw->adapt(*model, sb, "u");
      ta.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
      auto zn = score_pairs(*model, tb, &sn), za = score_pairs(*model, tb, &sa);
      auto y = tb.label > 0.5;
      correct_n += ((zn > 0) == y).sum().item<double>();
      correct_a += ((za > 0) == y).sum().item<double>();
      total += static_cast<double>(tb.size());
    }
    std::sort(tn.begin(), tn.end());
    std::sort(ta.begin(), ta.end());
    double mn = tn[tn.size() / 2], ma = ta[ta.size() / 2];
    std::printf("%5zu %12.3f %12.1f %9.0f %11.3f %11.3f %7zu\n", shots, mn, ma, ma / mn, correct_n / total,
                correct_a / total, tn.size());
  }
  return 0;
}
