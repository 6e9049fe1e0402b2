#pragma once
// A family whose new users start from a Gaussian prior lets the data choose its width (empirical Bayes by
// validation, core/train/prior_tuning.hpp): a prior tuned on Persona-K's 384-d features is far too wide or too
// narrow for 2-d item features, and a wrong width is what makes a model accurate but over-confident.
#include <cstdint>
#include <vector>

#include "core/model.hpp"

namespace plural::core {

class TunablePrior {
 public:
  virtual ~TunablePrior() = default;
  /// Called once before the grid is tried: a prior estimated from the seen users' trained states is fixed here, so
  /// refitting those states afterwards does not move it.
  virtual void begin_tuning() {}
  /// A prior of several parts (a mixture's θ and a deviation δ) is tuned one part after another, each on its own
  /// grid with the parts before it kept at their best; the calls below refer to the selected part. Default: one.
  virtual int prior_parts() const { return 1; }
  virtual void select_prior_part(int part) {}
  /// The prior variances worth trying for this trained model, in its own units.
  virtual std::vector<double> prior_grid() const = 0;
  virtual double prior_variance() const = 0;
  /// Sets the prior a new user's adaptation starts from (saved with the model through its config).
  virtual void set_prior_variance(double v) = 0;
  /// Replaces seen user `row`'s trained state by `adapted`, her posterior from her own train pairs.
  virtual void set_seen_state(int64_t row, const UserState& adapted) = 0;
};

}  // namespace plural::core
