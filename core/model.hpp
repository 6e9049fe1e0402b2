#pragma once
// The model contract every family implements: RewardModel scores items for a UserState; an Adapter turns a new
// user's few comparisons into a UserState without touching shared weights; a QueryScorer ranks candidate pairs
// by how much answering them would tell us about one user.
#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace plural::core {

class DatasetView;

/// Features of items to score, gathered from the feature table. Tensors a family does not use may be undefined.
struct ItemBatch {
  torch::Tensor x;            ///< [B, D] item features
  torch::Tensor prompt;       ///< [B, Dp] prompt features, or undefined
  torch::Tensor context;      ///< [B, Dc] context features (zeros where has_context is false), or undefined
  torch::Tensor has_context;  ///< [B] bool, or undefined
  int64_t size() const { return x.size(0); }
};

/// A batch of comparisons: P(a ≻ b) = sigmoid(logit).
struct PairBatch {
  ItemBatch a, b;
  torch::Tensor user;    ///< [B] int64 row of the model's seen-user table, -1 for a user it was not trained on
  torch::Tensor label;   ///< [B] float P(a ≻ b)
  torch::Tensor weight;  ///< [B] float
  torch::Tensor margin;  ///< [B] float, or undefined: no margins (see train_logits)
  /// Training-time only (never read when scoring): [B, D] features of each pair's rationale (zeros where it has none)
  /// and [B] int64 its text index (-1 = none); both undefined when the data has no rationales.
  torch::Tensor rationale, rationale_id;
  std::map<std::string, torch::Tensor> extra;  ///< family-specific inputs (support sets, ...)
  int64_t size() const { return label.size(0); }
  PairBatch select(const torch::Tensor& rows) const;  ///< a subset by row indices (int64)
};

/// What a model knows about one person. Serializable; carries the id of the model that made it so a state from
/// another model (or another K) is refused.
struct UserState {
  std::string family;    ///< e.g. "bt", "per-user-bt", "pal-b"
  std::string model_id;  ///< RewardModel::model_id() of the model it belongs to
  /// RewardModel::weights_id() of the exact trained weights it was adapted on ("" = not known: an unsaved model)
  std::string model_weights;
  std::string user_id;
  int64_t shots = 0;                             ///< comparisons it was adapted from (-1: a seen user's trained state)
  std::map<std::string, torch::Tensor> tensors;  ///< e.g. "theta", "cov" (PAL), "mu", "sigma" (VPL)

  const torch::Tensor& at(const std::string& name) const;
  void save(const std::string& path) const;
  static UserState load(const std::string& path);
};

/// A user's learned vector, typed, so tools read it without knowing a family's state keys.
struct UserEmbedding {
  enum class Kind { none, mixture_weights, latent_mean, head };
  Kind kind = Kind::none;  ///< none: the family has no per-user vector (a population model)
  torch::Tensor values;    ///< [d]: simplex weights (PAL, LoRe), the latent mean (VPL), the personal head (per-user BT)
};
/// "mixture_weights", "latent_mean", "head" or "none".
std::string embedding_kind_name(UserEmbedding::Kind kind);

/// Sizes of the inputs a model is built for.
struct ModelDims {
  int64_t item_dim = 0;
  int64_t prompt_dim = 0;          ///< 0: prompts not used
  int64_t context_dim = 0;         ///< 0: contexts not used
  std::vector<std::string> users;  ///< seen users, in row order
};

class RewardModel : public torch::nn::Module {
 public:
  virtual std::string family() const = 0;
  /// Hyperparameters as a JSON object (what the registry needs to rebuild the model).
  virtual std::string config_json() const = 0;

  /// Rewards [B] of items for seen users (rows of the user table; -1 = the prior/population user).
  virtual torch::Tensor reward_seen(const ItemBatch& items, const torch::Tensor& users) = 0;
  /// Rewards [B] of items for one user state (seen or adapted).
  virtual torch::Tensor reward(const ItemBatch& items, const UserState& state) = 0;
  /// Preference logits [B] for seen users; the default is a reward difference.
  virtual torch::Tensor logits(const PairBatch& batch);
  /// Preference logits [B] for one user state.
  virtual torch::Tensor logits_for(const PairBatch& batch, const UserState& state);
  /// A learned representation [B, H] of items, in which the model's preferences live (PAL's projection f(x), an MLP's
  /// last hidden layer). The rationale loss (core/train/rationale.hpp) shapes it; undefined (the default): none.
  virtual torch::Tensor item_representation(const ItemBatch& items) { return {}; }
  /// Extra loss terms (e.g. an L2 prior on user parameters); added to the data loss by the Trainer.
  virtual torch::Tensor regularizer(const PairBatch& batch);
  /// What regularizer() averages over in `batch`; a data-parallel run weighs each rank's regularizer by its share.
  /// Default: the pairs.
  virtual double regularizer_units(const PairBatch& batch) const;
  /// Named parameter groups, so the Trainer can give user parameters their own learning rate.
  virtual std::map<std::string, std::vector<torch::Tensor>> param_groups();
  /// Tensors whose row i belongs to seen user i (per-user parameters, per-user encodings). A data-parallel run
  /// keeps each user's rows on the rank that owns her instead of all-reducing them, and gathers them at the end.
  /// Default: the "user" parameter group's tensors with one row per seen user.
  virtual std::vector<torch::Tensor> seen_user_tensors();

  /// Families that read a user's own comparisons when scoring (VPL, cross-attention) want support sets with each
  /// training batch: {min, max} pairs per set (core/support.hpp). {0, 0}, the default: none.
  virtual std::pair<int64_t, int64_t> support_range() const { return {0, 0}; }
  /// Recomputes what depends on the seen users' data rather than on parameters (an amortized family encodes each
  /// seen user's train comparisons). The Trainer calls it before every validation and after training.
  virtual void refresh_seen_users(const DatasetView& view) {}
  /// Named training diagnostics for the metrics log (e.g. VPL's KL per latent dimension); empty by default.
  virtual std::vector<std::pair<std::string, double>> diagnostics(const DatasetView& view) { return {}; }

  /// The trained state of seen user `row`.
  virtual UserState seen_state(int64_t row) const;
  /// The state of a user with no data (the population view).
  virtual UserState prior_state() const;
  /// The user's learned vector in `state` (Kind::none for families without one).
  virtual UserEmbedding user_embedding(const UserState& state) const { return {}; }

  const ModelDims& dims() const { return dims_; }
  int64_t user_row(const std::string& id) const;  ///< -1 when not a seen user
  /// Stable fingerprint: family + config + dims (+ the seen-user list). UserStates carry it.
  std::string model_id() const;
  /// After a change that config_json() shows (training's prior tuning): model_id() and the weights id are
  /// computed afresh. Not thread-safe; only fit calls it, before the model is shared.
  void forget_model_id() { id_cache_ = std::make_shared<IdCache>(); }
  /// Fingerprint of the exact weights, set when the model is saved or loaded ("" until then, and after train()
  /// starts changing them). A state adapted on one training run is refused by a retrained model of the same config.
  std::string weights_id() const;
  void set_weights_id(std::string id) const;
  /// Throws ValueError unless `s` was made by a model with this model_id (and these weights, when both are known).
  void check_state(const UserState& s, const char* fn) const;

 protected:
  void set_dims(ModelDims dims);
  UserState make_state(const std::string& user_id, int64_t shots) const;
  ModelDims dims_;
  std::unordered_map<std::string, int64_t> user_rows_;

 private:
  // model_id() hashes the config and every seen-user id; scoring checks it on each call, so it is computed once
  // (config and dims do not change after construction, except through forget_model_id()).
  struct IdCache {
    std::once_flag once;
    std::string id;
    mutable std::mutex weights_mutex;
    std::string weights;
  };
  std::shared_ptr<IdCache> id_cache_ = std::make_shared<IdCache>();
};

/// Turns a new user's comparisons into a UserState. Must not modify the model's parameters.
class Adapter {
 public:
  virtual ~Adapter() = default;
  virtual std::string name() const = 0;
  /// `shots` may be empty: the result is then the model's prior state.
  virtual UserState adapt(RewardModel& model, const PairBatch& shots, const std::string& user_id) const = 0;
};

/// Where every adapter starts: the model's prior state, named `user_id`, with `shots` = the number of comparisons
/// (0 for an empty PairBatch).
UserState new_user_state(const RewardModel& model, const PairBatch& shots, const std::string& user_id);

/// Candidate pairs prepared for one model (core/query.hpp).
struct QueryPool;

/// Ranks candidate pairs for one user: a higher score means a more informative question.
class QueryScorer {
 public:
  virtual ~QueryScorer() = default;
  virtual std::string name() const = 0;
  /// Scores [C] for a prepared pool (labels in it are ignored).
  virtual torch::Tensor score(RewardModel& model, const UserState& state, const QueryPool& pool) const = 0;
  /// Prepares `candidates` and scores them; a pool asked about repeatedly (many users, many rounds) should be
  /// prepared once with prepare_pool.
  torch::Tensor score(RewardModel& model, const UserState& state, const PairBatch& candidates) const;
};

// ---- families by name: each family's record (core/family.hpp) declares its factory and adapters -------------
using ModelFactory = std::function<std::shared_ptr<RewardModel>(const ModelDims&, const std::string& config_json)>;
using AdapterFactory = std::function<std::unique_ptr<Adapter>(const std::string& options_json)>;
/// Builds a model; config_json overrides the family's defaults ("{}" = defaults). Unknown keys are errors.
std::shared_ptr<RewardModel> make_model(const std::string& family, const ModelDims& dims,
                                        const std::string& config_json = "{}");
/// The adapter `name` of a family ("" = the family's default).
std::unique_ptr<Adapter> make_adapter(const std::string& family, const std::string& name = "",
                                      const std::string& options_json = "{}");
std::map<std::string, std::string> model_families();  ///< family -> help
/// Throws ValueError listing the known families unless `family` is registered.
void require_model_family(const std::string& family);
std::vector<std::string> adapter_names(const std::string& family);

/// Hash of every parameter and buffer (names, dtypes, shapes, bytes); throws ValueError naming the first tensor
/// that holds NaN or ±inf (`what` names the model in the message).
std::string weights_fingerprint(const torch::nn::Module& model, const std::string& what);

/// Saves a model with its family, config, dims, a format version, a checksum of all of it and the fingerprint of its
/// weights (one file, a torch archive, written atomically). Refuses non-finite weights.
void save_model(const RewardModel& model, const std::string& path, const std::string& encoder_id = "");
/// Loads any registered family. Errors name the file and what is wrong (unknown family, newer format, a checksum
/// that does not match, non-finite weights, ...).
std::shared_ptr<RewardModel> load_model(const std::string& path, std::string* encoder_id = nullptr);

}  // namespace plural::core
