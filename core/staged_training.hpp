#pragma once
// A family whose parts must be learned in order trains in stages: hierarchical PAL learns its mixture first and
// the users' deviations from it afterwards (trained together from the start, the deviations fit the users before
// the mixture broke its symmetry, and early stopping caught it there: Persona-K K* = 3 seen accuracy 0.845 against
// PAL-B's 0.884). fit_family (core/train/fit.hpp) runs one training per stage, each from the last one's best weights.
namespace plural::core {

class StagedTraining {
 public:
  virtual ~StagedTraining() = default;
  virtual int training_stages() const = 0;
  /// Called before stage `stage` (0-based) trains, and with training_stages() after the last: the model whole again.
  virtual void begin_stage(int stage) = 0;
};

}  // namespace plural::core
