#include "core/train/aux_loss.hpp"

#include <torch/torch.h>

#include "core/base/error.hpp"
#include "core/dataset_view.hpp"
#include "core/train/distributed.hpp"
#include "core/train/losses.hpp"
#include "core/train/rationale.hpp"
#include "core/train/spo.hpp"
#include "core/train/step_source.hpp"
#include "core/train/trainer.hpp"

namespace plural::core {

namespace {

// The width H of the model's item representation, from one probe; throws naming `loss` when the family has none.
int64_t representation_width(RewardModel& model, const DatasetView& view, const std::vector<size_t>& train_rows,
                             const char* loss) {
  torch::Tensor probe;
  {
    torch::AutoGradMode grad_on(true);  // to see whether the representation depends on the model's parameters
    bool was_training = model.is_training();
    model.eval();
    auto rows = std::vector<size_t>{train_rows.empty() ? size_t{0} : train_rows.front()};
    probe = model.item_representation(view.batch(rows).a);
    model.train(was_training);
  }
  PLURAL_CHECK(probe.defined() && probe.dim() == 2, "train: the ", model.family(),
               " family has no item representation for the ", loss,
               " loss (pal-a, pal-b, lore, bt and per-user-bt have one)");
  PLURAL_CHECK(probe.requires_grad(), "train: this ", model.family(), " model's item representation has no trainable ",
               "parameters (an MLP without hidden layers?), so the ", loss, " loss could not change it");
  return probe.size(1);
}

// The oriented representation difference of each pair must pick out its own rationale (core/train/rationale.hpp).
class RationaleLoss : public AuxLoss {
 public:
  RationaleLoss(RationaleHead head, const TrainConfig& cfg)
      : head_(std::move(head)),
        loss_(cfg.loss),
        weight_(cfg.rationale_weight),
        temperature_(cfg.rationale_temperature) {}
  std::string name() const override { return "rationale_loss"; }
  double weight() const override { return weight_; }
  std::vector<torch::Tensor> parameters() override { return head_->parameters(); }

  torch::Tensor step_loss(RewardModel& model, const DatasetView&, const AuxStep& step) override {
    const auto& batch = step.batch;
    auto diff = model.item_representation(batch.a) - model.item_representation(batch.b);
    // Each rank contrasts its own rows' rationales (InfoNCE does not split over ranks), weighted by its share of the
    // data loss; one process replaying the run computes the same sum shard by shard.
    auto aux = step.rows.shard_sizes.size() > 1
                   ? replayed_shards(diff, step)
                   : head_->loss(diff, batch, temperature_) * (step.collective ? step.data_share : 1.0);
    sum_ += aux.item<double>() * static_cast<double>(step.rows.global_count);
    return aux;
  }

  double epoch_mean(Collective* comm, int64_t train_pairs) override {
    double total = comm ? comm->allreduce_values({sum_})[0] : sum_;  // every rank computes it: keep it collective
    sum_ = 0;
    return total / static_cast<double>(train_pairs);
  }

 private:
  torch::Tensor replayed_shards(const torch::Tensor& diff, const AuxStep& step) {
    const auto& batch = step.batch;
    const double total = loss_weights(loss_, batch.label, batch.weight).sum().item<double>();
    auto aux = diff.sum() * 0;
    int64_t start = 0;
    for (auto size : step.rows.shard_sizes) {
      auto part = torch::arange(start, start + size, torch::kInt64);
      start += size;
      if (size == 0 || total <= 0) continue;
      auto sub = batch.select(part);
      double share = loss_weights(loss_, sub.label, sub.weight).sum().item<double>() / total;
      aux = aux + head_->loss(diff.index_select(0, part), sub, temperature_) * share;
    }
    return aux;
  }

  RationaleHead head_;
  std::string loss_;
  double weight_, temperature_, sum_ = 0;
};

// SPO's degree classifier over graded variants of the batch's responses (core/train/spo.hpp).
class DegreeLoss : public AuxLoss {
 public:
  DegreeLoss(DegreeHead head, double weight) : head_(std::move(head)), weight_(weight) {}
  std::string name() const override { return "spo_degree_loss"; }
  double weight() const override { return weight_; }
  std::vector<torch::Tensor> parameters() override { return head_->parameters(); }

  torch::Tensor step_loss(RewardModel& model, const DatasetView& view, const AuxStep& step) override {
    auto aux = head_->loss(model, view, step.rows.rows);  // one process: rows are the whole batch
    sum_ += aux.item<double>() * static_cast<double>(step.rows.rows.size(0));
    return aux;
  }

  double epoch_mean(Collective*, int64_t train_pairs) override {
    double total = sum_;
    sum_ = 0;
    return total / static_cast<double>(train_pairs);
  }

 private:
  DegreeHead head_;
  double weight_, sum_ = 0;
};

std::unique_ptr<AuxLoss> make_rationale_loss(RewardModel& model, const DatasetView& view,
                                             const std::vector<size_t>& train_rows, const TrainConfig& cfg,
                                             const DataParallel* dp) {
  const auto& data = dp ? *dp->full : view.data();  // a rank's shard may hold no rationale while others do
  PLURAL_CHECK(data.has_rationales(), data.source,
               ": a rationale weight was given but no comparison carries a 'rationale'");
  RationaleHead head(view.features().size(1), representation_width(model, view, train_rows, "rationale"));
  return std::make_unique<RationaleLoss>(std::move(head), cfg);
}

std::unique_ptr<AuxLoss> make_degree_loss(RewardModel& model, const DatasetView& view,
                                          const std::vector<size_t>& train_rows, const TrainConfig& cfg,
                                          const DataParallel* dp) {
  // Every rank would need the same variant levels and the variants' features; every rank refuses alike, before any
  // collective.
  PLURAL_CHECK(!(dp && dp->comm),
               "train: SPO's degree loss runs in one process only (--shards replays a "
               "data-parallel run in one process)");
  const auto& v = view.graded_variants();
  PLURAL_CHECK(v && v->levels >= 2, view.data().source,
               ": an SPO weight was given but the data has no graded variants (give --variants)");
  DegreeHead head(representation_width(model, view, train_rows, "SPO degree"), v->levels);
  return std::make_unique<DegreeLoss>(std::move(head), cfg.spo_weight);
}

}  // namespace

std::vector<std::unique_ptr<AuxLoss>> make_aux_losses(RewardModel& model, const DatasetView& view,
                                                      const std::vector<size_t>& train_rows, const TrainConfig& cfg,
                                                      const DataParallel* dp) {
  std::vector<std::unique_ptr<AuxLoss>> out;
  if (cfg.rationale_weight > 0) out.push_back(make_rationale_loss(model, view, train_rows, cfg, dp));
  if (cfg.spo_weight > 0) out.push_back(make_degree_loss(model, view, train_rows, cfg, dp));
  return out;
}

}  // namespace plural::core
