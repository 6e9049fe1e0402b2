#include "core/train/train_defaults.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "core/family.hpp"

namespace plural::core {

TrainConfig default_train_config(const std::string& family) {
  const auto& d = family_record(family).training;  // each family's reasons are beside its record
  TrainConfig t;
  t.batch_size = d.batch_size;
  t.lr = d.lr;
  t.user_lr = d.user_lr;
  t.patience = d.patience;
  t.epochs = d.epochs;
  return t;
}

std::string default_model_config(const std::string& family, int k) {
  nlohmann::json j = nlohmann::json::object();
  if (family_record(family).has_k && k > 0) j["k"] = k;
  return j.dump();
}

DataShape data_shape(const DatasetView& view) {
  DataShape s;
  const auto dims = view.dims();
  s.item_dim = dims.item_dim;
  s.prompt_dim = dims.prompt_dim;
  s.seen_users = static_cast<int64_t>(dims.users.size());
  std::map<int32_t, int64_t> per_user;
  for (size_t r : view.rows(Split::train, true)) ++per_user[view.data().comparisons[r].user];
  std::vector<int64_t> counts;
  for (const auto& [u, n] : per_user) counts.push_back(n);
  if (!counts.empty()) {
    std::nth_element(counts.begin(), counts.begin() + counts.size() / 2, counts.end());
    s.median_pairs_per_user = static_cast<double>(counts[counts.size() / 2]);
  }
  return s;
}

std::string config_for_data(const std::string& family, const DatasetView& view, const std::string& config_json) {
  const auto& record = family_record(family);
  if (!record.data_defaults) return config_json;
  auto merged = nlohmann::json::parse(record.data_defaults(data_shape(view)));
  nlohmann::json given;
  try {
    given = nlohmann::json::parse(config_json.empty() ? "{}" : config_json);
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(family + " config: not JSON: " + e.what());
  }
  PLURAL_CHECK(given.is_object(), family, " config: expected a JSON object, got ", config_json);
  merged.update(given);
  return merged.dump();
}

}  // namespace plural::core
