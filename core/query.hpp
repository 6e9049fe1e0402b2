#pragma once
// Query scorers available to every family. Model-specific scorers (Laplace/BALD for PAL, MI for VPL) register
// themselves from their own folders.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/model.hpp"

namespace plural::core {

/// Uniform random scores: the control every active-learning curve is compared against.
class RandomQueryScorer : public QueryScorer {
 public:
  explicit RandomQueryScorer(uint64_t seed = 0) : seed_(seed) {}
  std::string name() const override { return "random"; }
  torch::Tensor score(RewardModel& model, const UserState& state, const PairBatch& candidates) const override;

 private:
  uint64_t seed_;
};

using QueryScorerFactory = std::function<std::unique_ptr<QueryScorer>(uint64_t seed)>;
bool register_query_scorer(const std::string& name, QueryScorerFactory factory, const std::string& help);
std::unique_ptr<QueryScorer> make_query_scorer(const std::string& name, uint64_t seed = 0);
std::map<std::string, std::string> query_scorer_names();

}  // namespace plural::core
