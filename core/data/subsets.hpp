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

}  // namespace plural::core
