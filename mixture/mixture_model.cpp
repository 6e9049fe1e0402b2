#include "mixture/mixture_model.hpp"

#include <torch/torch.h>

#include "core/error.hpp"

namespace plural::mixture {

using core::UserState;

void MixtureModel::init_users(int64_t k, bool partition, double prior_var) {
  PLURAL_CHECK(k >= 1, family(), ": K must be >= 1, got ", k);
  PLURAL_CHECK(prior_var > 0, family(), ": prior_var must be > 0, got ", prior_var);
  k_ = k;
  partition_ = partition;
  prior_var_ = prior_var;
  theta_ = register_parameter("theta", torch::randn({static_cast<int64_t>(dims_.users.size()), k}));
}

torch::Tensor MixtureModel::seen_weights(const torch::Tensor& users) const {
  auto known = (users >= 0).unsqueeze(1);
  auto th = theta_.index_select(0, users.clamp_min(0)) * known.to(theta_.dtype());
  if (partition_ && !is_training())
    return torch::one_hot(th.argmax(1), k_).to(theta_.dtype()) * known + torch::softmax(th, 1) * (~known);
  return torch::softmax(th, 1);
}

torch::Tensor MixtureModel::state_weights(const UserState& s) const {
  const auto& th = s.at("theta");
  PLURAL_CHECK(th.dim() == 1 && th.size(0) == k_, family(), ": user state '", s.user_id, "' has ", th.numel(),
               " logits, this model has K = ", k_);
  if (partition_ && !is_training() && s.shots != 0) return torch::one_hot(th.argmax(), k_).to(th.dtype());
  return torch::softmax(th, 0);
}

torch::Tensor MixtureModel::reward_seen(const core::ItemBatch& items, const torch::Tensor& users) {
  return reward_weights(items, seen_weights(users));
}

torch::Tensor MixtureModel::reward(const core::ItemBatch& items, const UserState& state) {
  check_state(state, "reward");
  return reward_weights(items, state_weights(state));
}

std::map<std::string, std::vector<torch::Tensor>> MixtureModel::param_groups() {
  // The original gives τ and the prototypes their own learning rates; name them so a TrainConfig can too.
  std::map<std::string, std::vector<torch::Tensor>> groups;
  for (const auto& p : named_parameters()) {
    const auto& k = p.key();
    groups[k == "theta" ? "user" : k == "log_scale" ? "scale" : k == "prototypes" ? "prototypes" : "shared"].push_back(
        p.value());
  }
  return groups;
}

UserState MixtureModel::seen_state(int64_t row) const {
  UserState s = RewardModel::seen_state(row);
  s.tensors["theta"] = theta_[row].detach().clone();
  return s;
}

UserState MixtureModel::prior_state() const {
  UserState s = RewardModel::prior_state();
  s.tensors["theta"] = torch::zeros({k_});
  s.tensors["cov"] = torch::eye(k_) * prior_var_;
  return s;
}

}  // namespace plural::mixture
