#pragma once
// One record per model family: its factory, its config fields (declared once, core/base/config_schema.hpp), its
// adapters and its training defaults. A family builds its record in its own folder; register_builtin_families()
// (core/session/builtin_families.hpp) registers every record by explicit calls, so a static link keeps them all.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/base/config_schema.hpp"
#include "core/model.hpp"

namespace plural::core {

/// What `plural train` and `plural.Model.fit` use unless told otherwise. Batches of 1024: on 2 cores every family
/// trains 2-4x faster than at 256 with the same held-out accuracy, and the original PAL's batch of 4 is ~100x slower
/// per pair (bench/RESULTS.md, "choosing the defaults"). A family changes what its training needs, with the reason.
struct TrainingDefaults {
  int64_t batch_size = 1024;
  double lr = 3e-3;
  double user_lr = 3e-2;
  int patience = 10;
  int epochs = 60;
};

/// What a family's data-dependent defaults read: the shape of the data it is about to be trained on.
struct DataShape {
  int64_t item_dim = 0, prompt_dim = 0;
  int64_t seen_users = 0;
  double median_pairs_per_user = 0;  ///< train pairs per seen user, the median
};

/// K prototypes need at least K users to tell apart: a family's default K, capped at the seen users.
inline int64_t k_for_users(int64_t default_k, const DataShape& s) {
  return std::max<int64_t>(1, std::min<int64_t>(default_k, s.seen_users));
}

struct AdapterRecord {
  std::string name;
  AdapterFactory make;
  bool is_default = false;
};

struct FamilyRecord {
  std::string name;
  std::string help;
  ModelFactory make;
  std::vector<ConfigField> config;  ///< every key its config JSON may hold
  std::vector<AdapterRecord> adapters;
  TrainingDefaults training;
  bool has_k = false;  ///< the family has K prototypes / basis vectors: `--k` sets its "k"
  /// Defaults that follow the data (a JSON object of config keys; what the user gives wins): how wide a user's
  /// head can be for the answers a user gives, how many prototypes the users can support. Unset: none.
  std::function<std::string(const DataShape&)> data_defaults;
};

/// The record of a family whose factory builds `Model` from `schema`'s reading of the config JSON and whose config
/// fields are the schema's; the family adds its adapters and training defaults. `schema` must outlive the record
/// (a function-local static).
template <class Model>
FamilyRecord schema_family(std::string name, std::string help, const ConfigSchema<typename Model::Config>& schema) {
  FamilyRecord f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.make = [&schema](const ModelDims& dims, const std::string& json) -> std::shared_ptr<RewardModel> {
    return std::make_shared<Model>(dims, schema.read(json));
  };
  f.config = schema.fields();
  return f;
}

/// Adds a family (a second record of the same name replaces the first).
void register_family(FamilyRecord record);
/// The record of `family`; ValueError listing the known families otherwise.
const FamilyRecord& family_record(const std::string& family);
/// Every registered family, by name.
std::vector<std::string> family_names();

}  // namespace plural::core
