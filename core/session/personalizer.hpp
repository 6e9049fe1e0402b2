#pragma once
// The front door: a trained model, the features of texts (read from the shared cache, missing ones encoded) and an
// adapter. Everything a tool does with a model goes through here: fitting a family with its defaults, resolving and
// adapting a user, rewards and preferences, ranking query pairs, and a typed view of a user's learned vector. The
// CLI verbs and Python's plural.Model are thin layers over it. Shared weights are never changed after fitting.
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/model.hpp"
#include "core/session/auto_select.hpp"
#include "core/train/trainer.hpp"
#include "embeddings/feature_source.hpp"

namespace plural::core {

struct PreferenceData;
struct GradedVariants;
class DatasetView;

/// One answered comparison as texts: the user preferred `chosen` over `rejected` (or, with `p_chosen` < 1, did so
/// with that probability). `prompt` may be empty for models that do not use prompts.
struct TextComparison {
  std::string prompt, chosen, rejected;
  double p_chosen = 1.0;
  double weight = 1.0;
};

/// Who a reward or query is for, from what the caller has (first that is given wins): a saved state, her answered
/// comparisons in `answers` (adapted now), a seen user's id, or nothing (the population prior).
struct UserSource {
  std::string state_path;
  const PreferenceData* answers = nullptr;
  std::string answers_path;     ///< for messages
  std::string user_id;          ///< which user of `answers` (default: its only one), or a seen user's id
  const char* who = "answers";  ///< the caller, for messages about `answers`
};

/// Candidate pairs ranked for one user, best first.
struct QueryRanking {
  std::string scorer;
  std::vector<int64_t> order;  ///< indices into the candidates in the order chosen (at most n)
  std::vector<double> gain;    ///< each chosen pair's score, given the pairs chosen before it when `batch`
  bool batch = true;           ///< chosen together (choose_batch), not as the top n by score
  torch::Tensor scores;        ///< [candidates]
  torch::Tensor p_a;           ///< [candidates] P(the user prefers a)
  double prepare_ms = 0, score_ms = 0;
};

struct PersonalizerOptions {
  std::string encoder;        ///< encoder spec for texts not in the cache ("" = see infer_encoder)
  bool infer_encoder = true;  ///< with no spec, encode with the encoder the model's features came from
  std::string adapter;        ///< "" = the family's default (Newton for the mixture family)
  std::string adapter_options = "{}";
};

class Personalizer {
 public:
  using Options = PersonalizerOptions;
  /// Loads `model_path`; features come from (and new texts go into) the HDF5 cache at `cache_path`.
  Personalizer(const std::string& model_path, const std::string& cache_path, Options options);
  Personalizer(const std::string& model_path, const std::string& cache_path);
  /// A model already in memory (just fitted, or loaded by the caller) whose features come from `features`.
  Personalizer(std::shared_ptr<RewardModel> model, FeatureSource features, Options options);
  ~Personalizer();
  Personalizer(Personalizer&&) noexcept;

  /// Fits `family` from `config_json` with `train` (start from fit_config(family)) on `data`'s seen users;
  /// `variants` are SPO's graded variants of its texts (for train.spo_weight > 0).
  static Personalizer fit(const std::string& family, const PreferenceData& data, FeatureSource features,
                          const std::string& config_json, const TrainConfig& train, TrainResult* result = nullptr,
                          Options options = {}, std::shared_ptr<const GradedVariants> variants = nullptr);
  /// `--model auto`: fits every candidate of `options` on `data` and keeps the one with the lowest validation NLL
  /// (core/session/auto_select.hpp); `table` gets every candidate's row.
  static Personalizer fit_auto(const PreferenceData& data, FeatureSource features, const AutoOptions& auto_options,
                               AutoResult* table = nullptr, Options options = {});
  /// Saves the model with the id of the features it reads (what load and a Personalizer from a path need).
  void save(const std::string& path) const;

  /// A new user's comparisons -> their state. An empty list gives the model's prior state.
  UserState adapt(const std::string& user_id, const std::vector<TextComparison>& comparisons);
  /// The same from feature rows (the labels and weights of `shots` are used; users are ignored).
  UserState adapt(const std::string& user_id, const PairBatch& shots);
  /// The same with another of the family's adapters for this call ("" = the session's own).
  UserState adapt(const std::string& user_id, const PairBatch& shots, const std::string& adapter,
                  const std::string& adapter_options);
  /// The trained state of a user the model was trained on (ValueError for an unknown id).
  UserState seen_user(const std::string& user_id) const;
  /// The state `source` names (a saved state from another model is refused when it is scored: every family checks).
  UserState user(UserSource source);
  /// The user's learned vector, typed (mixture weights, latent mean, personal head; Kind::none without one).
  UserEmbedding user_embedding(const UserState& user) const;

  /// Reward of `response` to `prompt` for `user`.
  double reward(const UserState& user, const std::string& prompt, const std::string& response);
  /// Rewards of several responses to one prompt.
  std::vector<double> rewards(const UserState& user, const std::string& prompt,
                              const std::vector<std::string>& responses);
  /// P(user prefers a over b) for one prompt.
  double prefer(const UserState& user, const std::string& prompt, const std::string& a, const std::string& b);
  /// Rewards [B] of feature rows, in eval mode without grad.
  torch::Tensor rewards(const UserState& user, const ItemBatch& items);
  /// P(user prefers a over b) [B] for each pair of feature rows, in eval mode without grad.
  torch::Tensor preferences(const UserState& user, const PairBatch& pairs);

  /// The `n` candidate pairs most worth asking `user` next, by `scorer` (bald, bald-mc, epig, dopt, random):
  /// chosen together as a batch (core/query_batch.hpp) unless `batch` is false, then the top n by score. Pairs whose
  /// gain is below `min_gain` are left out: with none left, there is nothing worth asking (the stopping rule).
  QueryRanking query(const UserState& user, const PairBatch& candidates, const std::string& scorer, int64_t n,
                     uint64_t seed = 0, bool batch = true, double min_gain = -1e300);

  /// Feature rows [n, D] of texts (encoding and caching the missing ones).
  torch::Tensor features(const std::vector<std::string>& texts);
  /// `data` joined with the features of all its texts.
  DatasetView view(const PreferenceData& data);
  /// Comparisons as texts -> the PairBatch the adapters and models take.
  PairBatch pairs(const std::vector<TextComparison>& comparisons);
  /// Responses to one prompt (and, for context models, under one context text; "" = the null context) as rows.
  ItemBatch items(const std::string& prompt, const std::vector<std::string>& responses,
                  const std::string& context = "");

  RewardModel& model() { return *model_; }
  std::shared_ptr<RewardModel> shared_model() const { return model_; }
  const std::string& encoder_id() const { return features_.encoder_id(); }
  FeatureSource& feature_source() { return features_; }
  const Adapter& adapter() const { return *adapter_; }

 private:
  std::shared_ptr<RewardModel> model_;
  FeatureSource features_;
  std::unique_ptr<Adapter> adapter_;
};

/// The rows of `user`'s non-test comparisons in `data`; an empty `user` becomes the data's only user (an error when
/// it has several). `who` and `path` name the caller and the file in messages.
std::vector<size_t> user_answer_rows(const PreferenceData& data, std::string& user, const std::string& path,
                                     const char* who);

}  // namespace plural::core
