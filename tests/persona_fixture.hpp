#pragma once
// A small Persona-K with features that carry each statement's behaviour × stance exactly (plus noise), so model
// tests learn in seconds; see tests/core/data/test_datasets.cpp for why MiniLM-scale data would be too slow here.
#include <torch/torch.h>

#include "core/data/persona_k.hpp"
#include "tests/helpers.hpp"

namespace plural::test {

struct PersonaFixture {
  core::PersonaK pk;
  torch::Tensor features;
};

/// alpha = 0: one planted prototype per user, so the cluster structure is exact.
inline PersonaFixture persona_fixture(uint64_t seed, int k_star, int seen_users = 60, int unseen_users = 10,
                                      int statements_per_behavior = 120, int train_pairs = 100) {
  core::PersonaKConfig c;
  c.statements_path = source_dir() + "/data/persona/statements.tsv.gz";
  c.seed = seed;
  c.prototypes = k_star;
  c.alpha = 0;
  c.seen_users = seen_users;
  c.unseen_users = unseen_users;
  c.statements_per_behavior = statements_per_behavior;
  c.train_pairs = train_pairs;
  PersonaFixture f{core::generate_persona_k(c), {}};
  torch::manual_seed(seed);
  const auto T = static_cast<int64_t>(f.pk.data.texts.size()), D = static_cast<int64_t>(f.pk.behaviors.size());
  f.features = 0.1 * torch::randn({T, D + 8});
  for (int64_t t = 0; t < T; ++t)
    if (f.pk.text_behavior[t] >= 0) f.features[t][f.pk.text_behavior[t]] += f.pk.text_stance[t];
  return f;
}

}  // namespace plural::test
