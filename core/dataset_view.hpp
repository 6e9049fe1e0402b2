#pragma once
// A PreferenceData joined with its text features, ready to cut into PairBatches for one model.
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/data/data.hpp"
#include "core/data/graded_variants.hpp"
#include "core/model.hpp"

namespace plural::core {

class DatasetView {
 public:
  /// text_features: float [texts, D] in data.texts order. Item, prompt and context features all come from it.
  DatasetView(const PreferenceData& data, torch::Tensor text_features);

  /// Sizes for building a model on this data; users = the seen users, in data order.
  ModelDims dims() const;
  /// Maps this data's users onto a model's seen-user rows (-1 for users the model does not know).
  void bind(const RewardModel& model);

  PairBatch batch(const torch::Tensor& rows) const;  ///< rows: int64 comparison indices
  /// Items by text index [M] with their prompts [M] (-1 = none; ignored when the data has no prompts).
  ItemBatch items(const torch::Tensor& texts, const torch::Tensor& prompts) const;
  PairBatch batch(const std::vector<size_t>& rows) const;
  /// Comparison rows of one split for seen or unseen users.
  std::vector<size_t> rows(Split split, bool seen_users) const { return data_.select(split, seen_users); }

  const PreferenceData& data() const { return data_; }
  const torch::Tensor& features() const { return features_; }
  /// Uses prompts and contexts as `full` does: a shard's view must build the same model as the whole data's, even
  /// when its own users have no prompts or contexts (theirs then read the zero row, as in one process).
  void use_layout_of(const PreferenceData& full) {
    has_prompts_ = full.has_prompts();
    has_contexts_ = full.has_contexts();
  }
  bool has_prompts() const { return has_prompts_; }
  bool has_contexts() const { return has_contexts_; }
  bool has_rationales() const { return rationale_.defined(); }
  /// Graded variants of this data's texts (read_graded_variants on this data before the view was built), for SPO's
  /// degree loss; null: none.
  void set_graded_variants(std::shared_ptr<const GradedVariants> variants);
  const std::shared_ptr<const GradedVariants>& graded_variants() const { return variants_; }

 private:
  const PreferenceData& data_;
  torch::Tensor features_;  // [T + 1, D]; the last row is zeros, used for "no prompt/context"
  torch::Tensor a_, b_, pa_, pb_, ctx_, user_, label_, weight_, data_user_;
  torch::Tensor margin_;     // undefined when every margin is 0
  torch::Tensor rationale_;  // text index per comparison (-1 = none); undefined when no comparison has one
  torch::Tensor user_rows_;  // data user -> model row
  std::shared_ptr<const GradedVariants> variants_;
  bool has_prompts_ = false, has_contexts_ = false;
};

}  // namespace plural::core
