#pragma once
// Smaller training sets cut from a dataset, for learning curves and like-for-like timing: the users and texts stay
// as they are, so user rows and features still line up with the full data.
#include <cstdint>

#include "core/data/data.hpp"

namespace plural::core {

/// Each user's first `n` train comparisons; val, test and support comparisons are all kept.
PreferenceData train_pairs_per_user(const PreferenceData& data, int64_t n);

/// Only the first `n` train comparisons of the whole file (no val, test or support comparisons).
PreferenceData first_train_pairs(const PreferenceData& data, int64_t n);

/// True when some seen user has a val comparison (early stopping and model selection have something to use).
bool has_validation(const PreferenceData& data);

/// Data without a validation split gets one: about `fraction` of each seen user's train comparisons (at least one)
/// become val, drawn with `seed`; users with fewer than `min_train` train comparisons keep them all, so a user's
/// only pair is never taken. Returns how many were moved (0 when the data already has val comparisons).
int64_t carve_validation(PreferenceData& data, uint64_t seed, double fraction = 0.1, int64_t min_train = 5);

}  // namespace plural::core
