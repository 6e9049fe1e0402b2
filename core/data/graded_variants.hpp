#pragma once
// Graded variants of items, for SPO's self-supervised preference-degree loss (Li et al. 2024; core/train/spo.hpp): each
// original text may come with degraded versions at degrees 1 … K−1 (degree 0 is the original itself), e.g. with a
// growing share of its key content removed. Plain C++ (no torch).
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

struct GradedVariants {
  int32_t levels = 0;  ///< K: degrees 0 … K−1
  /// Original text index → its variants as (degree, text index), by degree.
  std::unordered_map<int32_t, std::vector<std::pair<int32_t, int32_t>>> of;
  int64_t variants = 0;        ///< rows read
  int64_t unmatched_rows = 0;  ///< rows whose original is not a text of the data (left out, and counted)
};

/// Reads JSON Lines {"text": original, "variant": degraded text, "degree": integer >= 1} and interns each variant into
/// data.texts, so the feature cache encodes it with the rest. Errors name the file, line and field: malformed rows,
/// a degree that is not a whole number >= 1, a variant equal to its original, the same (text, degree) twice.
GradedVariants read_graded_variants(const std::string& path, PreferenceData& data);

}  // namespace plural::core
