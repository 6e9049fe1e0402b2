// plural: the command-line tool. Every failure is one clear line on stderr and a non-zero exit: 2 for a usage error or
// bad input (the command line, a file's contents), 1 for everything else (I/O, a corrupt file, the machine). The
// README lists them.
#include "apps/commands.hpp"
#include "apps/usage.hpp"
#include "core/session/builtin_families.hpp"

int main(int argc, char** argv) {
  CLI::App app{"plural: pluralistic and personalized preference models on frozen features"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "plural 0.1.0");
  plural::core::register_builtin_families();
  plural::apps::default_models_dir();
  plural::apps::Common common;
  plural::apps::add_import(app, common);
  plural::apps::add_export(app, common);
  plural::apps::add_encode(app, common);
  plural::apps::add_embed(app, common);
  plural::apps::add_train(app, common);
  plural::apps::add_eval(app, common);
  plural::apps::add_score(app, common);
  plural::apps::add_adapt(app, common);
  plural::apps::add_query(app, common);
  plural::apps::add_serve(app, common);
  plural::apps::add_doctor(app, common);
  return plural::apps::run_cli(app, "plural", argc, argv);
}
