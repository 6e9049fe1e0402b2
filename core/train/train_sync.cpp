#include "core/train/train_sync.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/dataset_view.hpp"
#include "core/train/distributed.hpp"
#include "core/train/shard_plan.hpp"
#include "core/train/trainer.hpp"

namespace plural::core {

torch::Tensor LossShares::combine(const torch::Tensor& data_loss, const torch::Tensor& regularizer) const {
  return scaled ? data_loss * data + regularizer * reg : data_loss + regularizer;
}

void TrainSync::start(RewardModel& model, const TrainConfig&, const std::vector<torch::Tensor>& head_params) {
  auto same_tensor = [](const torch::Tensor& a, const torch::Tensor& b) {
    return a.unsafeGetTensorImpl() == b.unsafeGetTensorImpl();
  };
  user_params_ = model.seen_user_tensors();
  for (auto& p : model.parameters())  // what the optimizer steps (clipping sees all of it); not a frozen part
    if (p.requires_grad()) all_params_.push_back(p);
  for (auto& p : all_params_)
    if (std::none_of(user_params_.begin(), user_params_.end(), [&](const auto& u) { return same_tensor(u, p); }))
      shared_params_.push_back(p);
  for (auto& p : head_params) shared_params_.push_back(p), all_params_.push_back(p);
  if (counts_floats_)
    for (auto& p : shared_params_) allreduce_floats_ += p.numel();
}

void TrainSync::clip_gradients(double max_norm) { torch::nn::utils::clip_grad_norm_(all_params_, max_norm); }

void TrainSync::end_epoch(RewardModel& model, const DatasetView& view) { model.refresh_seen_users(view); }

namespace {

// Batch-norm statistics come from each rank's own batches; their average stands in for the global batches'.
void average_running_stats(RewardModel& model, Collective& comm) {
  std::vector<torch::Tensor> stats;
  for (const auto& b : model.named_buffers()) {
    const auto& k = b.key();
    auto ends = [&](const std::string& suffix) {
      return k.size() >= suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if ((ends("running_mean") || ends("running_var")) && b.value().scalar_type() == torch::kFloat32)
      stats.push_back(b.value());
  }
  if (stats.empty()) return;
  comm.allreduce_sum(stats);
  torch::NoGradGuard ng;
  for (auto& t : stats) t.div_(comm.world_size());
}

// Seen-user rows live on the rank that owns the user; this gives every rank every user's rows (the owners' values).
void gather_user_rows(RewardModel& model, const DataParallel& dp) {
  torch::NoGradGuard ng;
  const auto& users = model.dims().users;
  std::vector<float> mine(users.size(), 0.f);
  for (size_t i = 0; i < users.size(); ++i)
    mine[i] = dp.plan->owner(dp.full->find_user(users[i])) == dp.comm->rank() ? 1.f : 0.f;
  auto mask = torch::tensor(mine);
  std::vector<torch::Tensor> parts;
  auto tensors = model.seen_user_tensors();
  for (auto& t : tensors) {
    auto shape = std::vector<int64_t>(t.dim(), 1);
    shape[0] = -1;
    parts.push_back(t.detach().to(torch::kFloat32) * mask.view(shape));
  }
  dp.comm->allreduce_sum(parts);
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto& t = tensors[i];
    t.detach().copy_(t.scalar_type() == torch::kBool ? parts[i] > 0.5 : parts[i].to(t.scalar_type()));
  }
}

// One rank of a data-parallel run: shared gradients are all-reduced every step; per-user rows stay with the rank
// that owns the user until the epoch ends.
class RankSync : public TrainSync {
 public:
  explicit RankSync(const DataParallel& dp) : dp_(dp), comm_(*dp.comm) {}
  bool lead() const override { return comm_.rank() == 0; }
  int rank() const override { return comm_.rank(); }
  Collective* comm() const override { return &comm_; }

  void start(RewardModel& model, const TrainConfig& cfg, const std::vector<torch::Tensor>& head_params) override {
    TrainSync::start(model, cfg, head_params);
    comm_.require_same("model (family, config, seen users)", model.model_id());
    // Everything that decides a collective or a weight (a --checkpoint given to rank 0 only would pair its saves with
    // the others' steps).
    auto agreed = train_config_schema().to_json(cfg);
    agreed["checkpoint"] = !cfg.checkpoint_path.empty();
    comm_.require_same("train config", agreed.dump());
    std::vector<torch::Tensor> all;
    for (auto& p : model.parameters()) all.push_back(p);
    for (auto& b : model.buffers()) all.push_back(b);
    for (auto& p : head_params) all.push_back(p);
    comm_.broadcast(all);  // identical initial weights, whatever each rank's seed drew
  }

  // This rank's share of the global batch's mean loss: its part of what the loss and the regularizer average over
  // (summed over ranks first), so that the all-reduced gradients are the global batch's.
  LossShares shares(RewardModel& model, const PairBatch& batch, bool has_rows, const TrainConfig& cfg) override {
    double n = 0, u = 0;
    if (has_rows) {
      n = loss_weights(cfg.loss, batch.label, batch.weight).sum().item<double>();
      u = model.regularizer_units(batch);
    }
    auto total = comm_.allreduce_values({n, u});
    return {total[0] > 0 ? n / total[0] : 0, total[1] > 0 ? u / total[1] : 0, true};
  }

  void reduce_gradients() override {
    // Every parameter gets a gradient, so AdamW treats a rank with no rows this step as one process would.
    for (auto& p : all_params_)
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    std::vector<torch::Tensor> grads;
    for (auto& p : shared_params_) grads.push_back(p.grad());
    comm_.allreduce_sum(grads);
  }

  // The global norm: shared gradients are identical on every rank, user rows are spread over ranks.
  void clip_gradients(double max_norm) override {
    double shared_sq = 0, user_sq = 0;
    for (auto& p : shared_params_) shared_sq += p.grad().pow(2).sum().item<double>();
    for (auto& p : user_params_)
      if (p.grad().defined()) user_sq += p.grad().pow(2).sum().item<double>();
    double norm = std::sqrt(shared_sq + comm_.allreduce_values({user_sq})[0]);
    double coef = max_norm / (norm + 1e-6);
    if (coef >= 1) return;
    torch::NoGradGuard ng;
    for (auto& p : all_params_)
      if (p.grad().defined()) p.grad().mul_(coef);
  }

  std::vector<double> sum(std::vector<double> values) override { return comm_.allreduce_values(values); }

  void end_epoch(RewardModel& model, const DatasetView& view) override {
    average_running_stats(model, comm_);
    model.refresh_seen_users(view);
    gather_user_rows(model, dp_);  // diagnostics and checkpoints see every user
  }

  double comm_seconds() const override { return comm_.comm_seconds(); }

 private:
  const DataParallel& dp_;
  Collective& comm_;
};

}  // namespace

std::unique_ptr<TrainSync> make_train_sync(const DataParallel* dp) {
  std::unique_ptr<TrainSync> out;
  if (dp && dp->comm)
    out = std::make_unique<RankSync>(*dp);
  else
    out = std::make_unique<TrainSync>();
  out->counts_floats_ = dp != nullptr;
  return out;
}

}  // namespace plural::core
