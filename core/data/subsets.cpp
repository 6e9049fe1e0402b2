#include "core/data/subsets.hpp"

#include <map>

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

}  // namespace plural::core
