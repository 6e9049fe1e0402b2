#include "core/trainer.hpp"

#include <torch/torch.h>

#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/random.hpp"
#include "core/support.hpp"

namespace plural::core {

void TrainConfig::validate() const {
  get_loss(loss);
  loss_options.validate();
  PLURAL_CHECK(lr > 0 && user_lr > 0, "train: learning rates must be > 0, got lr=", lr, " user_lr=", user_lr);
  PLURAL_CHECK(weight_decay >= 0 && user_weight_decay >= 0, "train: weight decay must be >= 0");
  PLURAL_CHECK(batch_size >= 1, "train: batch_size must be >= 1, got ", batch_size);
  PLURAL_CHECK(epochs >= 1, "train: epochs must be >= 1, got ", epochs);
  PLURAL_CHECK(patience >= 0, "train: patience must be >= 0, got ", patience);
  PLURAL_CHECK(max_grad_norm >= 0, "train: max_grad_norm must be >= 0");
  for (const auto& [name, v] : group_lr) PLURAL_CHECK(v > 0, "train: learning rate of group '", name, "' must be > 0");
  PLURAL_CHECK(target_val_accuracy >= 0 && target_val_accuracy <= 1, "train: target_val_accuracy must be in [0, 1]");
}

std::pair<double, double> evaluate_loss(RewardModel& model, const DatasetView& view, const std::vector<size_t>& rows,
                                        const std::string& loss, const LossOptions& options) {
  if (rows.empty()) return {std::nan(""), std::nan("")};
  torch::NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  const auto& fn = get_loss(loss);
  double loss_sum = 0, weight_sum = 0, correct = 0, strict = 0;
  const size_t chunk = 8192;
  for (size_t i = 0; i < rows.size(); i += chunk) {
    std::vector<size_t> part(rows.begin() + i, rows.begin() + std::min(rows.size(), i + chunk));
    auto b = view.batch(part);
    auto z = model.logits(b);
    double w = b.weight.sum().item<double>();
    loss_sum += fn(z, b.label, b.weight, options).item<double>() * w;
    weight_sum += w;
    auto is_strict = b.label != 0.5;
    correct += ((z > 0) == (b.label > 0.5)).logical_and(is_strict).sum().item<double>();
    strict += is_strict.sum().item<double>();
  }
  model.train(was_training);
  return {loss_sum / std::max(weight_sum, 1e-12), strict > 0 ? correct / strict : std::nan("")};
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

TrainResult train(RewardModel& model, DatasetView& view, const TrainConfig& cfg) {
  cfg.validate();
  view.bind(model);
  torch::manual_seed(cfg.seed);
  Rng rng(cfg.seed ^ 0x5eedULL);
  TrainResult result;
  std::vector<size_t> train_rows = view.rows(Split::train, true), val_rows = view.rows(Split::val, true);
  PLURAL_CHECK(!train_rows.empty(), view.data().source, ": no train comparisons for seen users");
  result.train_pairs = static_cast<int64_t>(train_rows.size());
  result.val_pairs = static_cast<int64_t>(val_rows.size());

  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (auto& [name, params] : model.param_groups()) {
    if (params.empty()) continue;
    bool user = name == "user";
    auto lr = cfg.group_lr.count(name) ? cfg.group_lr.at(name) : user ? cfg.user_lr : cfg.lr;
    auto opts = std::make_unique<torch::optim::AdamWOptions>(lr);
    opts->weight_decay(user ? cfg.user_weight_decay : cfg.weight_decay);
    groups.emplace_back(params, std::move(opts));
  }
  torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  const auto& loss_fn = get_loss(cfg.loss);
  // Families that read a user's own comparisons get support sets from the same users' train comparisons.
  const auto support = model.support_range();
  std::unique_ptr<SupportSampler> sampler;
  if (support.second > 0) sampler = std::make_unique<SupportSampler>(view, train_rows);

  std::ofstream metrics;
  if (!cfg.metrics_path.empty()) {
    metrics.open(cfg.metrics_path, std::ios::app);
    PLURAL_CHECK(metrics.good(), "train: cannot write metrics log '", cfg.metrics_path, "'");
  }

  Snapshot best;
  double best_val = std::numeric_limits<double>::infinity();
  int since_best = 0;
  auto t_start = std::chrono::steady_clock::now();
  double train_seconds = 0;
  std::vector<int64_t> order(train_rows.begin(), train_rows.end());
  const auto n = static_cast<int64_t>(order.size());
  const int64_t steps = (n + cfg.batch_size - 1) / cfg.batch_size;
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    model.train();
    rng.shuffle(order);
    auto perm = torch::tensor(order, torch::kInt64);
    double loss_sum = 0;
    Progress bar("epoch " + std::to_string(epoch), steps, cfg.progress);
    for (int64_t s = 0; s < steps; ++s) {
      auto rows = perm.slice(0, s * cfg.batch_size, std::min(n, (s + 1) * cfg.batch_size));
      auto batch = view.batch(rows);
      if (sampler) sampler->attach(batch, rows, support.first, support.second, rng);
      optimizer.zero_grad();
      // logits before regularizer: a family's regularizer may read what its forward pass just computed (VPL's KL).
      auto data_loss = loss_fn(model.logits(batch), batch.label, batch.weight, cfg.loss_options);
      auto loss = data_loss + model.regularizer(batch);
      loss.backward();
      if (cfg.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(model.parameters(), cfg.max_grad_norm);
      optimizer.step();
      loss_sum += loss.item<double>() * rows.size(0);
      if (s % 16 == 0) bar.update(s + 1);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_seconds += secs;
    EpochLog log;
    log.epoch = epoch;
    log.train_loss = loss_sum / n;
    log.seconds = secs;
    log.pairs_per_second = n / std::max(secs, 1e-9);
    model.refresh_seen_users(view);
    auto [vl, va] = evaluate_loss(model, view, val_rows, cfg.loss, cfg.loss_options);
    log.val_loss = vl;
    log.val_accuracy = va;
    log.diagnostics = model.diagnostics(view);
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
    if (metrics.is_open()) {
      nlohmann::json j = {{"epoch", epoch},          {"train_loss", log.train_loss},
                          {"val_loss", val_rows.empty() ? nlohmann::json() : nlohmann::json(vl)},
                          {"val_accuracy", val_rows.empty() ? nlohmann::json() : nlohmann::json(va)},
                          {"seconds", secs},         {"pairs_per_second", log.pairs_per_second},
                          {"family", model.family()}};
      for (const auto& [name, v] : log.diagnostics) j[name] = v;
      metrics << j.dump() << "\n";
      metrics.flush();
    }
    bool reached = cfg.target_val_accuracy > 0 && !val_rows.empty() && va >= cfg.target_val_accuracy;
    if (reached) result.target_reached_seconds = log.elapsed;
    if (val_rows.empty()) {
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
      if (!cfg.checkpoint_path.empty()) save_model(model, cfg.checkpoint_path, cfg.encoder_id);
    } else if (cfg.patience > 0 && ++since_best >= cfg.patience) {
      result.early_stopped = true;
      break;
    }
    if (reached) break;
  }
  if (!best.empty()) restore(model, best);
  model.refresh_seen_users(view);
  if (val_rows.empty() && !cfg.checkpoint_path.empty()) save_model(model, cfg.checkpoint_path, cfg.encoder_id);
  model.eval();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  result.pairs_per_second = double(n) * result.epochs_run / std::max(train_seconds, 1e-9);
  return result;
}

}  // namespace plural::core
