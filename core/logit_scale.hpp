#pragma once
// Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", 2017) folded into a trained model.
// Training fits the shared logit scale to the train pairs, so models come out over-confident (PAL-B on Persona-K:
// the val NLL is lowest at T ≈ 1.5 for seen and new users alike). A family whose every logit is proportional to one
// of its weights (PAL-B's τ, the last layer of an MLP, ...) divides them by T in place: adapters, query scorers,
// rewards and saved files then need nothing new.
namespace plural::core {

class LogitScalable {
 public:
  virtual ~LogitScalable() = default;
  /// Multiplies every logit and reward the model gives, for seen and new users alike, by `factor` > 0. Returns
  /// false, changing nothing, when this model's configuration has no such weight (e.g. a residual projector).
  virtual bool scale_logits(double factor) = 0;
};

}  // namespace plural::core
