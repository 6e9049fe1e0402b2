#include "core/query.hpp"

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/registry.hpp"

namespace plural::core {

torch::Tensor RandomQueryScorer::score(RewardModel&, const UserState& state, const PairBatch& candidates) const {
  PLURAL_CHECK(candidates.label.defined() && candidates.size() > 0, "query: the candidate pool is empty");
  auto gen = at::detail::createCPUGenerator(seed_ ^ hash64(state.user_id));
  return torch::rand({candidates.size()}, gen);
}

namespace {
Registry<QueryScorerFactory>& registry() {
  static Registry<QueryScorerFactory> r("query scorer");
  return r;
}
const bool registered = register_query_scorer(
    "random", [](uint64_t seed) { return std::make_unique<RandomQueryScorer>(seed); }, "uniform random (control)");
}  // namespace

bool register_query_scorer(const std::string& name, QueryScorerFactory factory, const std::string& help) {
  registry().add(name, std::move(factory), help);
  return true;
}

std::unique_ptr<QueryScorer> make_query_scorer(const std::string& name, uint64_t seed) {
  return registry().get(name)(seed);
}

std::map<std::string, std::string> query_scorer_names() { return registry().help(); }

}  // namespace plural::core
