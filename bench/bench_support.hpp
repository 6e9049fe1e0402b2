#pragma once
// Shared pieces of `plural-bench`: the bench's feature cache, training a family with its defaults, messages.
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/data/data.hpp"
#include "core/data/persona_k.hpp"
#include "core/dataset_view.hpp"
#include "core/model.hpp"
#include "core/train/trainer.hpp"

namespace plural::bench {

struct BenchSetup {
  std::string cache = "out/bench/cache.h5";  ///< features are encoded once and reused by every bench run
  std::string encoder = "minilm";
  int epochs = 0;  ///< 0: each family's default
  uint64_t seed = 0;
  bool json = false;  ///< one JSON object on stdout instead of tables
};

/// Features [texts, D] of `data`, encoding the texts the bench cache lacks.
torch::Tensor bench_features(const BenchSetup& setup, const core::PreferenceData& data,
                             std::string* encoder_id = nullptr);

/// Persona-K with the generator's defaults (seed = setup.seed, K* = k_star) and its features.
struct PersonaBenchData {
  core::PersonaK persona;
  torch::Tensor features;
  std::string encoder_id;
};
/// support_pairs > 0 overrides the generator's few-shot pool per unseen user (the active-learning bench's pool);
/// rationales: every comparison carries the generator's rationale (their texts are encoded too); unseen_users > 0
/// overrides the generator's 40 (drawn after the seen users, whose data stay the same).
PersonaBenchData persona_bench_data(int k_star, const BenchSetup& setup, int support_pairs = 0, bool rationales = false,
                                    int unseen_users = 0);

struct Trained {
  std::shared_ptr<core::RewardModel> model;
  core::TrainResult result;
};
/// Trains `family` (k prototypes for the mixture families; ignored by others) with its default TrainConfig.
/// model_config: JSON keys laid over the family's default model config (e.g. {"variant": "f(Pw)"}); loss: a
/// registered loss instead of the family's default; adjust: changes to the family's default TrainConfig.
Trained train_family(const std::string& family, int k, core::DatasetView& view, const BenchSetup& setup,
                     const std::string& model_config = "", const std::string& loss = "",
                     const std::function<void(core::TrainConfig&)>& adjust = {});

/// Accuracy on the strict test comparisons of the users the model was trained on.
double seen_test_accuracy(core::RewardModel& model, const core::DatasetView& view);

/// A progress line on stderr (stdout carries only the table or the JSON).
void bench_note(const std::string& line);

}  // namespace plural::bench
