#pragma once
// The few-shot API in one object: a trained model plus the feature cache (and the encoder for texts the cache
// lacks). A new user's few comparisons, as texts or feature rows -> their UserState; then the reward of any
// (prompt, response) for that user. Shared weights are never changed.
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace plural::core {

class Encoder;
class FeatureCache;

/// One answered comparison as texts: the user preferred `chosen` over `rejected` (or, with `p_chosen` < 1, did so
/// with that probability). `prompt` may be empty for models that do not use prompts.
struct TextComparison {
  std::string prompt, chosen, rejected;
  double p_chosen = 1.0;
  double weight = 1.0;
};

class Personalizer {
 public:
  struct Options {
    std::string encoder;  ///< encoder spec for texts not in the cache ("" = inferred from the model's encoder id)
    std::string adapter;  ///< "" = the family's default (Newton for the mixture family)
    std::string adapter_options = "{}";
  };
  /// Loads `model_path`; features come from (and new texts go into) the HDF5 cache at `cache_path`.
  Personalizer(const std::string& model_path, const std::string& cache_path, Options options);
  Personalizer(const std::string& model_path, const std::string& cache_path);
  ~Personalizer();

  /// A new user's comparisons -> their state. An empty list gives the model's prior state.
  UserState adapt(const std::string& user_id, const std::vector<TextComparison>& comparisons);
  /// The same from feature rows (the labels and weights of `shots` are used; users are ignored).
  UserState adapt(const std::string& user_id, const PairBatch& shots);
  /// The trained state of a user the model was trained on (ValueError for an unknown id).
  UserState seen_user(const std::string& user_id) const;

  /// Reward of `response` to `prompt` for `user`.
  double reward(const UserState& user, const std::string& prompt, const std::string& response);
  /// Rewards of several responses to one prompt.
  std::vector<double> rewards(const UserState& user, const std::string& prompt,
                              const std::vector<std::string>& responses);
  /// P(user prefers a over b) for one prompt.
  double prefer(const UserState& user, const std::string& prompt, const std::string& a, const std::string& b);
  /// Rewards [B] of feature rows.
  torch::Tensor rewards(const UserState& user, const ItemBatch& items);

  /// Feature rows [n, D] of texts (encoding and caching the missing ones).
  torch::Tensor features(const std::vector<std::string>& texts);
  /// Comparisons as texts -> the PairBatch the adapters and models take.
  PairBatch pairs(const std::vector<TextComparison>& comparisons);

  RewardModel& model() { return *model_; }
  const std::string& encoder_id() const { return encoder_id_; }

 private:
  ItemBatch items(const std::string& prompt, const std::vector<std::string>& responses);
  std::shared_ptr<RewardModel> model_;
  std::unique_ptr<FeatureCache> cache_;
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<Adapter> adapter_;
  std::string encoder_id_, encoder_spec_;
};

}  // namespace plural::core
