// plural: the command-line tool. Every failure is one clear line on stderr and a non-zero exit.
#include <c10/util/Exception.h>

#include <iostream>

#include "apps/commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"plural: pluralistic and personalized preference models on frozen features"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "plural 0.1.0");
  plural::apps::Common common;
  plural::apps::add_import(app, common);
  plural::apps::add_encode(app, common);
  plural::apps::add_embed(app, common);
  plural::apps::add_train(app, common);
  plural::apps::add_eval(app, common);
  plural::apps::add_score(app, common);
  plural::apps::add_adapt(app, common);
  plural::apps::add_query(app, common);
  plural::apps::add_doctor(app, common);
  plural::apps::add_bench(app, common);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const plural::ValueError& e) {
    std::cerr << "plural: error: " << e.what() << "\n";
    return 2;
  } catch (const plural::IoError& e) {
    std::cerr << "plural: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "plural: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "plural: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
