#pragma once
// Subcommands of the `plural` tool; each file registers its own.
#include <CLI/CLI.hpp>
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "core/data.hpp"
#include "core/feature_cache.hpp"

namespace plural::apps {

/// Options every command shares.
struct Common {
  int threads = 0;  ///< 0 = all cores
};

/// Each add_* attaches a subcommand to `app`; its callback runs the command.
void add_import(CLI::App& app, Common& common);
void add_encode(CLI::App& app, Common& common);
void add_embed(CLI::App& app, Common& common);
void add_train(CLI::App& app, Common& common);
void add_eval(CLI::App& app, Common& common);
void add_score(CLI::App& app, Common& common);
void add_adapt(CLI::App& app, Common& common);
void add_doctor(CLI::App& app, Common& common);
void add_bench(CLI::App& app, Common& common);
void add_query(CLI::App& app, Common& common);

/// Features of `texts` from the cache. With an encoder spec, texts the cache lacks are encoded first; its id must
/// be the model's when a model is given (encoder_id non-empty). *used_id receives the id the features belong to.
torch::Tensor cached_features(core::FeatureCache& cache, const std::string& encoder_spec, const std::string& encoder_id,
                              const std::vector<std::string>& texts, std::string* used_id = nullptr);

/// A user's answered comparisons in `data` (all but her test split), for `cmd` adapting her. `user` empty picks the
/// file's only user and is set to her id; errors name `path`.
std::vector<size_t> user_answers(const core::PreferenceData& data, std::string& user, const std::string& path,
                                 const char* cmd);

/// Bounds every count a list option may hold (shots, K, pairs, batch sizes): sizes are checked before allocation.
constexpr int64_t kMaxListValue = 1000000;
/// Parses "0,1,2,5" into integers, each in [lo, hi]; throws ValueError naming `option` otherwise.
std::vector<int64_t> parse_int_list(const std::string& s, const std::string& option, int64_t lo = 0,
                                    int64_t hi = kMaxListValue);
/// Splits "a,b,c" (empty items dropped).
std::vector<std::string> split_list(const std::string& s);

}  // namespace plural::apps
