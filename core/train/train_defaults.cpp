#include "core/train/train_defaults.hpp"

#include <nlohmann/json.hpp>

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

}  // namespace plural::core
