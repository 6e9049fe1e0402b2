#include "core/train/trainer.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>

#include "core/base/error.hpp"
#include "core/base/random.hpp"
#include "core/support.hpp"
#include "core/train/aux_loss.hpp"
#include "core/train/distributed.hpp"
#include "core/train/flat_adamw.hpp"
#include "core/train/step_source.hpp"
#include "core/train/train_observers.hpp"
#include "core/train/train_sync.hpp"

namespace plural::core {

torch::Tensor train_logits(const torch::Tensor& logits, const PairBatch& batch) {
  if (!batch.margin.defined()) return logits;
  auto direction = (batch.label > 0.5).to(logits.dtype()) - (batch.label < 0.5).to(logits.dtype());
  return logits - direction * batch.margin.to(logits.dtype());
}

namespace {

// What the machine can still give this process, from /proc/meminfo (0 = unknown).
double available_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// Training holds each parameter, its gradient, AdamW's two moments and the best epoch's copy: 5 floats.
void require_memory_for(const RewardModel& model) {
  double floats = 0;
  for (const auto& p : model.parameters()) floats += static_cast<double>(p.numel());
  const double need = floats * 4 * 5, have = available_bytes();
  PLURAL_CHECK(have <= 0 || need < 0.8 * have, "train: this ", model.family(), " model has ", floats / 1e6,
               " M parameters; training it needs about ", need / (1 << 30), " GiB, but only ", have / (1 << 30),
               " GiB of memory is available (choose a smaller k, dim or hidden)");
}

// A step on a few pairs is a chain of tiny ops, and a second intra-op thread only adds fork/join latency: PAL-B at
// batch 4 took 1.45 ms per step on one thread and 1.94 on two; level at batch 8, two threads ahead from 16.
class OneThreadForTinyBatches {
 public:
  OneThreadForTinyBatches() : before_(at::get_num_threads()) {
    if (before_ > 1) at::set_num_threads(1);
  }
  ~OneThreadForTinyBatches() {
    if (at::get_num_threads() != before_) at::set_num_threads(before_);
  }

 private:
  int before_;
};

// Sums (loss·weight, weight, correct, strict) over rows: means are taken after a data-parallel reduction.
std::vector<double> evaluate_sums(RewardModel& model, const DatasetView& view, const std::vector<size_t>& rows,
                                  const std::string& loss, const LossOptions& options) {
  std::vector<double> out{0, 0, 0, 0};
  if (rows.empty()) return out;
  torch::NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  const auto& fn = get_loss(loss);
  const size_t chunk = 8192;
  for (size_t i = 0; i < rows.size(); i += chunk) {
    std::vector<size_t> part(rows.begin() + i, rows.begin() + std::min(rows.size(), i + chunk));
    auto b = view.batch(part);
    auto z = model.logits(b);
    double w = loss_weights(loss, b.label, b.weight).sum().item<double>();  // what the mean is over
    out[0] += fn(z, b.label, b.weight, options).item<double>() * w;
    out[1] += w;
    auto is_strict = b.label != 0.5;
    out[2] += ((z > 0) == (b.label > 0.5)).logical_and(is_strict).sum().item<double>();
    out[3] += is_strict.sum().item<double>();
  }
  model.train(was_training);
  return out;
}

std::pair<double, double> loss_and_accuracy(const std::vector<double>& s) {
  return {s[0] / std::max(s[1], 1e-12), s[3] > 0 ? s[2] / s[3] : std::nan("")};
}

// AdamW over the model's parameter groups (per-group rates from the config) and the auxiliary heads.
std::unique_ptr<FlatAdamW> make_optimizer(RewardModel& model, const TrainConfig& cfg,
                                          const std::vector<torch::Tensor>& head_params) {
  const auto param_groups = model.param_groups();
  for (const auto& kv : cfg.group_lr) {
    std::string names;
    for (const auto& g : param_groups) names += (names.empty() ? "" : ", ") + g.first;
    PLURAL_CHECK(param_groups.count(kv.first), "train: no parameter group '", kv.first, "' in this ", model.family(),
                 " model for a group learning rate (its groups: ", names, ")");
  }
  std::vector<FlatAdamWGroup> groups;
  for (auto& [name, params] : param_groups) {
    if (params.empty()) continue;
    bool user = name == "user";
    auto lr = cfg.group_lr.count(name) ? cfg.group_lr.at(name) : user ? cfg.user_lr : cfg.lr;
    groups.push_back({params, lr, user ? cfg.user_weight_decay : cfg.weight_decay});
  }
  if (!head_params.empty()) groups.push_back({head_params, cfg.lr, cfg.weight_decay});
  return std::make_unique<FlatAdamW>(std::move(groups));
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// One training run: a loop over epochs of steps. Rows come from a StepSource, the data-parallel strategy is a
// TrainSync, auxiliary losses add their terms, and observers report each epoch and decide when to stop.
class Trainer {
 public:
  Trainer(RewardModel& model, DatasetView& view, const TrainConfig& cfg, const DataParallel* dp,
          const EpochCallback& on_epoch)
      : model_(model),
        view_(view),
        cfg_(cfg),
        dp_(dp),
        on_epoch_(on_epoch),
        sync_(make_train_sync(dp)),
        rng_(cfg.seed ^ 0x5eedULL) {}

  TrainResult run() {
    prepare();
    const auto t_start = std::chrono::steady_clock::now();
    double train_seconds = 0;
    const double comm_start = sync_->comm_seconds();
    for (int epoch = 1; epoch <= cfg_.epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      const double loss_sum = train_epoch(epoch);
      const double secs = seconds_since(t0);
      train_seconds += secs;
      EpochLog log = validate_epoch(epoch, loss_sum, secs);
      log.elapsed = seconds_since(t_start);
      result_.history.push_back(log);
      result_.epochs_run = epoch;
      bool stop = false;
      for (auto* o : observers_) stop = o->epoch_done(log) || stop;
      if (on_epoch_) stop = on_epoch_(log) || stop;
      if (stop) break;
    }
    best_->restore_best();
    sync_->end_epoch(model_, view_);  // every rank ends with the whole model
    best_->save_final();
    model_.eval();
    result_.seconds = seconds_since(t_start);
    result_.pairs_per_second = double(train_pairs_) * result_.epochs_run / std::max(train_seconds, 1e-9);
    if (sync_->comm()) result_.comm_seconds = sync_->comm_seconds() - comm_start;
    return result_;
  }

 private:
  void prepare();
  double train_epoch(int epoch);
  double train_step(const StepRows& st, int epoch, int64_t s);
  EpochLog validate_epoch(int epoch, double loss_sum, double secs);

  RewardModel& model_;
  DatasetView& view_;
  const TrainConfig& cfg_;
  const DataParallel* dp_;
  const EpochCallback& on_epoch_;
  std::unique_ptr<TrainSync> sync_;
  Rng rng_;
  TrainResult result_;
  std::vector<size_t> train_rows_, val_rows_;
  std::unique_ptr<StepSource> source_;
  int64_t train_pairs_ = 0, steps_ = 0;
  bool has_val_ = false;
  std::vector<std::unique_ptr<AuxLoss>> aux_;
  std::unique_ptr<FlatAdamW> optimizer_;
  const LossFn* loss_fn_ = nullptr;
  std::pair<int64_t, int64_t> support_{0, 0};
  std::unique_ptr<SupportSampler> sampler_;
  std::unique_ptr<ProgressObserver> progress_;
  std::unique_ptr<MetricsObserver> metrics_;
  std::unique_ptr<BestEpoch> best_;
  std::vector<TrainObserver*> observers_;
};

void Trainer::prepare() {
  cfg_.validate();
  view_.bind(model_);
  model_.set_weights_id("");  // the weights a saved or loaded model had are about to change
  require_memory_for(model_);
  torch::manual_seed(cfg_.seed + static_cast<uint64_t>(sync_->rank()));
  train_rows_ = view_.rows(Split::train, true), val_rows_ = view_.rows(Split::val, true);
  if (!dp_) PLURAL_CHECK(!train_rows_.empty(), view_.data().source, ": no train comparisons for seen users");
  source_ = std::make_unique<StepSource>(view_, cfg_, dp_, rng_);
  result_.train_pairs = train_pairs_ = source_->total_rows();
  steps_ = source_->steps();
  result_.val_pairs = static_cast<int64_t>(sync_->sum({double(val_rows_.size())})[0]);
  has_val_ = result_.val_pairs > 0;
  aux_ = make_aux_losses(model_, view_, train_rows_, cfg_, dp_);  // before the broadcast of initial weights
  std::vector<torch::Tensor> head_params;
  for (auto& a : aux_)
    for (auto& p : a->parameters()) head_params.push_back(p);
  sync_->start(model_, cfg_, head_params);
  result_.allreduce_floats = sync_->allreduce_floats();
  optimizer_ = make_optimizer(model_, cfg_, head_params);
  loss_fn_ = &get_loss(cfg_.loss);
  // Families that read a user's own comparisons get support sets from the same users' train comparisons.
  support_ = model_.support_range();
  if (support_.second > 0) sampler_ = std::make_unique<SupportSampler>(view_, train_rows_);
  const bool lead = sync_->lead();
  progress_ = std::make_unique<ProgressObserver>(cfg_.progress && lead);
  metrics_ = std::make_unique<MetricsObserver>(lead ? cfg_.metrics_path : "", model_.family(),
                                               sync_->comm() ? sync_->comm()->world_size() : 0, result_.val_pairs,
                                               cfg_.val_carved);
  best_ = std::make_unique<BestEpoch>(model_, cfg_, has_val_, lead, result_);
  observers_ = {progress_.get(), metrics_.get(), best_.get()};
}

double Trainer::train_epoch(int epoch) {
  model_.train();
  source_->start_epoch(epoch);
  for (auto* o : observers_) o->epoch_started(epoch, steps_);
  std::optional<OneThreadForTinyBatches> tiny;
  if (cfg_.batch_size <= 8) tiny.emplace();
  double loss_sum = 0;
  for (int64_t s = 0; s < steps_; ++s) {
    loss_sum += train_step(source_->step(s), epoch, s);
    for (auto* o : observers_) o->step_done(s);
  }
  return sync_->sum({loss_sum})[0];
}

// One optimizer step; returns the step's loss times the rows of its global batch.
double Trainer::train_step(const StepRows& st, int epoch, int64_t s) {
  const auto& rows = st.rows;
  const bool has_rows = rows.size(0) > 0;
  optimizer_->zero_grad();
  PairBatch batch;
  if (has_rows) {
    batch = view_.batch(rows);
    if (sampler_) sampler_->attach(batch, rows, support_.first, support_.second, rng_);
  }
  const LossShares shares = sync_->shares(model_, batch, has_rows, cfg_);
  double weighted = 0;
  if (has_rows) {
    // logits before regularizer: a family's regularizer may read what its forward pass just computed (VPL's KL).
    auto data_loss =
        (*loss_fn_)(train_logits(model_.logits(batch), batch), batch.label, batch.weight, cfg_.loss_options);
    auto loss = shares.combine(data_loss, model_.regularizer(batch));
    const AuxStep aux_step{batch, st, shares.data, sync_->comm() != nullptr};
    for (auto& a : aux_) loss = loss + a->step_loss(model_, view_, aux_step) * a->weight();
    const double step_loss = loss.item<double>();
    PLURAL_CHECK(std::isfinite(step_loss), "train: the loss became ", step_loss, " at epoch ", epoch, ", step ", s + 1,
                 " of ", steps_,
                 " (learning rate too high? try a smaller --lr / --user-lr, or "
                 "--max-grad-norm); the model was not saved (a checkpoint, if any, holds the last good epoch)");
    loss.backward();
    weighted = step_loss * st.global_count;
  }
  sync_->reduce_gradients();
  if (cfg_.max_grad_norm > 0) sync_->clip_gradients(cfg_.max_grad_norm);
  optimizer_->step();
  ++result_.steps;
  return weighted;
}

EpochLog Trainer::validate_epoch(int epoch, double loss_sum, double secs) {
  EpochLog log;
  log.epoch = epoch;
  log.train_loss = loss_sum / train_pairs_;
  log.seconds = secs;
  log.pairs_per_second = train_pairs_ / std::max(secs, 1e-9);
  sync_->end_epoch(model_, view_);
  auto sums = sync_->sum(evaluate_sums(model_, view_, val_rows_, cfg_.loss, cfg_.loss_options));
  auto [vl, va] = has_val_ ? loss_and_accuracy(sums) : std::pair<double, double>{std::nan(""), std::nan("")};
  PLURAL_CHECK(!has_val_ || std::isfinite(vl), "train: the validation loss became ", vl, " after epoch ", epoch,
               " (the weights diverged; try a smaller --lr / --user-lr); the model was not saved");
  log.val_loss = vl;
  log.val_accuracy = va;
  if (sync_->lead()) log.diagnostics = model_.diagnostics(view_);  // a data-parallel run: rank 0's shard
  for (auto& a : aux_) log.diagnostics.emplace_back(a->name(), a->epoch_mean(sync_->comm(), train_pairs_));
  return log;
}

}  // namespace

std::pair<double, double> evaluate_loss(RewardModel& model, const DatasetView& view, const std::vector<size_t>& rows,
                                        const std::string& loss, const LossOptions& options) {
  if (rows.empty()) return {std::nan(""), std::nan("")};
  return loss_and_accuracy(evaluate_sums(model, view, rows, loss, options));
}

TrainResult train(RewardModel& model, DatasetView& view, const TrainConfig& cfg, const DataParallel* dp,
                  const EpochCallback& on_epoch) {
  return Trainer(model, view, cfg, dp, on_epoch).run();
}

}  // namespace plural::core
