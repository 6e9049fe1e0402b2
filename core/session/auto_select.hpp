#pragma once
// `--model auto`: fit every candidate family with its defaults and early stopping, and keep the one whose
// validation NLL (per user, then averaged over users) is lowest. Per-user averaging makes a user with many pairs
// count as one person, as the evaluation does.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/train/fit.hpp"

namespace plural::core {

struct AutoCandidate {
  std::string family;
  int k = 0;                 ///< prototypes for families with a K (0: not one, or the family's default)
  std::string name() const;  ///< "pal-b K=3" or "bt"
};

/// BT, per-user BT, PAL-A and PAL-B over K ∈ {1, 2, 3, 4, 6, 8}, LoRe and VPL: the families that need nothing
/// but comparisons (no contexts, no rationales).
std::vector<AutoCandidate> default_auto_candidates();

struct AutoRow {
  AutoCandidate candidate;
  std::string skipped;      ///< why it was not trained ("" when it was)
  double val_accuracy = 0;  ///< over val pairs with a strict label
  double val_nll = 0;       ///< mean over users of each user's mean val NLL (the selection criterion)
  int64_t val_users = 0;
  int epochs = 0;
  double seconds = 0;
};

struct AutoOptions {
  std::vector<AutoCandidate> candidates = default_auto_candidates();
  double budget_minutes = 0;  ///< 0 = no limit; after the first model, a candidate starts only while time is left
  std::function<void(TrainConfig&)> adjust;    ///< applied to every candidate's default TrainConfig
  std::function<void(const AutoRow&)> on_row;  ///< after each candidate (a progress line)
};

struct AutoResult {
  std::vector<AutoRow> rows;  ///< every candidate, in order, trained or skipped
  int winner = -1;            ///< index into rows
  Fitted fitted;              ///< the winner's model and training result
};

/// One candidate as JSON: name, family, k, then either "skipped" or val_accuracy, val_nll, val_users, epochs,
/// seconds (non-finite numbers as null). The CLI, the bench and Python all print this shape.
nlohmann::json auto_row_json(const AutoRow& row);
/// The whole selection: {"winner": name, "family", "k", "val_nll", "val_accuracy", "candidates": [...]}.
nlohmann::json auto_result_json(const AutoResult& result);

/// Fits the candidates on `view`'s seen users and selects by validation NLL. Throws ValueError when no seen user
/// has train comparisons, when nobody has val comparisons, or when every candidate was skipped.
AutoResult fit_auto(DatasetView& view, const AutoOptions& options);

}  // namespace plural::core
