#include "bench/bench_real.hpp"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "core/data/readers.hpp"
#include "core/data/subsets.hpp"
#include "core/eval/evaluator.hpp"
#include "core/eval/report.hpp"
#include "core/session/auto_select.hpp"

namespace plural::bench {

using namespace plural::core;
using nlohmann::json;

namespace {

struct Row {
  std::string model;
  std::vector<GridCell> cells;  // seen first (when any), then unseen by shots
  double seconds = 0;
};

const GridCell* find_cell(const Row& r, const std::string& users, int64_t shots) {
  for (const auto& c : r.cells)
    if (c.users == users && (users == "seen" || c.shots == shots)) return &c;
  return nullptr;
}

Row score(const std::string& name, RewardModel& model, double seconds, DatasetView& view,
          const std::vector<int64_t>& shots, uint64_t seed) {
  EvalConfig ec;
  ec.shots = shots;
  ec.seed = seed;
  Row r{name, evaluate_grid(model, view, ec), seconds};
  const GridCell* seen = find_cell(r, "seen", -1);
  char line[200];
  std::snprintf(line, sizeof line, "%s: %.1f s, seen acc %.3f nll %.3f", name.c_str(), seconds,
                seen ? seen->pairs.accuracy : NAN, seen ? seen->pairs.nll : NAN);
  bench_note(line);
  return r;
}

// The calibration goal of #29: where a model is at least as accurate as population BT, its NLL is at most BT's.
// Marks a cell '*' when it misses it.
bool misses_calibration(const GridCell& c, const GridCell* bt) {
  return bt && c.pairs.accuracy >= bt->pairs.accuracy && c.pairs.nll > bt->pairs.nll;
}

void print_metric(const char* what, const std::vector<Row>& rows, const std::vector<int64_t>& shots,
                  double (*value)(const PairMetrics&), double (*half)(const PairMetrics&), bool mark) {
  std::printf("  %-16s %-13s", what, "seen");
  for (auto s : shots) std::printf(" %-13s", ("@" + std::to_string(s)).c_str());
  std::printf("\n");
  const Row* bt = rows.empty() || rows[0].model != "bt" ? nullptr : &rows[0];
  for (const auto& r : rows) {
    std::printf("  %-16s", r.model.c_str());
    auto cell = [&](const GridCell* c, const GridCell* ref) {
      if (!c) return (void)std::printf(" %-13s", "-");
      char buf[32];
      double h = half ? half(c->pairs) : 0;
      if (half)
        std::snprintf(buf, sizeof buf, "%.3f±%.3f%s", value(c->pairs), h,
                      mark && misses_calibration(*c, ref) ? "*" : "");
      else
        std::snprintf(buf, sizeof buf, "%.3f", value(c->pairs));
      std::printf(" %-13s", buf);
    };
    cell(find_cell(r, "seen", -1), bt ? find_cell(*bt, "seen", -1) : nullptr);
    for (auto s : shots) cell(find_cell(r, "unseen", s), bt ? find_cell(*bt, "unseen", s) : nullptr);
    std::printf("\n");
  }
}

json row_json(const Row& r) {
  json cells = json::array();
  for (const auto& c : r.cells) cells.push_back(cell_json(c));
  return {{"model", r.model}, {"train_seconds", r.seconds}, {"cells", cells}};
}

json one_dataset(const RealDataset& d, const RealBench& bench, BenchSetup setup) {
  auto data = read_preferences(d.data);
  const int64_t carved = carve_validation(data, setup.seed);
  setup.encoder = d.encoder;
  std::string encoder_id;
  auto features = bench_features(setup, data, &encoder_id);
  DatasetView view(data, features);
  std::vector<Row> rows;
  for (const auto& family : bench.models) {
    auto t = train_family(family, 0, view, setup);
    rows.push_back(score(family, *t.model, t.result.seconds, view, bench.shots, setup.seed));
  }
  json out = {{"data", d.data}, {"encoder", encoder_id}, {"val_carved", carved}, {"models", json::array()}};
  if (bench.run_auto) {
    AutoOptions ao;
    ao.adjust = [&](TrainConfig& t) {
      t.seed = setup.seed;
      t.progress = false;
      if (setup.epochs > 0) t.epochs = setup.epochs;
    };
    ao.on_row = [](const AutoRow& r) { bench_note("auto candidate " + r.candidate.name()); };
    auto a = fit_auto(view, ao);
    const auto& win = a.rows[static_cast<size_t>(a.winner)];
    rows.push_back(score("auto: " + win.candidate.name(), *a.fitted.model, 0, view, bench.shots, setup.seed));
    out["auto"] = auto_result_json(a);
  }
  for (const auto& r : rows) out["models"].push_back(row_json(r));
  if (!setup.json) {
    std::printf("%s (%s)\n  %s; %lld train pairs held out for validation\n", d.data.c_str(), encoder_id.c_str(),
                data.summary().c_str(), static_cast<long long>(carved));
    print_metric(
        "accuracy", rows, bench.shots, [](const PairMetrics& m) { return m.accuracy; },
        [](const PairMetrics& m) { return (m.acc_hi - m.acc_lo) / 2; }, false);
    print_metric(
        "NLL", rows, bench.shots, [](const PairMetrics& m) { return m.nll; },
        [](const PairMetrics& m) { return (m.nll_hi - m.nll_lo) / 2; }, true);
    std::printf("  * NLL above population BT's where the accuracy is at least BT's (the calibration goal of #29)\n");
    print_metric(
        "ECE", rows, bench.shots, [](const PairMetrics& m) { return m.ece; }, nullptr, false);
    std::printf("\n");
  }
  return out;
}

}  // namespace

json real_bench(const RealBench& bench, const BenchSetup& setup) {
  json out = {{"bench", "real"}, {"tables", json::array()}};
  for (const auto& d : bench.datasets) out["tables"].push_back(one_dataset(d, bench, setup));
  return out;
}

}  // namespace plural::bench
