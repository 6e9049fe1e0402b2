#pragma once
// How a data-parallel run splits the seen users' train comparisons: each seen user belongs to one shard (so her
// per-user parameters live on one rank), shards are balanced by comparison count, and every epoch each shard walks
// its own comparisons in a seeded order. Step s of the global batch is the union of every shard's step-s slice, so
// a one-process run can replay exactly what an N-process run computes. Plain C++ (no torch).
#include <cstdint>
#include <vector>

#include "core/data/data.hpp"

namespace plural::core {

class ShardPlan {
 public:
  /// Splits `data`'s seen users over `shards` shards (>= 1). The assignment depends on the data and the seed only.
  ShardPlan(const PreferenceData& data, int shards, uint64_t seed);

  int shards() const { return static_cast<int>(rows_.size()); }
  /// Shard of data user `u` (-1 for unseen users).
  int owner(int32_t user) const { return owner_[static_cast<size_t>(user)]; }
  /// Train comparison rows (indices into data.comparisons) of shard `s`, in data order.
  const std::vector<size_t>& train_rows(int s) const { return rows_[static_cast<size_t>(s)]; }

  /// Rows each shard contributes to a global batch of `batch_size`: ceil(batch_size / shards), at least 1.
  int64_t local_batch(int64_t batch_size) const;
  /// Steps per epoch: enough for the largest shard to see each of its rows once.
  int64_t steps(int64_t batch_size) const;
  /// Shard `s`'s rows in `epoch`'s order (seeded by seed, epoch and shard).
  std::vector<size_t> epoch_order(int s, int epoch) const;
  /// Shard `s`'s rows at `step` of an epoch whose order is `order` (empty when the shard has run out).
  std::vector<size_t> step_rows(const std::vector<size_t>& order, int64_t step, int64_t batch_size) const;

  /// The comparisons of shard `s`'s users (every split), with only the texts they use: what one rank loads.
  /// Users keep their order and seen flags, so a model built on it has the same user rows as on `data`.
  /// `full_row` (optional) receives, for each kept comparison, its row in `data`.
  PreferenceData shard_data(const PreferenceData& data, int s, std::vector<size_t>* full_row = nullptr) const;

 private:
  uint64_t seed_;
  std::vector<int> owner_;
  std::vector<std::vector<size_t>> rows_;
};

}  // namespace plural::core
