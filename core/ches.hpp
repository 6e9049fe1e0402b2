#pragma once
// CHES screening (Razin et al., "Unintentional Unalignment", ICLR 2025), pooled form on cached item features:
// CHES = ⟨h⁺, h⁻⟩ − ‖h⁺‖², h⁺ / h⁻ the preferred / rejected item's features. A high CHES means the two items look
// alike to the encoder: DPO-style training on such pairs tends to push the preferred item's likelihood down, and a
// reward model learns little from them. The token-level form needs token features, which the cache does not hold.
#include <vector>

#include "core/dataset_view.hpp"

namespace plural::core {

/// Per comparison of the view's data; NaN for ties (no preferred side).
std::vector<double> pooled_ches(const DatasetView& view);

}  // namespace plural::core
