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
#include "core/data/readers.hpp"
#include "core/data/subsets.hpp"
#include "core/eval/evaluator.hpp"
#include "core/eval/stats.hpp"
#include "core/query.hpp"
#include "core/query_batch.hpp"

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
        "  %-8s %-9s %12s %12s %14s %12s\n",
        static_cast<long long>(bench.candidates), shots.size(), torch::get_num_threads(), bench.repeats, "family",
        "scorer", "score ms", "prepare ms", "pairs/s", ("batch" + std::to_string(bench.batch) + " ms").c_str());
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
      // A batch of `batch` pairs chosen together, from the scores (the scorer's own call is not counted again).
      std::vector<double> batch_ms;
      auto scores = score_with(*scorer, model, state, prepared);
      for (int r = 0; r < bench.repeats && bench.batch > 1; ++r) {
        auto t0 = Clock::now();
        choose_batch(model, state, prepared, *scorer, scores, bench.batch);
        batch_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      const double b = batch_ms.empty() ? 0.0 : median(batch_ms);
      out["rows"].push_back({{"family", family},
                             {"scorer", name},
                             {"score_ms", m},
                             {"batch_ms", b},
                             {"prepare_ms", prep_ms},
                             {"pairs_per_second", bench.candidates / m * 1e3}});
      if (!setup.json)
        std::printf("  %-8s %-9s %12.3f %12.2f %14.0f %12.1f\n", family.c_str(), name.c_str(), m, prep_ms,
                    bench.candidates / m * 1e3, b);
    }
  }
  return out;
}

namespace {
// The users of an active-learning run: Persona-K with a pool of the asked size, or any preference file.
struct ActiveData {
  PreferenceData data;
  torch::Tensor features;
  std::string encoder_id, label;
};

ActiveData active_data(const ActiveBench& bench, const BenchSetup& setup) {
  if (bench.data.empty()) {
    auto pb = persona_bench_data(bench.k_star, setup, static_cast<int>(bench.pool));
    return {std::move(pb.persona.data), pb.features, pb.encoder_id,
            "Persona-K (K* = " + std::to_string(bench.k_star) + ")"};
  }
  ActiveData d{read_preferences(bench.data), {}, {}, bench.data};
  carve_validation(d.data, setup.seed);  // no-op when the file has val pairs
  d.features = bench_features(setup, d.data, &d.encoder_id);
  return d;
}

// One user's run: accuracy on her test pairs after t = 0..T answers, the posterior's spread, and the score of the
// pair asked at each round (for the information scorers: the expected gain in nats, what a tool stops on).
struct UserRun {
  std::vector<double> accuracy, spread, best_score;
  double ms = 0;
  int64_t calls = 0;
};

// Accuracy on her test pairs as the evaluator counts it (pair_metrics: ties left out).
double test_accuracy(RewardModel& model, const PairBatch& test, const UserState& state) {
  return pair_metrics(score_pairs(model, test, &state), test.label).accuracy;
}

// A scorer row's name: a registered scorer, or "<scorer>/top" for its top B by score instead of a batch chosen
// together (the same with --batch 1).
std::pair<std::string, bool> scorer_mode(const std::string& row) {
  const auto slash = row.find("/top");
  return slash == std::string::npos ? std::pair{row, true} : std::pair{row.substr(0, slash), false};
}

UserRun run_user(RewardModel& model, const Adapter& adapter, const std::string& row, int64_t batch, DatasetView& view,
                 const std::string& id, const std::vector<size_t>& pool_rows, const std::vector<size_t>& test_rows,
                 int64_t T, uint64_t seed) {
  const auto [scorer_name, together] = scorer_mode(row);
  UserRun run;
  auto tb = view.batch(test_rows);
  auto cand = view.batch(pool_rows);
  cand.user = torch::full({cand.size()}, -1, torch::kInt64);
  auto prepared = prepare_pool(model, cand);  // once per user: rounds only mask what was asked
  auto asked = torch::zeros({cand.size()}, torch::kBool);
  std::vector<size_t> answered;
  UserState state = adapter.adapt(model, PairBatch{}, id);
  auto* posterior = dynamic_cast<UserPosterior*>(&model);
  const int64_t last = std::min<int64_t>(T, static_cast<int64_t>(pool_rows.size()));
  auto measure = [&] {
    run.accuracy.push_back(test_accuracy(model, tb, state));
    if (posterior) {  // how uncertain the model says it is about her: the root mean posterior variance
      torch::AutoGradMode grad(true);
      run.spread.push_back(posterior->linearize(state, *prepared.prepared).cov.diagonal().mean().sqrt().item<double>());
    }
  };
  measure();
  for (int64_t t = 0; t < last;) {  // a round asks up to `batch` pairs; her model updates once they are answered
    const int64_t b = std::min(batch, last - t);
    auto scorer = make_query_scorer(scorer_name, seed * 1000003 + static_cast<uint64_t>(t));
    auto t0 = Clock::now();
    auto s = score_with(*scorer, model, state, prepared).masked_fill(asked, -std::numeric_limits<float>::infinity());
    auto picks = together ? choose_batch(model, state, prepared, *scorer, s, b) : choose_top(s, b);
    run.ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    run.calls += static_cast<int64_t>(picks.order.size());  // ms per asked pair, whatever the batch
    if (picks.order.empty()) break;                         // nothing left it would ask
    for (size_t k = 0; k < picks.order.size(); ++k) {
      asked[picks.order[k]] = true;
      answered.push_back(pool_rows[picks.order[k]]);
      run.best_score.push_back(picks.gain[k]);
      if (k + 1 < picks.order.size()) {  // answered, not yet learned from
        run.accuracy.push_back(run.accuracy.back());
        if (posterior) run.spread.push_back(run.spread.back());
      }
    }
    t += static_cast<int64_t>(picks.order.size());
    state = adapter.adapt(model, view.batch(answered), id);
    measure();
  }
  // A pool used up early: its last value stays (T + 1 measurements, T asked pairs).
  for (auto [v, n] : {std::pair{&run.accuracy, T + 1}, std::pair{&run.spread, T + 1}, std::pair{&run.best_score, T}})
    while (!(v == &run.spread && !posterior) && static_cast<int64_t>(v->size()) < n)
      v->push_back(v->empty() ? 0.0 : v->back());
  return run;
}

// The most any scorer can reach: her test accuracy once adapted to every pair of her pool. An active curve that
// stops rising there has used up what the pool can tell, not stalled.
json pool_ceiling(RewardModel& model, const Adapter& adapter, DatasetView& view, const PreferenceData& data,
                  const std::vector<int32_t>& users, std::map<int32_t, std::vector<size_t>>& pool_of,
                  std::map<int32_t, std::vector<size_t>>& test_of, uint64_t seed) {
  std::vector<double> acc;
  for (auto u : users) {
    auto state = adapter.adapt(model, view.batch(pool_of[u]), data.users[u].id);
    acc.push_back(test_accuracy(model, view.batch(test_of[u]), state));
  }
  return summary_json(bootstrap_mean(acc, 1000, seed));
}

// Mean over users of a per-round series.
std::vector<double> mean_series(const std::vector<UserRun>& runs, std::vector<double> UserRun::*series) {
  std::vector<double> out;
  if (runs.empty() || (runs[0].*series).empty()) return out;
  for (size_t t = 0; t < (runs[0].*series).size(); ++t) {
    double sum = 0;
    for (const auto& r : runs) sum += (r.*series)[t];
    out.push_back(sum / static_cast<double>(runs.size()));
  }
  return out;
}

json scorer_row(const std::string& name, const std::vector<UserRun>& runs, const std::vector<double>* random_auc,
                std::vector<double>& auc, uint64_t seed) {
  double ms = 0;
  int64_t calls = 0;
  for (const auto& r : runs) {
    double a = 0;
    for (double v : r.accuracy) a += v;
    auc.push_back(a / static_cast<double>(r.accuracy.size()));
    ms += r.ms;
    calls += r.calls;
  }
  json row = {{"scorer", name},
              {"auc", summary_json(bootstrap_mean(auc, 1000, seed))},
              {"ms_per_query", calls ? ms / calls : 0.0},
              {"curve", json::array()},
              {"posterior_spread", mean_series(runs, &UserRun::spread)},
              {"best_score", mean_series(runs, &UserRun::best_score)}};
  for (size_t t = 0; t < runs[0].accuracy.size(); ++t) {
    std::vector<double> at;
    for (const auto& r : runs) at.push_back(r.accuracy[t]);
    row["curve"].push_back(summary_json(bootstrap_mean(at, 1000, seed)));
  }
  if (random_auc) {
    std::vector<double> diff;
    for (size_t i = 0; i < auc.size(); ++i) diff.push_back(auc[i] - (*random_auc)[i]);
    row["auc_minus_random"] = summary_json(bootstrap_mean(diff, 1000, seed));
  }
  return row;
}

void print_family(const json& fam, const ActiveData& d, const ActiveBench& bench, size_t users) {
  const int64_t T = bench.queries;
  const std::vector<int64_t> marks = {0, 1, 2, 5, 10, 15, 20};
  std::printf("Active learning on %zu unseen users of %s, %s K = %d: test accuracy after t answered queries%s\n  %-9s",
              users, d.label.c_str(), fam["family"].get<std::string>().c_str(), bench.k,
              bench.batch > 1 ? (", asked " + std::to_string(bench.batch) + " at a time").c_str() : "", "scorer");
  for (auto t : marks)
    if (t <= T) std::printf(" %6s", ("t=" + std::to_string(t)).c_str());
  std::printf(" %22s %24s %8s %14s %16s\n", "AUC [95% CI]", "AUC - random [95% CI]", "ms/query", "spread t=0/T",
              "asked score 1/T");
  for (const auto& row : fam["scorers"]) {
    std::printf("  %-9s", row["scorer"].get<std::string>().c_str());
    for (auto t : marks)
      if (t <= T) std::printf(" %6.3f", row["curve"][t]["mean"].get<double>());
    const auto& a = row["auc"];
    std::printf("   %.3f [%.3f, %.3f]", a["mean"].get<double>(), a["lo"].get<double>(), a["hi"].get<double>());
    if (row.contains("auc_minus_random")) {
      const auto& e = row["auc_minus_random"];
      std::printf("   %+.3f [%+.3f, %+.3f]", e["mean"].get<double>(), e["lo"].get<double>(), e["hi"].get<double>());
    } else {
      std::printf(" %24s", "");
    }
    std::printf(" %8.2f", row["ms_per_query"].get<double>());
    const auto& sp = row["posterior_spread"];
    if (!sp.empty()) std::printf("  %.3f / %.3f", sp.front().get<double>(), sp.back().get<double>());
    const auto& g = row["best_score"];
    if (!g.empty() && row["scorer"] != "random")
      std::printf("  %.4f / %.4f", g.front().get<double>(), g.back().get<double>());
    std::printf("\n");
  }
  const auto& c = fam["ceiling"];
  std::printf("  ceiling, adapted to her whole pool: %.3f [%.3f, %.3f]\n", c["mean"].get<double>(),
              c["lo"].get<double>(), c["hi"].get<double>());
}
}  // namespace

json active_bench(const ActiveBench& bench, const BenchSetup& setup) {
  auto d = active_data(bench, setup);
  DatasetView view(d.data, d.features);
  std::map<int32_t, std::vector<size_t>> pool_of, test_of;
  for (auto r : view.rows(Split::support, false)) pool_of[d.data.comparisons[r].user].push_back(r);
  for (auto r : view.rows(Split::test, false)) test_of[d.data.comparisons[r].user].push_back(r);
  std::vector<int32_t> users;  // unseen users with both a pool to ask from and test pairs to score
  for (const auto& [u, rows] : pool_of)
    if (test_of.count(u)) users.push_back(u);
  PLURAL_CHECK(!users.empty(), "active: ", d.label, " has no unseen user with both support and test pairs");
  json out = {{"data", d.label},    {"k", bench.k},          {"queries", bench.queries}, {"batch", bench.batch},
              {"pool", bench.pool}, {"users", users.size()}, {"encoder", d.encoder_id},  {"families", json::array()}};
  for (const auto& family : bench.families) {
    auto trained = train_family(family, bench.k, view, setup);
    auto& model = *trained.model;
    model.eval();
    bench_note(family + " trained: " + std::to_string(trained.result.epochs_run) + " epochs");
    auto adapter = make_adapter(family);
    json fam = {{"family", family},
                {"scorers", json::array()},
                {"ceiling", pool_ceiling(model, *adapter, view, d.data, users, pool_of, test_of, setup.seed)}};
    std::map<std::string, std::vector<double>> auc_of;  // scorer -> per-user AUC, in user order
    for (const auto& name : bench.scorers) {
      std::vector<UserRun> runs;
      for (auto u : users)
        runs.push_back(run_user(model, *adapter, name, bench.batch, view, d.data.users[u].id, pool_of[u], test_of[u],
                                bench.queries, setup.seed));
      const bool vs_random = auc_of.count("random") && name != "random";
      fam["scorers"].push_back(
          scorer_row(name, runs, vs_random ? &auc_of["random"] : nullptr, auc_of[name], setup.seed));
    }
    out["families"].push_back(fam);
    if (!setup.json) print_family(fam, d, bench, users.size());
  }
  return out;
}

}  // namespace plural::bench
