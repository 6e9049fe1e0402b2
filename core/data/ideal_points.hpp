#pragma once
// A stand-in for real crowds rating a few items described by numbers (docs/ideal_points.md): items are points in a
// low-dimensional space, each user likes items near her ideal point, ideal points come from a mixture of K* centres
// plus an individual spread, and answers are noisy with a lapse rate. Every family is tested on it without the
// real datasets, which stay out of the project.
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

struct IdealPointsConfig {
  int dim = 2;                 ///< item space dimension (real item embeddings: 2–10)
  int items = 20;              ///< 5–100 in real crowd data
  int prototypes = 3;          ///< K*: mixture centres of the ideal points
  double centre_spread = 1.0;  ///< std of the centres around 0 (items are N(0, I))
  double user_spread = 0.5;    ///< std of a user's ideal point around her centre (the individual deviation)
  double quality = 0.7;        ///< std of a shared per-item quality everybody sees (the population signal)
  double temperature = 0.5;    ///< logistic answer noise on the utility difference
  double lapse = 0.1;          ///< share of answers given at random (makes intransitive answers)
  int seen_users = 300, unseen_users = 100;
  int min_train_pairs = 8, max_train_pairs = 45;  ///< per seen user, uniform in the range
  int test_pairs = 10, support_pairs = 10;        ///< per user; support only for unseen users
  bool one_hot = true;  ///< append the item's one-hot to its coordinates (as real imports often do)
  uint64_t seed = 0;
  void validate() const;
};

struct IdealPoints {
  PreferenceData data;                     ///< texts "item 0" …; no prompts; no val split; user.group = her centre
  std::vector<float> features;             ///< [items, feature_dim] row-major, rows in data.texts order
  int64_t feature_dim = 0;                 ///< dim (+ items with one_hot)
  std::vector<std::vector<double>> ideal;  ///< [users][dim] planted ideal points, data.users order
};

/// Utility of item x for ideal point θ: quality − ‖x − θ‖² / √(2·dim), so the distance term has unit spread over
/// items whatever the dimension.
IdealPoints generate_ideal_points(const IdealPointsConfig& cfg);

}  // namespace plural::core
