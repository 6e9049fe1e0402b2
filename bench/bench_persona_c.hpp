#pragma once
// `plural-bench persona-c`: does the context matter? Context models trained on Persona-C (Persona-K whose
// comparisons carry a plain-words description of the user's prototype, some prototypes held out), scored with the
// true context, no context, a wrong context, and zero-shot on held-out contexts; BT as the context-free reference.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"

namespace plural::bench {

struct PersonaCBench {
  int k_star = 4;
  int held_out = 1;  ///< prototypes whose contexts no seen user has
  std::vector<std::string> models = {"context:film", "context:concat", "bt"};
};

nlohmann::json persona_c_bench(const PersonaCBench& bench, const BenchSetup& setup);

}  // namespace plural::bench
