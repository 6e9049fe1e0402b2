#include "core/data/subsets.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "core/base/hash.hpp"

namespace plural::core {

PreferenceData train_pairs_per_user(const PreferenceData& data, int64_t n) {
  PreferenceData out = data;
  out.comparisons.clear();
  std::map<int32_t, int64_t> kept;
  for (const auto& c : data.comparisons)
    if (c.split != Split::train || kept[c.user]++ < n) out.comparisons.push_back(c);
  return out;
}

PreferenceData first_train_pairs(const PreferenceData& data, int64_t n) {
  PreferenceData out = data;
  out.comparisons.clear();
  for (const auto& c : data.comparisons)
    if (c.split == Split::train && static_cast<int64_t>(out.comparisons.size()) < n) out.comparisons.push_back(c);
  return out;
}

bool has_validation(const PreferenceData& data) {
  for (const auto& c : data.comparisons)
    if (c.split == Split::val && data.users[static_cast<size_t>(c.user)].seen) return true;
  return false;
}

int64_t carve_validation(PreferenceData& data, uint64_t seed, double fraction, int64_t min_train) {
  if (has_validation(data)) return 0;
  std::map<int32_t, std::vector<size_t>> train;  // seen user -> her train rows
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    const auto& c = data.comparisons[i];
    if (c.split == Split::train && data.users[static_cast<size_t>(c.user)].seen) train[c.user].push_back(i);
  }
  int64_t moved = 0;
  for (auto& [user, rows] : train) {
    const auto n = static_cast<int64_t>(rows.size());
    if (n < min_train) continue;
    const int64_t k = std::min(n - 1, std::max<int64_t>(1, std::llround(fraction * static_cast<double>(n))));
    std::mt19937_64 rng(hash64(data.users[static_cast<size_t>(user)].id, seed));  // her draw, whatever the others
    std::shuffle(rows.begin(), rows.end(), rng);
    for (int64_t j = 0; j < k; ++j) data.comparisons[rows[static_cast<size_t>(j)]].split = Split::val;
    moved += k;
  }
  return moved;
}

}  // namespace plural::core
