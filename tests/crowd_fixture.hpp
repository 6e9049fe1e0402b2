#pragma once
// A stand-in crowd from the ideal-point generator (core/data/ideal_points) with its feature rows as a tensor: the
// data most training and calibration tests run on.
#include <torch/torch.h>

#include "core/data/ideal_points.hpp"
#include "core/data/subsets.hpp"
#include "core/session/builtin_families.hpp"

namespace plural::test {

struct CrowdFixture {
  core::IdealPoints ip;
  torch::Tensor features;
  /// carve: hold out about 10 % of each seen user's train pairs as val (the generator writes none).
  explicit CrowdFixture(const core::IdealPointsConfig& cfg, bool carve = true) {
    core::register_builtin_families();
    ip = core::generate_ideal_points(cfg);
    if (carve) core::carve_validation(ip.data, 0);
    features = torch::from_blob(ip.features.data(), {static_cast<int64_t>(ip.data.texts.size()), ip.feature_dim},
                                torch::kFloat32)
                   .clone();
  }
};

inline core::IdealPointsConfig crowd_config(int items, int seen_users, int unseen_users) {
  core::IdealPointsConfig cfg;
  cfg.items = items;
  cfg.seen_users = seen_users;
  cfg.unseen_users = unseen_users;
  return cfg;
}

}  // namespace plural::test
