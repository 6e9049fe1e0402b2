#include "core/train/trainer.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/base/error.hpp"
#include "core/base/metrics_log.hpp"
#include "core/base/progress.hpp"
#include "core/base/random.hpp"
#include "core/support.hpp"
#include "core/train/distributed.hpp"
#include "core/train/flat_adamw.hpp"
#include "core/train/rationale.hpp"
#include "core/train/shard_plan.hpp"
#include "core/train/spo.hpp"

namespace plural::core {

namespace {
// Every numeric option is finite and inside a range: an infinite learning rate trains a NaN model, a huge one too.
void require_in(const char* name, double v, double lo, double hi, bool open_lo = false) {
  PLURAL_CHECK(std::isfinite(v) && (open_lo ? v > lo : v >= lo) && v <= hi, "train: ", name, " must be in ",
               open_lo ? "(" : "[", lo, ", ", hi, "], got ", v);
}

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
}  // namespace

void TrainConfig::validate() const {
  get_loss(loss);
  loss_options.validate();
  require_in("lr", lr, 0, kMaxLearningRate, true);
  require_in("user_lr", user_lr, 0, kMaxLearningRate, true);
  for (const auto& [name, v] : group_lr)
    require_in(("the learning rate of group '" + name + "'").c_str(), v, 0, kMaxLearningRate, true);
  require_in("weight_decay", weight_decay, 0, 10);
  require_in("user_weight_decay", user_weight_decay, 0, 10);
  PLURAL_CHECK(batch_size >= 1 && batch_size <= (int64_t{1} << 24), "train: batch_size must be in [1, 2^24], got ",
               batch_size);
  PLURAL_CHECK(epochs >= 1 && epochs <= 1000000, "train: epochs must be in [1, 10^6], got ", epochs);
  PLURAL_CHECK(patience >= 0 && patience <= 1000000, "train: patience must be in [0, 10^6], got ", patience);
  require_in("min_delta", min_delta, 0, 1e6);
  require_in("max_grad_norm", max_grad_norm, 0, 1e12);
  require_in("target_val_accuracy", target_val_accuracy, 0, 1);
  require_in("rationale_weight", rationale_weight, 0, 1e6);
  require_in("rationale_temperature", rationale_temperature, 0, 1e3, true);
  require_in("spo_weight", spo_weight, 0, 1e6);
}

torch::Tensor train_logits(const torch::Tensor& logits, const PairBatch& batch) {
  if (!batch.margin.defined()) return logits;
  auto direction = (batch.label > 0.5).to(logits.dtype()) - (batch.label < 0.5).to(logits.dtype());
  return logits - direction * batch.margin.to(logits.dtype());
}

namespace {

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
std::array<double, 4> evaluate_sums(RewardModel& model, const DatasetView& view, const std::vector<size_t>& rows,
                                    const std::string& loss, const LossOptions& options) {
  std::array<double, 4> out{0, 0, 0, 0};
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

std::pair<double, double> loss_and_accuracy(const std::array<double, 4>& s) {
  return {s[0] / std::max(s[1], 1e-12), s[3] > 0 ? s[2] / s[3] : std::nan("")};
}
}  // namespace

std::pair<double, double> evaluate_loss(RewardModel& model, const DatasetView& view, const std::vector<size_t>& rows,
                                        const std::string& loss, const LossOptions& options) {
  if (rows.empty()) return {std::nan(""), std::nan("")};
  return loss_and_accuracy(evaluate_sums(model, view, rows, loss, options));
}

namespace {
using Snapshot = std::vector<torch::Tensor>;
Snapshot snapshot(torch::nn::Module& m) {
  Snapshot s;
  for (auto& p : m.parameters()) s.push_back(p.detach().clone());
  for (auto& b : m.buffers()) s.push_back(b.detach().clone());
  return s;
}
void restore(torch::nn::Module& m, const Snapshot& s) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : m.parameters()) p.copy_(s[i++]);
  for (auto& b : m.buffers()) b.copy_(s[i++]);
}
}  // namespace

namespace {
bool same_tensor(const torch::Tensor& a, const torch::Tensor& b) {
  return a.unsafeGetTensorImpl() == b.unsafeGetTensorImpl();
}

// Where each step's rows come from: the whole view (one process), or a ShardPlan's shards (data-parallel).
class StepSource {
 public:
  StepSource(const DatasetView& view, const TrainConfig& cfg, const DataParallel* dp, Rng& rng)
      : view_(view), cfg_(cfg), dp_(dp), rng_(rng) {
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
  int64_t total_rows() const {
    if (!dp_) return static_cast<int64_t>(order_.size());
    int64_t n = 0;
    for (int s = 0; s < dp_->plan->shards(); ++s) n += static_cast<int64_t>(dp_->plan->train_rows(s).size());
    return n;
  }
  int64_t steps() const {
    if (!dp_) return (total_rows() + cfg_.batch_size - 1) / cfg_.batch_size;
    return dp_->plan->steps(cfg_.batch_size);
  }
  void start_epoch(int epoch) {
    if (!dp_) {
      rng_.shuffle(order_);
      perm_ = torch::tensor(order_, torch::kInt64);
      return;
    }
    shard_orders_.clear();
    for (int s = 0; s < dp_->plan->shards(); ++s) shard_orders_.push_back(dp_->plan->epoch_order(s, epoch));
  }
  struct Step {
    torch::Tensor rows;                // this process's rows in its view
    int64_t global_count = 0;          // rows in the whole global batch (every rank's part)
    std::vector<int64_t> shard_sizes;  // one process replaying a data-parallel run: each shard's rows, in order
  };
  Step step(int64_t s) const {
    Step out;
    if (!dp_) {
      const auto n = static_cast<int64_t>(order_.size());
      out.rows = perm_.slice(0, s * cfg_.batch_size, std::min(n, (s + 1) * cfg_.batch_size));
      out.global_count = out.rows.size(0);
      return out;
    }
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

 private:
  const DatasetView& view_;
  const TrainConfig& cfg_;
  const DataParallel* dp_;
  Rng& rng_;
  std::vector<int64_t> order_;
  torch::Tensor perm_;
  std::vector<std::vector<size_t>> shard_orders_;
  std::vector<int64_t> local_of_;
};

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

// The trainer-only heads of the auxiliary losses; null when a loss is off.
RationaleHead make_rationale_head(RewardModel& model, const DatasetView& view, const std::vector<size_t>& train_rows,
                                  const TrainConfig& cfg, const DataParallel* dp) {
  if (cfg.rationale_weight <= 0) return nullptr;
  const auto& data = dp ? *dp->full : view.data();  // a rank's shard may hold no rationale while others do
  PLURAL_CHECK(data.has_rationales(), data.source,
               ": a rationale weight was given but no comparison carries a 'rationale'");
  return RationaleHead(view.features().size(1), representation_width(model, view, train_rows, "rationale"));
}
DegreeHead make_degree_head(RewardModel& model, const DatasetView& view, const std::vector<size_t>& train_rows,
                            const TrainConfig& cfg, const DataParallel* dp) {
  if (cfg.spo_weight <= 0) return nullptr;
  // Every rank would need the same variant levels and the variants' features; every rank refuses alike, before any
  // collective.
  PLURAL_CHECK(!(dp && dp->comm),
               "train: SPO's degree loss runs in one process only (--shards replays a "
               "data-parallel run in one process)");
  const auto& v = view.graded_variants();
  PLURAL_CHECK(v && v->levels >= 2, view.data().source,
               ": an SPO weight was given but the data has no graded variants (give --variants)");
  return DegreeHead(representation_width(model, view, train_rows, "SPO degree"), v->levels);
}
}  // namespace

TrainResult train(RewardModel& model, DatasetView& view, const TrainConfig& cfg, const DataParallel* dp) {
  cfg.validate();
  view.bind(model);
  model.set_weights_id("");  // the weights a saved or loaded model had are about to change
  require_memory_for(model);
  Collective* comm = dp ? dp->comm : nullptr;
  const bool lead = !comm || comm->rank() == 0;  // writes the checkpoint, the metrics and the progress bar
  torch::manual_seed(cfg.seed + (comm ? static_cast<uint64_t>(comm->rank()) : 0));
  Rng rng(cfg.seed ^ 0x5eedULL);
  TrainResult result;
  std::vector<size_t> train_rows = view.rows(Split::train, true), val_rows = view.rows(Split::val, true);
  if (!dp) PLURAL_CHECK(!train_rows.empty(), view.data().source, ": no train comparisons for seen users");
  StepSource source(view, cfg, dp, rng);
  result.train_pairs = source.total_rows();
  result.val_pairs = static_cast<int64_t>(val_rows.size());
  if (comm) result.val_pairs = static_cast<int64_t>(comm->allreduce_values({double(val_rows.size())})[0]);
  const bool has_val = result.val_pairs > 0;

  // Shared tensors are all-reduced every step; per-user rows stay with the rank that owns the user.
  std::vector<torch::Tensor> user_params = model.seen_user_tensors(), shared_params;
  for (auto& p : model.parameters())
    if (std::none_of(user_params.begin(), user_params.end(), [&](const auto& u) { return same_tensor(u, p); }))
      shared_params.push_back(p);
  if (dp)
    for (auto& p : shared_params) result.allreduce_floats += p.numel();
  // Created before the broadcast below so that every rank starts from rank 0's head too.
  RationaleHead rationale_head = make_rationale_head(model, view, train_rows, cfg, dp);
  DegreeHead degree_head = make_degree_head(model, view, train_rows, cfg, dp);
  std::vector<torch::Tensor> all_params = model.parameters();  // what the optimizer steps (clipping sees all of it)
  std::vector<torch::Tensor> head_params;
  if (rationale_head) head_params = rationale_head->parameters();
  if (degree_head)
    for (auto& p : degree_head->parameters()) head_params.push_back(p);
  for (auto& p : head_params) {
    shared_params.push_back(p), all_params.push_back(p);
    if (dp) result.allreduce_floats += p.numel();
  }
  if (comm) {
    comm->require_same("model (family, config, seen users)", model.model_id());
    // Everything that decides a collective or a weight (a --checkpoint given to rank 0 only would pair its
    // saves with the others' steps).
    comm->require_same("train config", nlohmann::json({{"loss", cfg.loss},
                                                       {"margin", cfg.loss_options.margin},
                                                       {"smoothing", cfg.loss_options.smoothing},
                                                       {"hinge_margin", cfg.loss_options.hinge_margin},
                                                       {"lr", cfg.lr},
                                                       {"user_lr", cfg.user_lr},
                                                       {"weight_decay", cfg.weight_decay},
                                                       {"user_weight_decay", cfg.user_weight_decay},
                                                       {"group_lr", cfg.group_lr},
                                                       {"batch_size", cfg.batch_size},
                                                       {"epochs", cfg.epochs},
                                                       {"patience", cfg.patience},
                                                       {"min_delta", cfg.min_delta},
                                                       {"max_grad_norm", cfg.max_grad_norm},
                                                       {"seed", cfg.seed},
                                                       {"target_val_accuracy", cfg.target_val_accuracy},
                                                       {"rationale_weight", cfg.rationale_weight},
                                                       {"rationale_temperature", cfg.rationale_temperature},
                                                       {"spo_weight", cfg.spo_weight},
                                                       {"checkpoint", !cfg.checkpoint_path.empty()}})
                                           .dump());
    std::vector<torch::Tensor> all;
    for (auto& p : model.parameters()) all.push_back(p);
    for (auto& b : model.buffers()) all.push_back(b);
    for (auto& p : head_params) all.push_back(p);
    comm->broadcast(all);  // identical initial weights, whatever each rank's seed drew
  }

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
  FlatAdamW optimizer(std::move(groups));
  const auto& loss_fn = get_loss(cfg.loss);
  // Families that read a user's own comparisons get support sets from the same users' train comparisons.
  const auto support = model.support_range();
  std::unique_ptr<SupportSampler> sampler;
  if (support.second > 0) sampler = std::make_unique<SupportSampler>(view, train_rows);

  MetricsLog metrics(lead ? cfg.metrics_path : "");
  auto save_checkpoint = [&] {
    if (!cfg.checkpoint_path.empty() && lead) save_model(model, cfg.checkpoint_path, cfg.encoder_id);
  };

  Snapshot best;
  double best_val = std::numeric_limits<double>::infinity();
  int since_best = 0;
  auto t_start = std::chrono::steady_clock::now();
  double train_seconds = 0, comm_start = comm ? comm->comm_seconds() : 0;
  const int64_t n = source.total_rows();
  const int64_t steps = source.steps();
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    model.train();
    source.start_epoch(epoch);
    double loss_sum = 0, rationale_sum = 0, degree_sum = 0;
    Progress bar("epoch " + std::to_string(epoch), steps, cfg.progress && lead);
    std::optional<OneThreadForTinyBatches> tiny;
    if (cfg.batch_size <= 8) tiny.emplace();
    for (int64_t s = 0; s < steps; ++s) {
      auto st = source.step(s);
      const auto& rows = st.rows;
      optimizer.zero_grad();
      PairBatch batch;
      if (rows.size(0) > 0) {
        batch = view.batch(rows);
        if (sampler) sampler->attach(batch, rows, support.first, support.second, rng);
      }
      // This rank's share of the global batch's mean loss: its part of what the loss and the regularizer average
      // over (summed over ranks first), so that the all-reduced gradients are the global batch's.
      double data_share = 1, reg_share = 1;
      if (comm) {
        double n = 0, u = 0;
        if (rows.size(0) > 0) {
          n = loss_weights(cfg.loss, batch.label, batch.weight).sum().item<double>();
          u = model.regularizer_units(batch);
        }
        auto total = comm->allreduce_values({n, u});
        data_share = total[0] > 0 ? n / total[0] : 0;
        reg_share = total[1] > 0 ? u / total[1] : 0;
      }
      if (rows.size(0) > 0) {
        // logits before regularizer: a family's regularizer may read what its forward pass just computed (VPL's KL).
        auto data_loss = loss_fn(train_logits(model.logits(batch), batch), batch.label, batch.weight, cfg.loss_options);
        auto loss =
            comm ? data_loss * data_share + model.regularizer(batch) * reg_share : data_loss + model.regularizer(batch);
        if (rationale_head) {
          auto diff = model.item_representation(batch.a) - model.item_representation(batch.b);
          // Each rank contrasts its own rows' rationales (InfoNCE does not split over ranks), weighted by its share
          // of the data loss; one process replaying the run computes the same sum shard by shard.
          torch::Tensor aux;
          if (st.shard_sizes.size() > 1) {
            const double total = loss_weights(cfg.loss, batch.label, batch.weight).sum().item<double>();
            aux = diff.sum() * 0;
            int64_t start = 0;
            for (auto size : st.shard_sizes) {
              auto part = torch::arange(start, start + size, torch::kInt64);
              start += size;
              if (size == 0 || total <= 0) continue;
              auto sub = batch.select(part);
              double share = loss_weights(cfg.loss, sub.label, sub.weight).sum().item<double>() / total;
              aux = aux + rationale_head->loss(diff.index_select(0, part), sub, cfg.rationale_temperature) * share;
            }
          } else {
            aux = rationale_head->loss(diff, batch, cfg.rationale_temperature) * (comm ? data_share : 1.0);
          }
          rationale_sum += aux.item<double>() * static_cast<double>(st.global_count);
          loss = loss + aux * cfg.rationale_weight;
        }
        if (degree_head) {
          auto aux = degree_head->loss(model, view, rows);  // one process: rows are the whole batch
          degree_sum += aux.item<double>() * static_cast<double>(rows.size(0));
          loss = loss + aux * cfg.spo_weight;
        }
        const double step_loss = loss.item<double>();
        PLURAL_CHECK(std::isfinite(step_loss), "train: the loss became ", step_loss, " at epoch ", epoch, ", step ",
                     s + 1, " of ", steps,
                     " (learning rate too high? try a smaller --lr / --user-lr, or "
                     "--max-grad-norm); the model was not saved (a checkpoint, if any, holds the last good epoch)");
        loss.backward();
        loss_sum += step_loss * st.global_count;
      }
      if (comm) {
        // Every parameter gets a gradient, so AdamW treats a rank with no rows this step as one process would.
        for (auto& p : all_params)
          if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        std::vector<torch::Tensor> grads;
        for (auto& p : shared_params) grads.push_back(p.grad());
        comm->allreduce_sum(grads);
      }
      if (cfg.max_grad_norm > 0) {
        if (!comm) {
          torch::nn::utils::clip_grad_norm_(all_params, cfg.max_grad_norm);
        } else {  // the global norm: shared gradients are identical, user rows are spread over ranks
          double shared_sq = 0, user_sq = 0;
          for (auto& p : shared_params) shared_sq += p.grad().pow(2).sum().item<double>();
          for (auto& p : user_params)
            if (p.grad().defined()) user_sq += p.grad().pow(2).sum().item<double>();
          double norm = std::sqrt(shared_sq + comm->allreduce_values({user_sq})[0]);
          double coef = cfg.max_grad_norm / (norm + 1e-6);
          if (coef < 1) {
            torch::NoGradGuard ng;
            for (auto& p : all_params)
              if (p.grad().defined()) p.grad().mul_(coef);
          }
        }
      }
      optimizer.step();
      ++result.steps;
      if (s % 16 == 0) bar.update(s + 1);
    }
    tiny.reset();  // validation batches are large
    if (comm) loss_sum = comm->allreduce_values({loss_sum})[0];
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_seconds += secs;
    EpochLog log;
    log.epoch = epoch;
    log.train_loss = loss_sum / n;
    log.seconds = secs;
    log.pairs_per_second = n / std::max(secs, 1e-9);
    if (comm) average_running_stats(model, *comm);
    model.refresh_seen_users(view);
    if (comm) gather_user_rows(model, *dp);  // diagnostics and checkpoints see every user
    auto sums = evaluate_sums(model, view, val_rows, cfg.loss, cfg.loss_options);
    if (comm) {
      auto r = comm->allreduce_values({sums[0], sums[1], sums[2], sums[3]});
      std::copy(r.begin(), r.end(), sums.begin());
    }
    auto [vl, va] = has_val ? loss_and_accuracy(sums) : std::pair<double, double>{std::nan(""), std::nan("")};
    PLURAL_CHECK(!has_val || std::isfinite(vl), "train: the validation loss became ", vl, " after epoch ", epoch,
                 " (the weights diverged; try a smaller --lr / --user-lr); the model was not saved");
    log.val_loss = vl;
    log.val_accuracy = va;
    if (lead) log.diagnostics = model.diagnostics(view);  // a data-parallel run: rank 0's shard
    if (rationale_head) {
      if (comm) rationale_sum = comm->allreduce_values({rationale_sum})[0];
      log.diagnostics.emplace_back("rationale_loss", rationale_sum / n);  // every rank computes it: keep it collective
    }
    if (degree_head) log.diagnostics.emplace_back("spo_degree_loss", degree_sum / n);
    log.elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    char buf[96];
    std::snprintf(buf, sizeof buf, "loss %.4f val %.4f acc %.3f", log.train_loss, vl, va);
    std::string suffix = buf;
    for (const auto& [name, v] : log.diagnostics)  // per-dimension entries ("kl/d3") stay in the metrics log
      if (name.find('/') == std::string::npos) {
        std::snprintf(buf, sizeof buf, " %s %.3g", name.c_str(), v);
        suffix += buf;
      }
    bar.finish(suffix);
    result.history.push_back(log);
    result.epochs_run = epoch;
    if (metrics.enabled()) {
      nlohmann::json j = {{"epoch", epoch},
                          {"train_loss", log.train_loss},
                          {"val_loss", !has_val ? nlohmann::json() : nlohmann::json(vl)},
                          {"val_accuracy", !has_val ? nlohmann::json() : nlohmann::json(va)},
                          {"seconds", secs},
                          {"pairs_per_second", log.pairs_per_second},
                          {"family", model.family()}};
      if (comm) j["world_size"] = comm->world_size();
      for (const auto& [name, v] : log.diagnostics) j[name] = v;
      metrics.append(j.dump());
    }
    bool reached = cfg.target_val_accuracy > 0 && has_val && va >= cfg.target_val_accuracy;
    if (reached) result.target_reached_seconds = log.elapsed;
    if (!has_val) {
      result.best_epoch = epoch;
      continue;
    }
    if (vl < best_val - cfg.min_delta) {
      best_val = vl;
      result.best_epoch = epoch;
      result.best_val_loss = vl;
      result.best_val_accuracy = va;
      best = snapshot(model);
      since_best = 0;
      save_checkpoint();
    } else if (cfg.patience > 0 && ++since_best >= cfg.patience) {
      result.early_stopped = true;
      break;
    }
    if (reached) break;
  }
  if (!best.empty()) restore(model, best);
  if (comm) average_running_stats(model, *comm);
  model.refresh_seen_users(view);
  if (comm) gather_user_rows(model, *dp);  // every rank ends with the whole model
  if (!has_val && !cfg.checkpoint_path.empty() && lead) save_model(model, cfg.checkpoint_path, cfg.encoder_id);
  model.eval();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  result.pairs_per_second = double(n) * result.epochs_run / std::max(train_seconds, 1e-9);
  if (comm) result.comm_seconds = comm->comm_seconds() - comm_start;
  return result;
}

}  // namespace plural::core
