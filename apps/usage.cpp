#include "apps/usage.hpp"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cctype>
#include <iostream>

#include "core/base/error.hpp"

namespace plural::apps {

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> verb_names(const CLI::App& app) {
  std::vector<std::string> out;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) out.push_back(sub->get_name());
  return out;
}

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> out;
  for (const auto* opt : app.get_options()) {
    for (const auto& n : opt->get_lnames()) out.push_back("--" + n);
    for (const auto& n : opt->get_snames()) out.push_back("-" + n);
  }
  return out;
}

std::string command_path(const CLI::App& app) {
  std::string path;
  const CLI::App* a = &app;
  for (; a->get_parent(); a = a->get_parent()) path = " " + a->get_name() + path;
  return (a->get_name().empty() ? "plural" : a->get_name()) + path;
}

std::string suggestion(const std::string& word, const std::vector<std::string>& known) {
  std::string best = closest(word, known);
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

// "-q", "--epochs", "--lr=3": as CLI11 reads options. "-1", "-.5" and "- a bullet" are values.
bool looks_like_option(const std::string& a) {
  auto alpha = [&](size_t i) { return a.size() > i && std::isalpha(static_cast<unsigned char>(a[i])); };
  return a.size() > 1 && a[0] == '-' && (alpha(1) || (a[1] == '-' && alpha(2)));
}
}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

std::string unknown_word(const CLI::App& app, int argc, char** argv) {
  const CLI::App* cur = &app;
  int values_pending = 0;  // words the last option still takes as its values
  const CLI::Option* pending = nullptr;
  // CLI11 reads "-1" into an unsigned option as 2^64 − 1 (strtoull): a negative seed or count is refused here.
  auto negative_unsigned = [&](const CLI::Option* opt, const std::string& value) {
    return opt->get_type_name() == "UINT" && !value.empty() && value[0] == '-';
  };
  auto not_negative = [&](const CLI::App& in, const CLI::Option* opt, const std::string& value) {
    return command_path(in) + ": " + opt->get_name() + " must be a non-negative whole number, got " + value;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (looks_like_option(a)) {
      values_pending = 0;
      std::string name = a[1] == '-' ? a.substr(0, a.find('=')) : a.substr(0, 2);
      if (name == "-h" || name == "--help" || name == "--help-all" || name == "--version") continue;
      const CLI::Option* opt = cur->get_option_no_throw(name);
      if (!opt)
        return command_path(*cur) + ": unknown option '" + name + "'" + suggestion(name, option_names(*cur)) +
               "; see '" + command_path(*cur) + " --help'";
      const size_t eq = a.find('=');
      if (a[1] == '-' && eq != std::string::npos && negative_unsigned(opt, a.substr(eq + 1)))
        return not_negative(*cur, opt, a.substr(eq + 1));
      bool attached = eq != std::string::npos || (a[1] != '-' && a.size() > 2);
      if (opt->get_items_expected_max() > 0 && !attached) {
        values_pending = opt->get_items_expected_max() > 1 ? argc : 1;
        pending = opt;
      }
      continue;
    }
    if (values_pending > 0) {
      --values_pending;
      if (negative_unsigned(pending, a)) return not_negative(*cur, pending, a);
      continue;
    }
    const CLI::App* sub = nullptr;
    for (const auto* s : cur->get_subcommands([](const CLI::App*) { return true; }))
      if (s->check_name(a)) sub = s;
    if (sub) {
      cur = sub;
      continue;
    }
    const bool takes_positionals = !cur->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty();
    if (!takes_positionals && !verb_names(*cur).empty())
      return command_path(*cur) + ": unknown command '" + a + "'" + suggestion(a, verb_names(*cur)) + "; see '" +
             command_path(*cur) + " --help'";
  }
  return "";
}

int run_cli(CLI::App& app, const char* tool, int argc, char** argv) {
  auto fail = [tool](int code, const std::string& what) {
    std::cerr << tool << ": error: " << what << "\n";
    return code;
  };
  if (std::string bad = unknown_word(app, argc, argv); !bad.empty()) return fail(2, bad);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(2, std::string(e.what()) + " (see '" + tool + " --help')");
  } catch (const plural::ValueError& e) {
    return fail(2, e.what());
  } catch (const plural::IoError& e) {
    return fail(1, e.what());
  } catch (const c10::Error& e) {
    return fail(1, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
  return 0;
}

}  // namespace plural::apps
