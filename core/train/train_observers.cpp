#include "core/train/train_observers.hpp"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/model.hpp"
#include "core/train/trainer.hpp"

namespace plural::core {

void ProgressObserver::epoch_started(int epoch, int64_t steps) {
  bar_ = std::make_unique<Progress>("epoch " + std::to_string(epoch), steps, enabled_);
}

void ProgressObserver::step_done(int64_t step) {
  if (step % 16 == 0) bar_->update(step + 1);
}

bool ProgressObserver::epoch_done(const EpochLog& log) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "loss %.4f val %.4f acc %.3f", log.train_loss, log.val_loss, log.val_accuracy);
  std::string suffix = buf;
  for (const auto& [name, v] : log.diagnostics)  // per-dimension entries ("kl/d3") stay in the metrics log
    if (name.find('/') == std::string::npos) {
      std::snprintf(buf, sizeof buf, " %s %.3g", name.c_str(), v);
      suffix += buf;
    }
  bar_->finish(suffix);
  bar_.reset();
  return false;
}

MetricsObserver::MetricsObserver(const std::string& path, std::string family, int world_size, int64_t val_pairs,
                                 int64_t val_carved)
    : log_(path), family_(std::move(family)), world_size_(world_size), val_pairs_(val_pairs), val_carved_(val_carved) {}

bool MetricsObserver::epoch_done(const EpochLog& log) {
  if (!log_.enabled()) return false;
  auto or_null = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };
  nlohmann::json j = {{"epoch", log.epoch},
                      {"train_loss", log.train_loss},
                      {"val_loss", or_null(log.val_loss)},
                      {"val_accuracy", or_null(log.val_accuracy)},
                      {"seconds", log.seconds},
                      {"pairs_per_second", log.pairs_per_second},
                      {"family", family_},
                      {"val_pairs", val_pairs_},
                      {"val_carved", val_carved_}};
  if (world_size_ > 0) j["world_size"] = world_size_;
  for (const auto& [name, v] : log.diagnostics) j[name] = v;
  log_.append(j.dump());
  return false;
}

BestEpoch::BestEpoch(RewardModel& model, const TrainConfig& cfg, bool has_val, bool writes, TrainResult& result)
    : model_(model),
      cfg_(cfg),
      has_val_(has_val),
      writes_(writes),
      result_(result),
      best_val_(std::numeric_limits<double>::infinity()) {}

bool BestEpoch::epoch_done(const EpochLog& log) {
  const bool reached = cfg_.target_val_accuracy > 0 && has_val_ && log.val_accuracy >= cfg_.target_val_accuracy;
  if (reached) result_.target_reached_seconds = log.elapsed;
  if (!has_val_) {
    result_.best_epoch = log.epoch;
    return false;
  }
  if (log.val_loss < best_val_ - cfg_.min_delta) {
    best_val_ = log.val_loss;
    result_.best_epoch = log.epoch;
    result_.best_val_loss = log.val_loss;
    result_.best_val_accuracy = log.val_accuracy;
    best_.clear();
    for (auto& p : model_.parameters()) best_.push_back(p.detach().clone());
    for (auto& b : model_.buffers()) best_.push_back(b.detach().clone());
    since_best_ = 0;
    save_checkpoint();
  } else if (cfg_.patience > 0 && ++since_best_ >= cfg_.patience) {
    result_.early_stopped = true;
    return true;
  }
  return reached;
}

void BestEpoch::restore_best() {
  if (best_.empty()) return;
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : model_.parameters()) p.copy_(best_[i++]);
  for (auto& b : model_.buffers()) b.copy_(best_[i++]);
}

void BestEpoch::save_final() {
  if (!has_val_) save_checkpoint();
}

void BestEpoch::save_checkpoint() {
  if (!cfg_.checkpoint_path.empty() && writes_) save_model(model_, cfg_.checkpoint_path, cfg_.encoder_id);
}

}  // namespace plural::core
