#include "bench/bench_support.hpp"

#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/train/fit.hpp"
#include "core/train/train_defaults.hpp"
#include "embeddings/encode.hpp"
#include "embeddings/feature_cache.hpp"

namespace plural::bench {

using namespace plural::core;

torch::Tensor bench_features(const BenchSetup& setup, const PreferenceData& data, std::string* encoder_id) {
  auto parent = std::filesystem::path(setup.cache).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  FeatureCache cache(setup.cache);
  auto enc = make_encoder(setup.encoder);
  if (encoder_id) *encoder_id = enc->id();
  EncodeOptions eo;
  eo.progress = false;
  return dataset_features(cache, enc->id(), data, enc.get(), eo);
}

PersonaBenchData persona_bench_data(int k_star, const BenchSetup& setup, int support_pairs, bool rationales,
                                    int unseen_users) {
  PersonaKConfig pc;
  if (unseen_users > 0) pc.unseen_users = unseen_users;  // drawn after the seen users: their data stay the same
  pc.rationales = rationales;
  if (support_pairs > 0) pc.support_pairs = support_pairs;
  pc.prototypes = k_star;
  pc.seed = setup.seed;
  PersonaBenchData d;
  d.persona = generate_persona_k(pc);
  d.features = bench_features(setup, d.persona.data, &d.encoder_id);
  return d;
}

Trained train_family(const std::string& family, int k, DatasetView& view, const BenchSetup& setup,
                     const std::string& model_config, const std::string& loss,
                     const std::function<void(TrainConfig&)>& adjust) {
  TrainConfig tc = fit_config(family, [&](TrainConfig& t) {
    if (setup.epochs > 0) t.epochs = setup.epochs;
    if (!loss.empty()) t.loss = loss;
    t.seed = setup.seed;
    t.progress = false;
    if (adjust) adjust(t);
  });
  std::string config = default_model_config(family, k);
  if (!model_config.empty()) {
    auto merged = nlohmann::json::parse(config);
    nlohmann::json extra;
    try {
      extra = nlohmann::json::parse(model_config);
    } catch (const nlohmann::json::exception& e) {
      throw ValueError("--model-config: not JSON: " + std::string(e.what()));
    }
    PLURAL_CHECK(extra.is_object(), "--model-config: expected a JSON object, got ", model_config);
    merged.update(extra);
    config = merged.dump();
  }
  auto fitted = fit_family(family, view, config, tc);
  return Trained{fitted.model, fitted.result};
}

double seen_test_accuracy(RewardModel& model, const DatasetView& view) {
  return evaluate_loss(model, view, view.rows(Split::test, true), "bt", LossOptions{}).second;
}

void bench_note(const std::string& line) { std::cerr << "[bench] " << line << std::endl; }

}  // namespace plural::bench
