#include "bench/bench_adapt.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "core/base/doctor.hpp"
#include "core/base/progress.hpp"
#include "core/data/persona_k.hpp"
#include "core/eval/evaluator.hpp"
#include "core/eval/stats.hpp"
#include "mixture/mixture_model.hpp"

namespace plural::bench {

using namespace plural::core;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}
}  // namespace

json adapt_bench(const AdaptBench& bench, const BenchSetup& setup) {
  auto pb = persona_bench_data(bench.k_star, setup, 0, false, bench.unseen_users);
  const auto& pk = pb.persona;
  const auto& encoder_id = pb.encoder_id;
  DatasetView view(pk.data, pb.features);
  auto trained = train_family(bench.family, bench.k, view, setup, bench.model_config);
  auto& model = *trained.model;
  model.eval();
  bench_note(bench.family + " trained: " + std::to_string(trained.result.epochs_run) + " epochs");

  std::map<int32_t, std::vector<size_t>> support, test;
  for (auto r : view.rows(Split::support, false)) support[pk.data.comparisons[r].user].push_back(r);
  for (auto r : view.rows(Split::test, false)) test[pk.data.comparisons[r].user].push_back(r);
  // The family's default adapter (Newton for the mixtures, amortized for VPL) against the original AdamW procedure
  // where the family has one.
  auto newton = make_adapter(bench.family);
  auto names = adapter_names(bench.family);
  std::unique_ptr<Adapter> adamw;
  if (std::find(names.begin(), names.end(), "adamw") != names.end()) adamw = make_adapter(bench.family, "adamw");
  auto* mixture = dynamic_cast<mixture::MixtureModel*>(&model);
  if (bench.adapt_threads > 0) set_threads(bench.adapt_threads);

  // The host's GEMM rate before and after: latencies are absolute, and a shared host's speed moves (the AMD EPYC
  // host ran 1024³ float32 GEMM at 41–70 GFLOP/s within one morning), so each run says what machine it saw.
  const double gemm_before = measure_gemm_gflops(1024, 1024, 1024);
  json out = {{"family", bench.family},
              {"model_config", bench.model_config},
              {"k", bench.k},
              {"k_star", bench.k_star},
              {"encoder", encoder_id},
              {"threads", torch::get_num_threads()},
              {"users", support.size()},
              {"gemm_gflops_before", gemm_before},
              {"rows", json::array()}};
  if (!setup.json)
    std::printf(
        "Adaptation of %zu unseen Persona-K users (K* = %d), %s K = %d, %d threads\n  %5s %10s %11s %10s "
        "%10s %9s %10s %10s %s\n",
        support.size(), bench.k_star, bench.family.c_str(), bench.k, torch::get_num_threads(), "shots",
        (newton->name() + " ms").c_str(), "of which fwd", "adamw ms", "speedup",
        "acc >=", (newton->name() + " acc").c_str(), "adamw acc", "  difference [95% CI over users]");
  for (int64_t shots : bench.shots) {
    std::vector<double> tn, tg, ta, user_gain;  // user_gain: her accuracy with Newton minus with AdamW
    double correct_n = 0, correct_a = 0, total = 0;
    for (const auto& [u, rows] : support) {
      std::vector<size_t> s(rows.begin(), rows.begin() + std::min<size_t>(static_cast<size_t>(shots), rows.size()));
      if (test[u].empty()) continue;  // nothing to score her on
      auto sb = view.batch(s), tb = view.batch(test[u]);
      UserState sn, sa;
      double best = 1e300, best_geo = 1e300;
      for (int rep = 0; rep < bench.repeats; ++rep) {
        auto t0 = Clock::now();
        sn = newton->adapt(model, sb, pk.data.users[u].id);
        best = std::min(best, ms_since(t0));
        if (mixture) {  // the frozen forward alone: what the K-dimensional solve adds is the difference
          torch::NoGradGuard ng;
          auto t1 = Clock::now();
          auto geo = mixture->geometry(sb);
          best_geo = std::min(best_geo, ms_since(t1));
        }
      }
      tn.push_back(best);
      tg.push_back(mixture ? best_geo : 0.0);
      auto y = tb.label > 0.5;
      const double cn = ((score_pairs(model, tb, &sn) > 0) == y).sum().item<double>();
      correct_n += cn;
      total += static_cast<double>(tb.size());
      if (adamw) {
        auto t2 = Clock::now();
        sa = adamw->adapt(model, sb, pk.data.users[u].id);
        ta.push_back(ms_since(t2));
        const double ca = ((score_pairs(model, tb, &sa) > 0) == y).sum().item<double>();
        correct_a += ca;
        user_gain.push_back((cn - ca) / static_cast<double>(tb.size()));
      }
    }
    double mn = median(tn), mg = median(tg), ma = median(ta);
    double an = correct_n / total, aa = correct_a / total;
    if (!adamw) {
      out["rows"].push_back({{"shots", shots},
                             {"adapter", newton->name()},
                             {"newton_ms", mn},
                             {"newton_accuracy", an},
                             {"test_pairs", total}});
      if (!setup.json)
        std::printf("  %5lld %10.3f %11s %10s %10s %9s %10.3f %10s\n", static_cast<long long>(shots), mn, "-", "-", "-",
                    "-", an, "-");
      continue;
    }
    // Users are the sampling unit: the mean over users of each one's accuracy difference, with a bootstrap interval
    // over users (the difference of the pooled accuracies when, as in Persona-K, every user has as many test pairs).
    auto gain = bootstrap_mean(user_gain, 2000, setup.seed);
    out["rows"].push_back({{"shots", shots},
                           {"adapter", newton->name()},
                           {"newton_ms", mn},
                           {"newton_forward_ms", mg},
                           {"adamw_ms", ma},
                           {"speedup", ma / mn},
                           {"newton_accuracy", an},
                           {"adamw_accuracy", aa},
                           {"accuracy_difference", gain.mean},
                           {"accuracy_difference_ci95", {gain.lo, gain.hi}},
                           {"test_pairs", total}});
    if (!setup.json)
      std::printf("  %5lld %10.3f %11.3f %10.1f %9.0fx %9s %10.3f %10.3f   %+.4f [%+.4f, %+.4f]\n",
                  static_cast<long long>(shots), mn, mg, ma, ma / mn, an >= aa ? "yes" : "no", an, aa, gain.mean,
                  gain.lo, gain.hi);
  }
  const double gemm_after = measure_gemm_gflops(1024, 1024, 1024);
  out["gemm_gflops_after"] = gemm_after;
  if (!setup.json)
    std::printf(
        "  latency: median over users of the fastest of %d Newton calls / one AdamW run; accuracy over all "
        "test pairs of those users\n  host: GEMM 1024^3 float32 at %.0f GFLOP/s before, %.0f after\n",
        bench.repeats, gemm_before, gemm_after);
  return out;
}

}  // namespace plural::bench
