#include "core/train/shard_plan.hpp"

#include <algorithm>
#include <numeric>

#include "core/base/error.hpp"
#include "core/base/random.hpp"

namespace plural::core {

ShardPlan::ShardPlan(const PreferenceData& data, int shards, uint64_t seed) : seed_(seed) {
  PLURAL_CHECK(shards >= 1, "shards must be >= 1, got ", shards);
  const size_t U = data.users.size();
  std::vector<int64_t> count(U, 0);
  for (const auto& c : data.comparisons)
    if (c.split == Split::train && c.user >= 0 && data.users[static_cast<size_t>(c.user)].seen)
      ++count[static_cast<size_t>(c.user)];
  // Largest users first onto the least-loaded shard (LPT); a seeded shuffle first breaks ties between equal users.
  std::vector<int32_t> order;
  for (size_t u = 0; u < U; ++u)
    if (data.users[u].seen) order.push_back(static_cast<int32_t>(u));
  Rng rng(seed ^ 0x5ba4d0ULL);
  rng.shuffle(order);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return count[a] > count[b]; });
  owner_.assign(U, -1);
  std::vector<int64_t> load(static_cast<size_t>(shards), 0);
  for (int32_t u : order) {
    auto s = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    owner_[static_cast<size_t>(u)] = static_cast<int>(s);
    load[s] += count[static_cast<size_t>(u)];
  }
  rows_.assign(static_cast<size_t>(shards), {});
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    const auto& c = data.comparisons[i];
    if (c.split == Split::train && c.user >= 0 && owner_[static_cast<size_t>(c.user)] >= 0)
      rows_[static_cast<size_t>(owner_[static_cast<size_t>(c.user)])].push_back(i);
  }
}

int64_t ShardPlan::local_batch(int64_t batch_size) const {
  return std::max<int64_t>(1, (batch_size + shards() - 1) / shards());
}

int64_t ShardPlan::steps(int64_t batch_size) const {
  size_t most = 0;
  for (const auto& r : rows_) most = std::max(most, r.size());
  const int64_t b = local_batch(batch_size);
  return (static_cast<int64_t>(most) + b - 1) / b;
}

std::vector<size_t> ShardPlan::epoch_order(int s, int epoch) const {
  auto order = rows_.at(static_cast<size_t>(s));
  Rng rng(seed_ ^ (0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(epoch + 1)) ^ (0xc2b2ae35ULL * (s + 1)));
  rng.shuffle(order);
  return order;
}

std::vector<size_t> ShardPlan::step_rows(const std::vector<size_t>& order, int64_t step, int64_t batch_size) const {
  const auto b = static_cast<size_t>(local_batch(batch_size));
  const size_t begin = std::min(order.size(), static_cast<size_t>(step) * b);
  const size_t end = std::min(order.size(), begin + b);
  return {order.begin() + static_cast<std::ptrdiff_t>(begin), order.begin() + static_cast<std::ptrdiff_t>(end)};
}

PreferenceData ShardPlan::shard_data(const PreferenceData& data, int s, std::vector<size_t>* full_row) const {
  PLURAL_CHECK(s >= 0 && s < shards(), "shard ", s, " out of range [0, ", shards(), ")");
  PreferenceData out;
  out.source = data.source + " (shard " + std::to_string(s) + " of " + std::to_string(shards()) + ")";
  for (const auto& u : data.users) {
    out.user_index(u.id);
    out.users.back().seen = u.seen;
    out.users.back().group = u.group;
  }
  auto text = [&](int32_t t) { return t < 0 ? -1 : out.texts.intern(data.texts[t]); };
  if (full_row) full_row->clear();
  for (size_t i = 0; i < data.comparisons.size(); ++i) {
    auto c = data.comparisons[i];
    if (c.user < 0 || owner_[static_cast<size_t>(c.user)] != s) continue;
    c.prompt_a = text(c.prompt_a);
    c.prompt_b = text(c.prompt_b);
    c.a = text(c.a);
    c.b = text(c.b);
    c.context = text(c.context);
    c.rationale = text(c.rationale);
    out.comparisons.push_back(c);
    if (full_row) full_row->push_back(i);
  }
  return out;
}

}  // namespace plural::core
