#include "bench/bench_accuracy.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/eval/evaluator.hpp"
#include "core/eval/report.hpp"
#include "core/eval/stats.hpp"
#include "core/family.hpp"
#include "mixture/mixture_model.hpp"

namespace plural::bench {

using namespace plural::core;
using nlohmann::json;

namespace {

// How well a mixture model's seen users' argmax prototypes match the planted groups (null without ground truth).
json recovery(RewardModel& model, const PreferenceData& data) {
  auto* mm = dynamic_cast<mixture::MixtureModel*>(&model);
  if (!mm) return json();
  std::vector<int64_t> learned, truth;
  auto arg = mm->theta().argmax(1);
  for (const auto& u : data.users) {
    int64_t row = model.user_row(u.id);
    if (row < 0 || u.group < 0) continue;
    learned.push_back(arg[row].item<int64_t>());
    truth.push_back(u.group);
  }
  if (truth.empty()) return json();
  return adjusted_rand_index(learned, truth);
}

struct Row {
  std::string model;
  int k = 0;
  Trained trained;
  std::vector<GridCell> cells;
  json ari;
};

json row_json(const Row& r) {
  json unseen = json::array();
  json seen;
  for (const auto& c : r.cells) {
    if (c.users == "seen")
      seen = cell_json(c);
    else
      unseen.push_back(cell_json(c));
  }
  const auto& t = r.trained.result;
  return {{"model", r.model},
          {"k", r.k},
          {"seen", seen},
          {"unseen", unseen},
          {"epochs", t.epochs_run},
          {"best_val_accuracy", t.best_val_accuracy},
          {"best_val_loss", t.best_val_loss},
          {"train_seconds", t.seconds},
          {"pairs_per_second", t.pairs_per_second},
          {"prototype_recovery_ari", r.ari}};
}

bool is_mixture(const std::string& family) { return family_record(family).has_k; }

Row run_one(const std::string& family, int k, DatasetView& view, const std::vector<int64_t>& shots,
            const BenchSetup& setup) {
  Row r;
  r.model = family;
  r.k = is_mixture(family) ? k : 0;
  r.trained = train_family(family, k, view, setup);
  EvalConfig ec;
  ec.shots = shots;
  ec.seed = setup.seed;
  r.cells = evaluate_grid(*r.trained.model, view, ec);
  r.ari = recovery(*r.trained.model, view.data());
  char line[160];
  std::snprintf(line, sizeof line, "%s K=%d: %d epochs, %.1f s, seen acc %.3f", family.c_str(), r.k,
                r.trained.result.epochs_run, r.trained.result.seconds,
                r.cells.empty() ? 0.0 : r.cells[0].pairs.accuracy);
  bench_note(line);
  return r;
}

const GridCell* find(const std::vector<GridCell>& cells, const std::string& users, int64_t shots) {
  for (const auto& c : cells)
    if (c.users == users && (users == "seen" || c.shots == shots)) return &c;
  return nullptr;
}

void print_rows(const std::vector<Row>& rows, const std::vector<int64_t>& shots) {
  std::printf("  %-12s %2s  %-22s", "model", "K", "seen acc [95% CI]");
  for (auto s : shots) std::printf(" %6s", ("@" + std::to_string(s)).c_str());
  std::printf(" %8s %9s %6s\n", "train s", "pairs/s", "ARI");
  for (const auto& r : rows) {
    const GridCell* seen = find(r.cells, "seen", -1);
    std::printf("  %-12s %2s  %-22s", r.model.c_str(), r.k ? std::to_string(r.k).c_str() : "-",
                seen ? accuracy_with_ci(*seen).c_str() : "-");
    for (auto s : shots) {
      const GridCell* c = find(r.cells, "unseen", s);
      c ? std::printf(" %6.3f", c->pairs.accuracy) : std::printf(" %6s", "-");
    }
    std::printf(" %8.1f %9.0f", r.trained.result.seconds, r.trained.result.pairs_per_second);
    r.ari.is_number() ? std::printf(" %6.3f\n", r.ari.get<double>()) : std::printf(" %6s\n", "-");
  }
}

}  // namespace

json accuracy_table(const std::string& title, const PreferenceData& data, int k, const AccuracyBench& bench,
                    const BenchSetup& setup) {
  std::string encoder_id;
  auto features = bench_features(setup, data, &encoder_id);
  DatasetView view(data, features);
  std::vector<int64_t> shots = {0};
  for (auto s : bench.shots)
    if (s > 0) shots.push_back(s);
  size_t seen_users = 0, train_pairs = view.rows(Split::train, true).size();
  for (const auto& u : data.users) seen_users += u.seen;
  json out = {{"title", title},
              {"k", k},
              {"encoder", encoder_id},
              {"seen_users", seen_users},
              {"unseen_users", data.users.size() - seen_users},
              {"train_pairs", train_pairs},
              {"models", json::array()},
              {"k_sweep", json::array()}};
  std::vector<Row> rows;
  for (const auto& family : bench.models) {
    rows.push_back(run_one(family, k, view, shots, setup));
    out["models"].push_back(row_json(rows.back()));
  }
  std::vector<Row> sweep;
  for (auto kk : bench.sweep_ks) {
    sweep.push_back(run_one(bench.sweep_model, static_cast<int>(kk), view, shots, setup));
    out["k_sweep"].push_back(row_json(sweep.back()));
  }
  // The K a user would pick without knowing K*: the smallest whose val accuracy is within 0.005 of the best.
  if (!sweep.empty()) {
    double best = 0;
    for (const auto& r : sweep) best = std::max(best, r.trained.result.best_val_accuracy);
    for (const auto& r : sweep)
      if (r.trained.result.best_val_accuracy >= best - 0.005) {
        out["k_selected_by_val"] = r.k;
        break;
      }
  }
  if (!setup.json) {
    std::printf(
        "%s\n  %zu seen users (%zu train pairs), %zu unseen users; features %s; unseen accuracy after n shots "
        "(@n)\n",
        title.c_str(), seen_users, train_pairs, data.users.size() - seen_users, encoder_id.c_str());
    print_rows(rows, shots);
    if (!sweep.empty()) {
      std::printf("  sweep over %s's K (K selected by validation accuracy: %d)\n", bench.sweep_model.c_str(),
                  out["k_selected_by_val"].get<int>());
      print_rows(sweep, shots);
    }
    std::printf("\n");
  }
  return out;
}

}  // namespace plural::bench
