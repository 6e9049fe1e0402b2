#pragma once
// Support sets: a user's own answered comparisons, given to families that read them at scoring time (VPL's set
// encoder, cross-attention). A set is oriented (chosen, rejected) — the label is implicit, as in VPL — and padded
// to a common length with a mask, so a batch of users of different sizes is one tensor.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/random.hpp"
#include "core/dataset_view.hpp"
#include "core/family.hpp"
#include "core/model.hpp"

namespace plural::core {

struct SupportSet {
  torch::Tensor chosen;    ///< [S, N, D]
  torch::Tensor rejected;  ///< [S, N, D]
  torch::Tensor prompt;    ///< [S, N, Dp] prompt of each pair, or undefined
  torch::Tensor mask;      ///< [S, N] bool, true = a real pair (padding is false)
  int64_t sets() const { return mask.size(0); }
};

/// One set from a user's comparisons (ties, label 0.5, carry no direction and are left out). Empty input gives a
/// set of length 0.
SupportSet support_from_pairs(const PairBatch& pairs);
/// Stores a set in a batch's `extra` with `index` [B] int64: the set of each target row.
void attach_support(PairBatch& batch, const SupportSet& set, const torch::Tensor& index);
bool has_support(const PairBatch& batch);
/// The set and the index stored by attach_support.
SupportSet support_of(const PairBatch& batch, torch::Tensor* index);

/// Draws support sets for training and evaluation batches from a pool of comparisons (e.g. seen users' train
/// split). A target comparison never appears in its own set.
class SupportSampler {
 public:
  SupportSampler(const DatasetView& view, const std::vector<size_t>& pool);
  /// One set per distinct user of `rows`, of a size drawn uniformly from [min_n, max_n] (capped by what the user
  /// has), without replacement and without any of the batch's own rows of that user.
  /// `drawn`, if given, receives each set's comparison rows.
  void attach(PairBatch& batch, const torch::Tensor& rows, int64_t min_n, int64_t max_n, Rng& rng,
              std::vector<std::vector<size_t>>* drawn = nullptr) const;
  /// The fixed set of a user for scoring: the first max_n pool rows in an order seeded by the user id.
  std::vector<size_t> fixed_rows(int32_t user, int64_t max_n, uint64_t seed) const;
  /// Builds the padded tensors for sets given as row lists.
  SupportSet gather(const std::vector<std::vector<size_t>>& sets) const;

 private:
  const DatasetView& view_;
  std::unordered_map<int32_t, std::vector<size_t>> pool_;  // user -> strict comparisons
};

/// Each seen user's fixed set (up to max_n of their train comparisons, SupportSampler::fixed_rows), padded, in
/// chunks of up to `chunk` users: fn(the chunk's model rows, their sets). What amortized families encode as the
/// seen users' states after training.
void for_seen_user_sets(const RewardModel& model, const DatasetView& view, int64_t max_n,
                        const std::function<void(const std::vector<int64_t>& rows, const SupportSet& sets)>& fn,
                        size_t chunk = 256);

/// Checks a new user's shots before an adapter reads them: the model's feature width, and finite features.
/// `who` names the adapter in the message.
void check_shot_features(const RewardModel& model, const PairBatch& shots, const std::string& who);

/// The "amortized" adapter of a family whose new user is one forward pass over their pairs: checks the shots
/// (model family, feature width, NaN), gives the prior state for no shots, and runs `encode` in eval mode without
/// grad — never a gradient step, never a shared weight changed. The family's default adapter.
using AmortizedEncode = std::function<UserState(RewardModel& model, const SupportSet& set, const UserState& fresh)>;
AdapterRecord amortized_adapter(const std::string& family, AmortizedEncode encode);

}  // namespace plural::core
