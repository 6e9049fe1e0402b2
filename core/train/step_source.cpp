#include "core/train/step_source.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "core/train/distributed.hpp"
#include "core/train/shard_plan.hpp"
#include "core/train/trainer.hpp"

namespace plural::core {

StepSource::StepSource(const DatasetView& view, const TrainConfig& cfg, const DataParallel* dp, Rng& rng)
    : cfg_(cfg), dp_(dp), rng_(rng) {
  if (!dp_) {
    auto rows = view.rows(Split::train, true);
    order_.assign(rows.begin(), rows.end());
    return;
  }
  const auto& plan = *dp_->plan;
  for (int s = 0; s < plan.shards(); ++s)
    PLURAL_CHECK(!plan.train_rows(s).empty(), dp_->full->source, ": shard ", s, " of ", plan.shards(),
                 " has no train comparisons (fewer seen users with train data than ranks?)");
  if (dp_->comm) {
    local_of_.assign(dp_->full->comparisons.size(), -1);
    for (size_t i = 0; i < dp_->full_row.size(); ++i) local_of_[dp_->full_row[i]] = static_cast<int64_t>(i);
  }
}

int64_t StepSource::total_rows() const {
  if (!dp_) return static_cast<int64_t>(order_.size());
  int64_t n = 0;
  for (int s = 0; s < dp_->plan->shards(); ++s) n += static_cast<int64_t>(dp_->plan->train_rows(s).size());
  return n;
}

int64_t StepSource::steps() const {
  if (!dp_) return (total_rows() + cfg_.batch_size - 1) / cfg_.batch_size;
  return dp_->plan->steps(cfg_.batch_size);
}

void StepSource::start_epoch(int epoch) {
  if (!dp_) {
    rng_.shuffle(order_);
    perm_ = torch::tensor(order_, torch::kInt64);
    return;
  }
  shard_orders_.clear();
  for (int s = 0; s < dp_->plan->shards(); ++s) shard_orders_.push_back(dp_->plan->epoch_order(s, epoch));
}

StepRows StepSource::step(int64_t s) const {
  if (dp_) return shard_step(s);
  StepRows out;
  const auto n = static_cast<int64_t>(order_.size());
  out.rows = perm_.slice(0, s * cfg_.batch_size, std::min(n, (s + 1) * cfg_.batch_size));
  out.global_count = out.rows.size(0);
  return out;
}

StepRows StepSource::shard_step(int64_t s) const {
  StepRows out;
  const auto& plan = *dp_->plan;
  std::vector<int64_t> mine;
  for (int sh = 0; sh < plan.shards(); ++sh) {
    auto rows = plan.step_rows(shard_orders_[static_cast<size_t>(sh)], s, cfg_.batch_size);
    out.global_count += static_cast<int64_t>(rows.size());
    bool is_mine = dp_->comm ? sh == dp_->comm->rank() : true;
    if (!is_mine) continue;
    if (!dp_->comm) out.shard_sizes.push_back(static_cast<int64_t>(rows.size()));
    for (auto r : rows) mine.push_back(dp_->comm ? local_of_[r] : static_cast<int64_t>(r));
  }
  out.rows = torch::tensor(mine, torch::kInt64);
  return out;
}

}  // namespace plural::core
