#pragma once
// Length control for a trained reward model (after length-controlled AlpacaEval, reference §5.5): the model's logits
// are split into φ · tanh(Δlen / sd) (least squares) and the rest, and the length term is removed. Reports how often
// the model prefers the longer item with and without that term, and its accuracy against the labels both ways, overall
// and per user. Plain C++ on given logits (no torch).
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data.hpp"
#include "core/diagnostics/attribution.hpp"

namespace plural::core {

struct LengthControl {
  int64_t rows = 0;          ///< strict comparisons scored
  int64_t length_pairs = 0;  ///< of those, pairs whose items differ in length
  double data_longer = 0;    ///< share of length pairs whose label prefers the longer item
  double model_longer = 0;   ///< share the model prefers the longer item
  double lc_longer = 0;      ///< the same after removing φ·tanh(Δlen/sd) from the logits
  double phi = 0, phi_se = 0;
  /// User-given covariates fitted jointly with length (each per RMS of its difference), and removed with it.
  struct Covariate {
    std::string name;
    double scale = 0, coef = 0, se = 0;
  };
  std::vector<Covariate> covariates;
  int64_t covariate_rows = 0;  ///< comparisons with every covariate known: the joint fit's rows
  double accuracy = 0, lc_accuracy = 0;
  struct User {
    std::string id;
    int64_t rows = 0;
    double accuracy = 0, lc_accuracy = 0, model_longer = 0, lc_longer = 0;  ///< NaN without length pairs
  };
  std::vector<User> users;  ///< users with at least 10 scored rows
  std::vector<std::string> warnings;
};

/// rows: comparison indices of `data`; logits: the model's log-odds that a ≻ b for each row. Ties are skipped.
/// covariates (per text, NaN = unknown; e.g. read_item_properties): fitted jointly with the length term on the
/// comparisons where all are known, and removed with it wherever known ("controlled" then means all of them).
LengthControl length_control(const PreferenceData& data, const std::vector<size_t>& rows,
                             const std::vector<double>& logits, const ItemProperties& covariates = {});

}  // namespace plural::core
