#include "bench/bench_query.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "core/base/hash.hpp"
#include "core/base/random.hpp"
#include "core/data/persona_k.hpp"
#include "core/eval/evaluator.hpp"
#include "core/eval/stats.hpp"
#include "core/query.hpp"

namespace plural::bench {

using namespace plural::core;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}
json summary_json(const MeanSummary& s) { return {{"mean", s.mean}, {"lo", s.lo}, {"hi", s.hi}, {"n", s.n}}; }

// Scores under autograd: linearizing scorers differentiate the logits in the user vector (the model stays frozen).
torch::Tensor score_with(const QueryScorer& scorer, RewardModel& model, const UserState& state, const QueryPool& pool) {
  torch::AutoGradMode grad(true);
  return scorer.score(model, state, pool);
}
}  // namespace

json query_latency_bench(const QueryLatencyBench& bench, const BenchSetup& setup) {
  auto pb = persona_bench_data(bench.k_star, setup);
  const auto& data = pb.persona.data;
  DatasetView view(data, pb.features);
  // The pool: random pairs of distinct statements under the data's one prompt.
  std::vector<int64_t> statements;
  {
    std::set<int32_t> seen;
    for (const auto& c : data.comparisons)
      for (auto t : {c.a, c.b})
        if (seen.insert(t).second) statements.push_back(t);
  }
  Rng rng(setup.seed ^ 0x9e7ULL);
  std::vector<int64_t> ia(bench.candidates), ib(bench.candidates);
  for (int64_t i = 0; i < bench.candidates; ++i) {
    ia[i] = statements[rng.index(statements.size())];
    do ib[i] = statements[rng.index(statements.size())];
    while (ib[i] == ia[i]);
  }
  const auto& F = view.features();
  PairBatch pool;
  pool.a.x = F.index_select(0, torch::tensor(ia));
  pool.b.x = F.index_select(0, torch::tensor(ib));
  if (view.has_prompts())
    pool.a.prompt = pool.b.prompt = F[data.comparisons[0].prompt_a].expand({bench.candidates, -1});
  pool.label = torch::full({bench.candidates}, 0.5f);
  pool.weight = torch::ones({bench.candidates});
  pool.user = torch::full({bench.candidates}, -1, torch::kInt64);
  std::vector<size_t> support = view.rows(Split::support, false);
  const int32_t first_unseen = data.comparisons[support.front()].user;
  std::vector<size_t> shots;
  for (auto r : support)
    if (data.comparisons[r].user == first_unseen && static_cast<int64_t>(shots.size()) < bench.shots)
      shots.push_back(r);

  json out = {{"candidates", bench.candidates},
              {"shots", shots.size()},
              {"threads", torch::get_num_threads()},
              {"encoder", pb.encoder_id},
              {"rows", json::array()}};
  if (!setup.json)
    std::printf(
        "Scoring %lld candidate pairs for one user (%zu answers), %d threads; median of %d calls; the pool is "
        "prepared once (item projections) and scored per user\n"
        "  %-8s %-9s %12s %12s %14s\n",
        static_cast<long long>(bench.candidates), shots.size(), torch::get_num_threads(), bench.repeats, "family",
        "scorer", "score ms", "prepare ms", "pairs/s");
  for (const auto& family : bench.families) {
    auto trained = train_family(family, bench.k, view, setup);
    auto& model = *trained.model;
    model.eval();
    auto state = make_adapter(family)->adapt(model, view.batch(shots), "bench-user");
    // Preparing the pool (item projections, once per pool) and scoring it for a user are timed apart.
    std::vector<double> prep;
    QueryPool prepared;
    for (int r = 0; r < bench.repeats; ++r) {
      auto t0 = Clock::now();
      prepared = prepare_pool(model, pool);
      prep.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    const double prep_ms = median(prep);
    for (const auto& name : bench.scorers) {
      auto scorer = make_query_scorer(name, setup.seed);
      score_with(*scorer, model, state, prepared);  // warm-up
      std::vector<double> ms;
      for (int r = 0; r < bench.repeats; ++r) {
        auto t0 = Clock::now();
        auto s = score_with(*scorer, model, state, prepared);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      double m = median(ms);
      out["rows"].push_back({{"family", family},
                             {"scorer", name},
                             {"score_ms", m},
                             {"prepare_ms", prep_ms},
                             {"pairs_per_second", bench.candidates / m * 1e3}});
      if (!setup.json)
        std::printf("  %-8s %-9s %12.3f %12.2f %14.0f\n", family.c_str(), name.c_str(), m, prep_ms,
                    bench.candidates / m * 1e3);
    }
  }
  return out;
}

json active_bench(const ActiveBench& bench, const BenchSetup& setup) {
  auto pb = persona_bench_data(bench.k_star, setup, static_cast<int>(bench.pool));
  const auto& data = pb.persona.data;
  DatasetView view(data, pb.features);
  std::map<int32_t, std::vector<size_t>> pool_of, test_of;
  for (auto r : view.rows(Split::support, false)) pool_of[data.comparisons[r].user].push_back(r);
  for (auto r : view.rows(Split::test, false)) test_of[data.comparisons[r].user].push_back(r);
  const int64_t T = bench.queries;
  json out = {{"k", bench.k},
              {"k_star", bench.k_star},
              {"queries", T},
              {"pool", bench.pool},
              {"users", pool_of.size()},
              {"encoder", pb.encoder_id},
              {"families", json::array()}};
  const std::vector<int64_t> marks = {0, 1, 2, 5, 10, 15, 20};
  for (const auto& family : bench.families) {
    auto trained = train_family(family, bench.k, view, setup);
    auto& model = *trained.model;
    model.eval();
    bench_note(family + " trained: " + std::to_string(trained.result.epochs_run) + " epochs");
    auto adapter = make_adapter(family);
    json fam = {{"family", family}, {"scorers", json::array()}};
    std::map<std::string, std::vector<double>> auc_of;  // scorer -> per-user AUC, in user order
    for (const auto& name : bench.scorers) {
      std::vector<std::vector<double>> curves, spreads;  // [user][t]: accuracy, posterior spread
      double ms_total = 0;
      int64_t calls = 0;
      for (const auto& [u, pool_rows] : pool_of) {
        const auto& id = data.users[u].id;
        auto tb = view.batch(test_of[u]);
        auto y = tb.label > 0.5;
        std::vector<size_t> answered;
        auto cand = view.batch(pool_rows);
        cand.user = torch::full({cand.size()}, -1, torch::kInt64);
        auto prepared = prepare_pool(model, cand);  // once per user: rounds only mask what was asked
        auto asked = torch::zeros({cand.size()}, torch::kBool);
        UserState state = adapter->adapt(model, PairBatch{}, id);
        std::vector<double> curve, spread;
        auto* posterior = dynamic_cast<UserPosterior*>(&model);
        for (int64_t t = 0; t <= T; ++t) {
          auto z = score_pairs(model, tb, &state);
          curve.push_back(((z > 0) == y).to(torch::kFloat64).mean().item<double>());
          // How uncertain the model says it is about her: the root mean posterior variance of the user vector.
          if (posterior) {
            torch::AutoGradMode grad(true);
            spread.push_back(
                posterior->linearize(state, *prepared.prepared).cov.diagonal().mean().sqrt().item<double>());
          }
          if (t == T || static_cast<size_t>(t) == pool_rows.size()) break;
          auto scorer = make_query_scorer(name, setup.seed * 1000003 + static_cast<uint64_t>(t));
          auto t0 = Clock::now();
          auto s = score_with(*scorer, model, state, prepared);
          ms_total += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
          ++calls;
          auto best = s.masked_fill(asked, -std::numeric_limits<float>::infinity()).argmax().item<int64_t>();
          asked[best] = true;
          answered.push_back(pool_rows[best]);
          state = adapter->adapt(model, view.batch(answered), id);
        }
        while (static_cast<int64_t>(curve.size()) <= T) curve.push_back(curve.back());
        while (!spread.empty() && static_cast<int64_t>(spread.size()) <= T) spread.push_back(spread.back());
        curves.push_back(curve);
        spreads.push_back(spread);
      }
      std::vector<double> auc;
      for (const auto& c : curves) {
        double a = 0;
        for (double v : c) a += v;
        auc.push_back(a / static_cast<double>(c.size()));
      }
      auc_of[name] = auc;
      json row = {{"scorer", name},
                  {"auc", summary_json(bootstrap_mean(auc, 1000, setup.seed))},
                  {"ms_per_query", calls ? ms_total / calls : 0.0},
                  {"curve", json::array()}};
      for (int64_t t = 0; t <= T; ++t) {
        std::vector<double> at;
        for (const auto& c : curves) at.push_back(c[t]);
        row["curve"].push_back(summary_json(bootstrap_mean(at, 1000, setup.seed)));
        if (!spreads.empty() && !spreads[0].empty()) {
          double sum = 0;
          for (const auto& sp : spreads) sum += sp[t];
          row["posterior_spread"].push_back(sum / static_cast<double>(spreads.size()));
        }
      }
      if (auc_of.count("random") && name != "random") {
        std::vector<double> diff;
        for (size_t i = 0; i < auc.size(); ++i) diff.push_back(auc[i] - auc_of["random"][i]);
        row["auc_minus_random"] = summary_json(bootstrap_mean(diff, 1000, setup.seed));
      }
      fam["scorers"].push_back(row);
    }
    out["families"].push_back(fam);
    if (setup.json) continue;
    std::printf(
        "Active learning on %zu unseen Persona-K users (K* = %d), %s K = %d: test accuracy after t answered "
        "queries (pool %lld pairs per user)\n  %-8s",
        pool_of.size(), bench.k_star, family.c_str(), bench.k, static_cast<long long>(bench.pool), "scorer");
    for (auto t : marks)
      if (t <= T) std::printf(" %6s", ("t=" + std::to_string(t)).c_str());
    std::printf(" %22s %24s %8s %14s\n", "AUC [95% CI]", "AUC - random [95% CI]", "ms/query", "spread t=0/T");
    for (const auto& row : fam["scorers"]) {
      std::printf("  %-8s", row["scorer"].get<std::string>().c_str());
      for (auto t : marks)
        if (t <= T) std::printf(" %6.3f", row["curve"][t]["mean"].get<double>());
      const auto& a = row["auc"];
      std::printf("   %.3f [%.3f, %.3f]", a["mean"].get<double>(), a["lo"].get<double>(), a["hi"].get<double>());
      if (row.contains("auc_minus_random")) {
        const auto& d = row["auc_minus_random"];
        std::printf("   %+.3f [%+.3f, %+.3f]", d["mean"].get<double>(), d["lo"].get<double>(), d["hi"].get<double>());
      } else {
        std::printf(" %24s", "");
      }
      std::printf(" %8.2f", row["ms_per_query"].get<double>());
      if (row.contains("posterior_spread"))
        std::printf("  %.3f / %.3f", row["posterior_spread"][0].get<double>(),
                    row["posterior_spread"][T].get<double>());
      std::printf("\n");
    }
  }
  return out;
}

}  // namespace plural::bench
