#include "core/session/auto_select.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "core/base/error.hpp"
#include "core/eval/evaluator.hpp"
#include "core/train/train_defaults.hpp"

namespace plural::core {

std::string AutoCandidate::name() const { return k > 0 ? family + " K=" + std::to_string(k) : family; }

std::vector<AutoCandidate> default_auto_candidates() {
  std::vector<AutoCandidate> out = {{"bt", 0}, {"per-user-bt", 0}};
  for (const char* f : {"pal-a", "pal-b"})
    for (int k : {1, 2, 3, 4, 6, 8}) out.push_back({f, k});
  // The hierarchical family's deviations take up what a larger K would: a few prototypes are enough.
  for (int k : {1, 2, 3, 4}) out.push_back({"pal-h", k});
  out.push_back({"lore", 0});
  out.push_back({"vpl", 0});
  return out;
}

namespace {
using Clock = std::chrono::steady_clock;

// Why `c` cannot be trained on this data ("" when it can).
std::string skip_reason(const AutoCandidate& c, int64_t seen_users) {
  if (c.k > 0 && c.k > seen_users)
    return "K = " + std::to_string(c.k) + " prototypes need at least as many seen users (" +
           std::to_string(seen_users) + ")";
  return "";
}

// Validation accuracy over strict pairs and NLL averaged per user, then over users.
void score_validation(RewardModel& model, DatasetView& view, AutoRow& row) {
  std::map<int32_t, std::vector<size_t>> by_user;
  for (size_t i : view.rows(Split::val, true)) by_user[view.data().comparisons[i].user].push_back(i);
  double correct = 0, strict = 0, nll_sum = 0;
  for (const auto& [u, rows] : by_user) {
    auto b = view.batch(rows);
    const auto m = pair_metrics(score_pairs(model, b, nullptr), b.label);  // the evaluator's NLL and accuracy
    strict += static_cast<double>(m.strict);
    if (m.strict > 0) correct += m.accuracy * static_cast<double>(m.strict);
    nll_sum += m.nll;
  }
  row.val_users = static_cast<int64_t>(by_user.size());
  row.val_accuracy = strict > 0 ? correct / strict : std::nan("");
  row.val_nll = by_user.empty() ? std::nan("") : nll_sum / static_cast<double>(by_user.size());
}
}  // namespace

nlohmann::json auto_row_json(const AutoRow& r) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json j = {{"name", r.candidate.name()}, {"family", r.candidate.family}, {"k", r.candidate.k}};
  if (!r.skipped.empty()) {
    j["skipped"] = r.skipped;
    return j;
  }
  j.update({{"val_accuracy", num(r.val_accuracy)},
            {"val_nll", num(r.val_nll)},
            {"val_users", r.val_users},
            {"epochs", r.epochs},
            {"seconds", r.seconds}});
  return j;
}

nlohmann::json auto_result_json(const AutoResult& result) {
  auto rows = nlohmann::json::array();
  for (const auto& r : result.rows) rows.push_back(auto_row_json(r));
  const auto& win = result.rows.at(static_cast<size_t>(result.winner));
  auto j = auto_row_json(win);
  return {{"winner", win.candidate.name()}, {"family", win.candidate.family},    {"k", win.candidate.k},
          {"val_nll", j["val_nll"]},        {"val_accuracy", j["val_accuracy"]}, {"candidates", rows}};
}

AutoResult fit_auto(DatasetView& view, const AutoOptions& options) {
  const auto& data = view.data();
  int64_t seen_users = 0;
  for (const auto& u : data.users) seen_users += u.seen;
  PLURAL_CHECK(!view.rows(Split::train, true).empty(), data.source,
               ": --model auto needs seen users with train comparisons; every user here is unseen");
  PLURAL_CHECK(!view.rows(Split::val, true).empty(), data.source,
               ": --model auto selects by validation NLL, but no seen user has val comparisons (a held-out share is "
               "carved only from users with at least 5 train pairs)");
  PLURAL_CHECK(!options.candidates.empty(), "--model auto: no candidates");
  for (const auto& c : options.candidates) require_model_family(c.family);
  AutoResult out;
  const auto start = Clock::now();
  double best = std::numeric_limits<double>::infinity();
  for (const auto& c : options.candidates) {
    AutoRow row;
    row.candidate = c;
    row.skipped = skip_reason(c, seen_users);
    double spent = std::chrono::duration<double>(Clock::now() - start).count() / 60.0;
    if (row.skipped.empty() && out.winner >= 0 && options.budget_minutes > 0 && spent >= options.budget_minutes)
      row.skipped = "time budget spent";
    if (row.skipped.empty()) {
      TrainConfig tc = fit_config(c.family, options.adjust);
      auto fitted = fit_family(c.family, view, default_model_config(c.family, c.k), tc);
      score_validation(*fitted.model, view, row);
      row.epochs = fitted.result.epochs_run;
      row.seconds = fitted.result.seconds;
      if (std::isfinite(row.val_nll) && row.val_nll < best) {
        best = row.val_nll;
        out.winner = static_cast<int>(out.rows.size());
        out.fitted = std::move(fitted);
      }
    }
    out.rows.push_back(row);
    if (options.on_row) options.on_row(row);
  }
  PLURAL_CHECK(out.winner >= 0, "--model auto: every candidate was skipped (", out.rows.front().skipped, ")");
  return out;
}

}  // namespace plural::core
