#pragma once
// UKPConvArg1 crowd judgements as real per-worker preferences (docs/data_format.md).
#include <cstdint>
#include <string>

#include "core/data/data.hpp"

namespace plural::core {

struct UkpConfig {
  std::string dir = "data/ukpconvarg1";            ///< holds topics.tsv[.gz], arguments.tsv[.gz], annotations.tsv[.gz]
  int min_strict = 20;                             ///< keep workers with at least this many non-`equal` judgements
  bool keep_equal = false;                         ///< keep `equal` as label 0.5 (else dropped)
  double unseen_fraction = 0.2;                    ///< of kept workers, held out entirely (few-shot users)
  double val_fraction = 0.1, test_fraction = 0.2;  ///< of each seen worker's judgements
  double support_fraction = 0.5;                   ///< of each unseen worker's judgements; the rest is test
  uint64_t seed = 0;
  /// Give each judgement the worker's own stance towards the argued side as a context text: "" (none), "true", or
  /// "flipped" (same ↔ opposite: a counterfactual for testing whether a model uses the stance). Splits do not
  /// depend on it, so files imported with each setting line up row for row.
  std::string stance_context;
  void validate() const;
};

PreferenceData import_ukp(const UkpConfig& cfg);

}  // namespace plural::core
