#pragma once
// The health of a preference dataset from its records alone (no features, no model): counts, per-user coverage,
// duplicate and contradictory judgements, disagreement between users, and length bias. Plain C++ (no torch).
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

struct DataHealth {
  int64_t users = 0, seen_users = 0, unseen_users = 0, texts = 0, comparisons = 0;
  int64_t by_split[4] = {0, 0, 0, 0};  ///< train, val, test, support
  int64_t ties = 0, soft_labels = 0;   ///< label 0.5; labels strictly inside (0, 1) other than 0.5
  int64_t with_prompt = 0, with_context = 0, two_prompts = 0;  ///< DOVE-style pairs have prompt_a != prompt_b
  int64_t with_rationale = 0, distinct_rationales = 0;         ///< training-time rationales (core/train/rationale.hpp)
  // Comparisons per user: quantiles over users.
  int64_t per_user_min = 0, per_user_median = 0, per_user_max = 0;
  int64_t users_under_5 = 0;  ///< users with fewer than 5 comparisons
  // The same user judging the same two items (same prompts, same context) more than once.
  int64_t duplicate_judgements = 0;      ///< repeats that agree with the first
  int64_t contradictory_judgements = 0;  ///< repeats whose strict direction differs from an earlier one
  int64_t self_pairs = 0;                ///< a == b
  // Different users judging the same pair (pluralism, not an error).
  int64_t shared_pairs = 0;    ///< pairs judged strictly by 2+ users
  int64_t disputed_pairs = 0;  ///< of those, pairs with both directions
  // Length bias over strict pairs whose items differ in length (characters, as UTF-8 bytes).
  int64_t length_pairs = 0;
  double longer_wins = 0;                    ///< share of those pairs where the longer item is preferred
  double length_phi = 0, length_phi_se = 0;  ///< GLM P(longer wins) = σ(φ·tanh(|Δlen| / sd))
  int64_t users_length_biased = 0;    ///< users whose longer-wins share is > 3 binomial s.d. from ½ (≥ 10 pairs)
  std::vector<std::string> examples;  ///< a few contradictory judgements, as "user: a | b (rows i, j)"
  std::vector<std::string> warnings;
};

DataHealth data_health(const PreferenceData& data);

}  // namespace plural::core
