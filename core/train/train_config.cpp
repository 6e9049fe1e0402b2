#include "core/train/train_config.hpp"

#include <cmath>

#include "core/base/error.hpp"

namespace plural::core {

const ConfigSchema<TrainConfig>& train_config_schema() {
  static const ConfigSchema<TrainConfig> schema = [] {
    using C = TrainConfig;
    ConfigSchema<C> s("train");
    s.field("loss", &C::loss, "the preference loss (bt, margin, label-smoothing, hinge, ipo, ...)")
        .field(
            "margin", [](C& c) -> double& { return c.loss_options.margin; }, "the margin loss's margin")
        .field(
            "smoothing", [](C& c) -> double& { return c.loss_options.smoothing; }, "label smoothing's epsilon")
        .field(
            "hinge_margin", [](C& c) -> double& { return c.loss_options.hinge_margin; }, "the hinge loss's margin")
        .field(
            "ipo_tau", [](C& c) -> double& { return c.loss_options.ipo_tau; }, "IPO's tau")
        .field("lr", &C::lr, "learning rate of the shared parameters", 0, kMaxLearningRate)
        .exclusive_min()
        .field("user_lr", &C::user_lr, "learning rate of the per-user parameters", 0, kMaxLearningRate)
        .exclusive_min()
        .field("weight_decay", &C::weight_decay, "AdamW weight decay of the shared parameters", 0, 10)
        .field("user_weight_decay", &C::user_weight_decay, "AdamW weight decay of the per-user parameters", 0, 10)
        .field("group_lr", &C::group_lr, "learning rates of named parameter groups")
        .field("batch_size", &C::batch_size, "comparisons per step", 1, double(int64_t{1} << 24))
        .field("epochs", &C::epochs, "the most epochs to train", 1, 1e6)
        .field("patience", &C::patience, "epochs without validation improvement before stopping (0 = never)", 0, 1e6)
        .field("min_delta", &C::min_delta, "a smaller validation-loss improvement does not count", 0, 1e6)
        .field("max_grad_norm", &C::max_grad_norm, "> 0: clip the global gradient norm", 0, 1e12)
        .field("seed", &C::seed, "seeds the initial weights and the batch order")
        .field("target_val_accuracy", &C::target_val_accuracy, "> 0: stop when validation accuracy reaches it", 0, 1)
        .field("rationale_weight", &C::rationale_weight, "weight of the rationale loss", 0, 1e6)
        .field("rationale_temperature", &C::rationale_temperature, "the rationale loss's temperature", 0, 1e3)
        .exclusive_min()
        .field("spo_weight", &C::spo_weight, "weight of SPO's preference-degree loss", 0, 1e6)
        .field("tune_prior", &C::tune_prior,
               "calibrate on the validation pairs after training: fit the logit temperature, choose a new user's "
               "prior and refit seen users' states when that predicts better");
    return s;
  }();
  return schema;
}

void TrainConfig::validate() const {
  get_loss(loss);
  loss_options.validate();
  train_config_schema().validate(*this);
  for (const auto& [name, v] : group_lr)
    PLURAL_CHECK(std::isfinite(v) && v > 0 && v <= kMaxLearningRate, "train: the learning rate of group '", name,
                 "' must be in (0, ", kMaxLearningRate, "], got ", v);
}

}  // namespace plural::core
