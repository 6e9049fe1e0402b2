#pragma once
// Subcommands of the `plural` tool; each file registers its own.
#include <torch/types.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "apps/cli_options.hpp"
#include "core/data/data.hpp"
#include "core/session/personalizer.hpp"
#include "embeddings/feature_cache.hpp"

namespace plural::apps {

/// Each add_* attaches a subcommand to `app`; its callback runs the command.
void add_import(CLI::App& app, Common& common);
void add_export(CLI::App& app, Common& common);
void add_encode(CLI::App& app, Common& common);
void add_embed(CLI::App& app, Common& common);
void add_train(CLI::App& app, Common& common);
void add_eval(CLI::App& app, Common& common);
void add_score(CLI::App& app, Common& common);
void add_adapt(CLI::App& app, Common& common);
void add_doctor(CLI::App& app, Common& common);
void add_query(CLI::App& app, Common& common);
void add_serve(CLI::App& app, Common& common);

/// Session options for a verb's --encoder: texts the cache lacks are encoded only with an encoder the user named.
core::Personalizer::Options cli_session_options(const std::string& encoder_spec);

}  // namespace plural::apps
