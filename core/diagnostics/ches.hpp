#pragma once
// CHES screening (Razin et al., "Unintentional Unalignment", ICLR 2025), pooled form on cached item features:
// CHES = ⟨h⁺, h⁻⟩ − ‖h⁺‖², h⁺ / h⁻ the preferred / rejected item's features. A high CHES means the two items look
// alike to the encoder: DPO-style training on such pairs tends to push the preferred item's likelihood down, and a
// reward model learns little from them. The token-level form needs a language model's per-token hidden states;
// the feature cache holds pooled rows, so token_ches takes them from the caller.
#include <vector>

#include "core/dataset_view.hpp"

namespace plural::core {

/// Per comparison of the view's data; NaN for ties (no preferred side).
std::vector<double> pooled_ches(const DatasetView& view);

/// Token-level CHES of one pair from hidden states: pos [n⁺, D] are the states that predict each preferred-response
/// token (from the last prompt token through the second-to-last response token), neg [n⁻, D] the rejected one's.
/// ⟨S⁺, S⁻⟩ − ‖S⁺‖² with S± the sums over tokens; `normalize`: ⟨S⁺/n⁺, S⁻/n⁻⟩ − ‖S⁺‖²/n⁺². Computed in float64.
double token_ches(const torch::Tensor& pos, const torch::Tensor& neg, bool normalize = false);

/// Token-level CHES of every comparison of `data` from per-text token sums [texts, D + 1] (the sum of the token
/// states, then the token count; MiniLmTokenSums gives them); NaN for ties and for a side with no tokens.
std::vector<double> token_ches_from_sums(const PreferenceData& data, const torch::Tensor& sums, bool normalize);

}  // namespace plural::core
