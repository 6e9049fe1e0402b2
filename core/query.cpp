#include "core/query.hpp"

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/hash.hpp"

namespace plural::core {

torch::Tensor RandomQueryScorer::score(RewardModel&, const UserState& state, const PairBatch& candidates) const {
  PLURAL_CHECK(candidates.label.defined() && candidates.size() > 0, "query: the candidate pool is empty");
  auto gen = at::detail::createCPUGenerator(seed_ ^ hash64(state.user_id));
  return torch::rand({candidates.size()}, gen);
}

namespace {
struct Entry {
  QueryScorerFactory factory;
  std::string help;
};
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}
const bool registered = register_query_scorer(
    "random", [](uint64_t seed) { return std::make_unique<RandomQueryScorer>(seed); }, "uniform random (control)");
}  // namespace

bool register_query_scorer(const std::string& name, QueryScorerFactory factory, const std::string& help) {
  registry()[name] = {std::move(factory), help};
  return true;
}

std::unique_ptr<QueryScorer> make_query_scorer(const std::string& name, uint64_t seed) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string names;
    for (const auto& kv : registry()) names += (names.empty() ? "" : ", ") + kv.first;
    throw ValueError(detail::cat("unknown query scorer '", name, "' (known: ", names, ")"));
  }
  return it->second.factory(seed);
}

std::map<std::string, std::string> query_scorer_names() {
  std::map<std::string, std::string> out;
  for (const auto& kv : registry()) out[kv.first] = kv.second.help;
  return out;
}

}  // namespace plural::core
