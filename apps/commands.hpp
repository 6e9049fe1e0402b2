#pragma once
// Subcommands of the `plural` tool; each file registers its own.
#include <torch/types.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "apps/cli_options.hpp"
#include "core/data/data.hpp"
#include "embeddings/feature_cache.hpp"

namespace plural::apps {

/// Each add_* attaches a subcommand to `app`; its callback runs the command.
void add_import(CLI::App& app, Common& common);
void add_encode(CLI::App& app, Common& common);
void add_embed(CLI::App& app, Common& common);
void add_train(CLI::App& app, Common& common);
void add_eval(CLI::App& app, Common& common);
void add_score(CLI::App& app, Common& common);
void add_adapt(CLI::App& app, Common& common);
void add_doctor(CLI::App& app, Common& common);
void add_query(CLI::App& app, Common& common);

/// Features of `texts` from the cache. With an encoder spec, texts the cache lacks are encoded first; its id must
/// be the model's when a model is given (encoder_id non-empty). *used_id receives the id the features belong to.
torch::Tensor cached_features(core::FeatureCache& cache, const std::string& encoder_spec, const std::string& encoder_id,
                              const std::vector<std::string>& texts, std::string* used_id = nullptr);

/// A user's answered comparisons in `data` (all but her test split), for `cmd` adapting her. `user` empty picks the
/// file's only user and is set to her id; errors name `path`.
std::vector<size_t> user_answers(const core::PreferenceData& data, std::string& user, const std::string& path,
                                 const char* cmd);

}  // namespace plural::apps
